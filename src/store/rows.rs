//! Rows to values: time in milliseconds since the epoch (the one time
//! format of both schemas) and the row mappers shared by the tables' files.

use chrono::{DateTime, Utc};

/// Milliseconds since the epoch: the one time format of both schemas.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(super) fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_ms)
}

pub(super) fn split_recipients(s: &str) -> Vec<String> {
    s.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect()
}

pub(super) const TICKET_COLUMNS: &str = "number, kind, status, urgency, station, handler, subject, fields, \
     received_at, dispatched_at, reply_due, escalate_at, result_due, close_due, extension_cap, \
     first_reply_at, result_at, closed_at, extended, valid, pre_reported, major, linked_to, repeats, \
     returned_at, returns_refused, backup_at";

/// Reads a ticket row; a macro because the row type differs per backend.
macro_rules! ticket_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        use $crate::store::rows::from_ms;
        use $crate::ticket::{Status, Ticket, TicketKind, TicketNo, Urgency};
        let row = $row;
        let ts = |name: &str| -> $crate::store::Result<Option<chrono::DateTime<chrono::Utc>>> {
            Ok(row.try_get::<Option<i64>, _>(name)?.map(from_ms))
        };
        let number: String = row.try_get("number")?;
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        let urgency: String = row.try_get("urgency")?;
        let fields: String = row.try_get("fields")?;
        let linked: Option<String> = row.try_get("linked_to")?;
        let corrupt = |what: &str| $crate::store::StoreError::Corrupt(format!("ticket {number}: {what}"));
        Ticket {
            number: TicketNo::parse(&number).map_err(|_| corrupt("number"))?,
            kind: TicketKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            status: Status::parse(&status).ok_or_else(|| corrupt("status"))?,
            urgency: Urgency::parse(&urgency).ok_or_else(|| corrupt("urgency"))?,
            station: row.try_get("station")?,
            handler: row.try_get("handler")?,
            subject: row.try_get("subject")?,
            fields: serde_json::from_str(&fields).map_err(|_| corrupt("fields"))?,
            received_at: from_ms(row.try_get("received_at")?),
            dispatched_at: ts("dispatched_at")?,
            reply_due: ts("reply_due")?,
            escalate_at: ts("escalate_at")?,
            result_due: ts("result_due")?,
            close_due: ts("close_due")?,
            extension_cap: ts("extension_cap")?,
            first_reply_at: ts("first_reply_at")?,
            result_at: ts("result_at")?,
            closed_at: ts("closed_at")?,
            extended: row.try_get::<i64, _>("extended")? != 0,
            valid: row.try_get::<Option<i64>, _>("valid")?.map(|v| v != 0),
            pre_reported: row.try_get::<i64, _>("pre_reported")? != 0,
            major: row.try_get::<i64, _>("major")? != 0,
            linked_to: linked.and_then(|l| TicketNo::parse(&l).ok()),
            repeats: row.try_get("repeats")?,
            returned_at: ts("returned_at")?,
            returns_refused: row.try_get("returns_refused")?,
            backup_at: ts("backup_at")?,
        }
    }};
}

/// Reads tickets from rows of either backend.
macro_rules! tickets_from_rows {
    ($rows:expr) => {
        $rows.iter().map(|r| Ok(ticket_from_row!(r))).collect::<$crate::store::Result<Vec<_>>>()
    };
}
