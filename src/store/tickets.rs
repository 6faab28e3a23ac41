//! The tickets table: insert, read, lock, update, the per-day counter, the
//! lookups that link a complaint to an earlier one, and what the sweep reads.

use chrono::{DateTime, NaiveDate, Utc};

use super::rows::{TICKET_COLUMNS, opt_ms, to_ms};
use super::{ROWS_PER_STATEMENT, Result, Store, Tx};
use crate::ticket::{Status, Ticket, TicketKind, TicketNo, Urgency};

/// A new ticket, as the desk opens it.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub number: TicketNo,
    pub kind: TicketKind,
    /// `Open` when a station was found, `Unrouted` otherwise.
    pub status: Status,
    pub urgency: Urgency,
    pub station: Option<String>,
    /// Who owns it on the desk's side (the call-center handler, or the
    /// regional manager of a pre-report).
    pub handler: String,
    pub subject: String,
    /// The form's searchable fields, kept in columns for the lookups.
    pub complaint_no: Option<String>,
    pub category: Option<String>,
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub service_order: Option<String>,
    /// The whole form, for templates and the CLI.
    pub fields: serde_json::Value,
    /// The mail that opened it.
    pub source_message_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub pre_reported: bool,
    pub major: bool,
    pub linked_to: Option<TicketNo>,
}

impl NewTicket {
    /// A normal complaint for BJ01 from the demo network's handler, for tests
    /// to change what they are about.
    #[cfg(test)]
    pub fn example(number: TicketNo, received_at: DateTime<Utc>) -> Self {
        Self {
            number,
            kind: TicketKind::Complaint,
            status: Status::Open,
            urgency: Urgency::Normal,
            station: Some("BJ01".into()),
            handler: "liujia@hq.example.test".into(),
            subject: "投诉".into(),
            complaint_no: None,
            category: None,
            customer_name: None,
            phone: None,
            service_order: None,
            fields: serde_json::json!({}),
            source_message_id: None,
            received_at,
            pre_reported: false,
            major: false,
            linked_to: None,
        }
    }

    /// The ticket as stored right after the insert: nothing dispatched,
    /// nothing answered.
    pub(crate) fn into_ticket(self) -> Ticket {
        Ticket {
            number: self.number,
            kind: self.kind,
            status: self.status,
            urgency: self.urgency,
            station: self.station,
            handler: self.handler,
            subject: self.subject,
            fields: self.fields,
            received_at: self.received_at,
            dispatched_at: None,
            reply_due: None,
            escalate_at: None,
            result_due: None,
            close_due: None,
            extension_cap: None,
            first_reply_at: None,
            result_at: None,
            closed_at: None,
            extended: false,
            valid: None,
            pre_reported: self.pre_reported,
            major: self.major,
            linked_to: self.linked_to,
            repeats: 0,
            returned_at: None,
            returns_refused: 0,
            backup_at: None,
        }
    }
}

fn select_one(lock: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1{lock}"))
}

