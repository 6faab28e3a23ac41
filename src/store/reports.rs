//! The queries of pre-reports and reports (PRODUCT.md §8, §11), kept together.

use chrono::{DateTime, Utc};

use super::rows::{TICKET_COLUMNS, from_ms, to_ms};
use super::{Result, Store, Tx};
use crate::ticket::Ticket;

impl Store {
    /// Every ticket that may concern the month `[start, end)`: received
    /// before its end and not closed before its start.
    pub async fn assessment_tickets(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Vec<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE received_at < $1 AND (closed_at IS NULL OR closed_at >= $2)
             ORDER BY received_at, number"
        ));
        on_pool!(self, |p| {
            sqlx::query(sql)
                .bind(to_ms(end))
                .bind(to_ms(start))
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok(ticket_from_row!(r)))
                .collect::<Result<Vec<_>>>()
        })
    }

    /// Complaints not closed (with a station or not): what the weekly digests list.
    pub async fn open_complaints(&self) -> Result<Vec<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE kind = 'complaint' AND status <> 'closed'
             ORDER BY received_at, number"
        ));
        on_pool!(self, |p| { sqlx::query(sql).fetch_all(p).await?.iter().map(|r| Ok(ticket_from_row!(r))).collect() })
    }
}

impl Tx {
    /// The latest pre-report of `station` about the same service order or
    /// phone filed since `since`: a complaint about it is linked to it.
    pub async fn pre_report_about(
        &mut self,
        station: &str,
        service_order: Option<&str>,
        phone: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<Ticket>> {
        // One lookup per key, as in `open_ticket_about`.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE service_order = $2 AND station = $1 AND kind = 'pre_report' AND received_at >= $4
             UNION ALL
             SELECT {TICKET_COLUMNS} FROM tickets
             WHERE phone = $3 AND station = $1 AND kind = 'pre_report' AND received_at >= $4
             ORDER BY received_at DESC LIMIT 1"
        ));
        on_tx!(self, |c| {
            match sqlx::query(sql)
                .bind(station)
                .bind(service_order)
                .bind(phone)
                .bind(to_ms(since))
                .fetch_optional(&mut *c)
                .await?
            {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// Up to when the schedule `kind` was looked at; `None` before the first time.
    pub async fn report_cursor(&mut self, kind: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar("SELECT checked_until FROM report_cursors WHERE kind = $1")
                .bind(kind)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(at.map(from_ms))
    }

    /// Moves the cursor of `kind` forward to `at` (creating it); never back.
    pub async fn advance_report_cursor(&mut self, kind: &str, at: DateTime<Utc>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO report_cursors (kind, checked_until) VALUES ($1, $2)
                 ON CONFLICT (kind) DO UPDATE SET checked_until = excluded.checked_until
                 WHERE report_cursors.checked_until < excluded.checked_until",
            )
            .bind(kind)
            .bind(to_ms(at))
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Records that report `kind` of `period` goes to `recipient`; `false`
    /// when it was recorded before (by this or another instance): then it
    /// must not be sent.
    pub async fn claim_report(
        &mut self,
        kind: &str,
        period: &str,
        recipient: &str,
        outbox_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let affected = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO reports (kind, period, recipient, outbox_key, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(kind)
            .bind(period)
            .bind(recipient.to_ascii_lowercase())
            .bind(outbox_key)
            .bind(to_ms(now))
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(affected == 1)
    }
}
