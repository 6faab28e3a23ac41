//! Read models for the operator's console, the desk board and the metrics
//! endpoint.

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::rows::{TICKET_COLUMNS, opt_ms, to_ms};
use super::{Result, Store};
use crate::ticket::{Status, Ticket};

/// Which tickets `Store::find_tickets` returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketQuery<'a> {
    /// Only this station's (its code as configured).
    pub station: Option<&'a str>,
    /// Only tickets in this state.
    pub status: Option<Status>,
    /// Only tickets with a deadline missed at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
}

/// A ticket is overdue when a milestone it still owes is past due: the rule
/// of `Ticket::owed` in SQL (a test checks the two agree); `now` names the
/// instant's parameter.
fn overdue_sql(now: &str) -> String {
    format!(
        "(status NOT IN ('closed', 'unrouted', 'returned') AND dispatched_at IS NOT NULL
          AND ((first_reply_at IS NULL AND reply_due <= {now})
               OR (result_at IS NULL AND result_due <= {now}) OR close_due <= {now}))"
    )
}

impl Store {
    /// Tickets matching `q`, newest first.
    pub async fn find_tickets(&self, q: &TicketQuery<'_>) -> Result<Vec<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE ($1 IS NULL OR station = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR {})
             ORDER BY received_at DESC, number DESC",
            overdue_sql("$3")
        ));
        let station = q.station.map(str::to_owned);
        let status = q.status.map(|s| s.as_str().to_owned());
        let overdue_at = opt_ms(q.overdue_at);
        on_pool!(self, |p| {
            tickets_from_rows!(sqlx::query(sql).bind(station).bind(status).bind(overdue_at).fetch_all(p).await?)
        })
    }

    /// Tickets whose number, complaint number, phone or service order is
    /// `term` exactly (any case for the number), newest first, at most 50.
    pub async fn search_tickets(&self, term: &str) -> Result<Vec<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE number = $1 OR complaint_no = $2 OR phone = $2 OR service_order = $2
             ORDER BY received_at DESC, number DESC LIMIT 50"
        ));
        let term = term.trim();
        let number = term.to_uppercase();
        on_pool!(self, |p| {
            tickets_from_rows!(sqlx::query(sql).bind(number).bind(term.to_owned()).fetch_all(p).await?)
        })
    }

    /// Tickets, newest first, optionally of one station and status.
    pub async fn tickets(&self, station: Option<&str>, status: Option<Status>) -> Result<Vec<Ticket>> {
        self.find_tickets(&TicketQuery { station, status, overdue_at: None }).await
    }

    /// How many tickets are in each state (states without tickets absent).
    pub async fn status_counts(&self) -> Result<Vec<(String, i64)>> {
        on_pool!(self, |p| {
            sqlx::query("SELECT status, COUNT(*) AS n FROM tickets GROUP BY status ORDER BY status")
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                .collect()
        })
    }

    /// How many tickets have missed a deadline at `now`.
    pub async fn overdue_count(&self, now: DateTime<Utc>) -> Result<i64> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM tickets WHERE {}", overdue_sql("$1")));
        on_pool!(self, |p| Ok(sqlx::query_scalar(sql).bind(to_ms(now)).fetch_one(p).await?))
    }
}