impl Store {
    pub async fn ticket(&self, number: &TicketNo) -> Result<Option<Ticket>> {
        on_pool!(self, |p| {
            match sqlx::query(select_one("")).bind(number.as_str()).fetch_optional(p).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// Tickets whose next reminder or escalation is due by `now`, soonest
    /// first: the sweep touches only these (an index on `next_alert_at`), so
    /// its cost follows the number due, not the number of tickets.
    pub async fn due_tickets(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketNo>> {
        let numbers: Vec<String> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT number FROM tickets WHERE next_alert_at IS NOT NULL AND next_alert_at <= $1
                 ORDER BY next_alert_at LIMIT $2",
            )
            .bind(to_ms(now))
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(numbers.iter().filter_map(|n| TicketNo::parse(n).ok()).collect())
    }

    /// The soonest planned alert of any ticket.
    pub async fn next_alert_at(&self) -> Result<Option<DateTime<Utc>>> {
        // The condition repeats the partial index's: SQLite uses the index
        // only then (else it scans every ticket: 200 ms at a million).
        let at: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar("SELECT MIN(next_alert_at) FROM tickets WHERE next_alert_at IS NOT NULL")
                .fetch_one(p)
                .await?
        });
        Ok(at.map(super::from_ms))
    }
}

impl Tx {
    /// Inserts a new ticket and returns it as stored.
    pub async fn insert_ticket(&mut self, t: NewTicket) -> Result<Ticket> {
        let fields = t.fields.to_string();
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO tickets (number, kind, status, urgency, station, handler, subject,
                    complaint_no, category, customer_name, phone, service_order, fields,
                    source_message_id, received_at, pre_reported, major, linked_to)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            )
            .bind(t.number.as_str())
            .bind(t.kind.as_str())
            .bind(t.status.as_str())
            .bind(t.urgency.as_str())
            .bind(&t.station)
            .bind(&t.handler)
            .bind(&t.subject)
            .bind(&t.complaint_no)
            .bind(&t.category)
            .bind(&t.customer_name)
            .bind(&t.phone)
            .bind(&t.service_order)
            .bind(&fields)
            .bind(&t.source_message_id)
            .bind(to_ms(t.received_at))
            .bind(i64::from(t.pre_reported))
            .bind(i64::from(t.major))
            .bind(t.linked_to.as_ref().map(|l| l.as_str()))
            .execute(&mut *c)
            .await?;
        });
        Ok(t.into_ticket())
    }

    pub async fn ticket(&mut self, number: &TicketNo) -> Result<Option<Ticket>> {
        self.select_ticket(number, false).await
    }

    /// Reads a ticket and keeps others from changing it until this
    /// transaction ends (on SQLite the write transaction already does), so
    /// a reply and an operator's action on the same ticket cannot overwrite
    /// each other.
    pub async fn lock_ticket(&mut self, number: &TicketNo) -> Result<Option<Ticket>> {
        self.select_ticket(number, true).await
    }

    async fn select_ticket(&mut self, number: &TicketNo, lock: bool) -> Result<Option<Ticket>> {
        let lock = if lock && matches!(self, Tx::Postgres(_)) { " FOR UPDATE" } else { "" };
        on_tx!(self, |c| {
            match sqlx::query(select_one(lock)).bind(number.as_str()).fetch_optional(&mut *c).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// The tickets that exist of these numbers, in the order of their
    /// numbers (so that concurrent transactions take row locks in one order).
    pub async fn tickets(&mut self, numbers: &[TicketNo]) -> Result<Vec<Ticket>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        on_tx!(self, |c| {
            let mut q = sqlx::QueryBuilder::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number IN ("));
            let mut list = q.separated(", ");
            for n in numbers {
                list.push_bind(n.as_str());
            }
            q.push(") ORDER BY number");
            tickets_from_rows!(q.build().fetch_all(&mut *c).await?)
        })
    }

    /// Writes back the mutable state of a ticket, and when the sweep should
    /// look at it next (`None`: never).
    pub async fn update_ticket(&mut self, t: &Ticket, next_alert_at: Option<DateTime<Utc>>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE tickets SET status = $1, urgency = $2, station = $3, handler = $4,
                    dispatched_at = $5, reply_due = $6, escalate_at = $7, result_due = $8,
                    close_due = $9, extension_cap = $10, first_reply_at = $11, result_at = $12,
                    closed_at = $13, extended = $14, valid = $15, linked_to = $16, repeats = $17,
                    next_alert_at = $18, returned_at = $19, returns_refused = $20, backup_at = $21
                 WHERE number = $22",
            )
            .bind(t.status.as_str())
            .bind(t.urgency.as_str())
            .bind(&t.station)
            .bind(&t.handler)
            .bind(opt_ms(t.dispatched_at))
            .bind(opt_ms(t.reply_due))
            .bind(opt_ms(t.escalate_at))
            .bind(opt_ms(t.result_due))
            .bind(opt_ms(t.close_due))
            .bind(opt_ms(t.extension_cap))
            .bind(opt_ms(t.first_reply_at))
            .bind(opt_ms(t.result_at))
            .bind(opt_ms(t.closed_at))
            .bind(i64::from(t.extended))
            .bind(t.valid.map(i64::from))
            .bind(t.linked_to.as_ref().map(|l| l.as_str()))
            .bind(t.repeats)
            .bind(opt_ms(next_alert_at))
            .bind(opt_ms(t.returned_at))
            .bind(t.returns_refused)
            .bind(opt_ms(t.backup_at))
            .bind(t.number.as_str())
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// When the sweep should look at each ticket again (`None`: never).
    pub async fn set_next_alerts(&mut self, next: &[(TicketNo, Option<DateTime<Utc>>)]) -> Result<()> {
        for rows in next.chunks(ROWS_PER_STATEMENT) {
            on_tx!(self, |c| {
                let mut q = sqlx::QueryBuilder::new("UPDATE tickets SET next_alert_at = CASE number");
                for (number, at) in rows {
                    q.push(" WHEN ").push_bind(number.as_str()).push(" THEN ").push_bind(opt_ms(*at));
                }
                q.push(" END WHERE number IN (");
                let mut list = q.separated(", ");
                for (number, _) in rows {
                    list.push_bind(number.as_str());
                }
                q.push(")");
                q.build().execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// The next ticket number of `day`; atomic on both backends.
    pub async fn next_ticket_no(&mut self, day: NaiveDate) -> Result<TicketNo> {
        let key = day.format("%Y%m%d").to_string();
        let seq: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO ticket_counters (day, last) VALUES ($1, 1)
                 ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1
                 RETURNING last",
            )
            .bind(&key)
            .fetch_one(&mut *c)
            .await?
        });
        Ok(TicketNo::new(day, seq))
    }

    /// Open tickets of `station` about the same service order or phone: a
    /// new complaint about them is a repeat, not a new case.
    pub async fn open_ticket_about(
        &mut self,
        station: &str,
        service_order: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<Ticket>> {
        self.open_about(TicketKind::Complaint, station, service_order, phone).await
    }

    /// The station's open pre-report about the same service order or phone,
    /// the oldest first: a repeated pre-report is linked to it.
    pub async fn open_pre_report_about(
        &mut self,
        station: &str,
        service_order: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<Ticket>> {
        self.open_about(TicketKind::PreReport, station, service_order, phone).await
    }

    async fn open_about(
        &mut self,
        kind: TicketKind,
        station: &str,
        service_order: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<Ticket>> {
        // One lookup per key (a NULL key matches nothing): with an OR,
        // SQLite would walk every ticket of the station instead.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE service_order = $2 AND station = $1 AND status <> 'closed' AND kind = $4
             UNION ALL
             SELECT {TICKET_COLUMNS} FROM tickets
             WHERE phone = $3 AND station = $1 AND status <> 'closed' AND kind = $4
             ORDER BY received_at LIMIT 1"
        ));
        on_tx!(self, |c| {
            let query = sqlx::query(sql).bind(station).bind(service_order).bind(phone).bind(kind.as_str());
            match query.fetch_optional(&mut *c).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }
}
