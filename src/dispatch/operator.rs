//! The operator's actions on a ticket (`complaintd tickets close|reopen|
//! reassign|extend`): the same transitions, timeline entries and mail as the
//! replies that do the same by mail, recorded as the operator's and written
//! in the caller's transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Dispatcher;
use crate::config::Station;
use crate::store::{StoreError, Tx};
use crate::ticket::{Status, Ticket, TicketNo};

/// What the operator does to a ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorAction {
    /// Close, valid or not for the assessment (like the handler's "结案").
    Close { valid: bool },
    /// Open a closed ticket again (like the handler's "重开").
    Reopen,
    /// Hand the ticket to another station (or route an unrouted one): it is
    /// forwarded there and its clock starts again.
    Reassign { station: String },
    /// Move result and close to `until` (like a station's "申请延期"); past
    /// the cap, or a second time, only when `force`d.
    Extend { until: DateTime<Utc>, force: bool },
}

impl OperatorAction {
    /// The name used in the timeline (`operator:close`, …).
    fn name(&self) -> &'static str {
        match self {
            Self::Close { .. } => "close",
            Self::Reopen => "reopen",
            Self::Reassign { .. } => "reassign",
            Self::Extend { .. } => "extension",
        }
    }
}

/// Why an operator action did nothing.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no ticket {0}")]
    NoTicket(TicketNo),
    /// The action does not apply to the ticket as it stands.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<StoreError> for OperatorError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e.into())
    }
}

impl Dispatcher {
    /// Applies `action` to ticket `number` on behalf of `operator` (recorded
    /// as the actor), with an optional `note` for the timeline and the mail.
    /// Returns what was done; a refusal leaves the transaction untouched.
    pub async fn operate(
        &self,
        tx: &mut Tx,
        number: &TicketNo,
        action: &OperatorAction,
        operator: &str,
        note: Option<&str>,
    ) -> Result<String, OperatorError> {
        let now = self.clock.now();
        let mut ticket = tx.lock_ticket(number).await?.ok_or_else(|| OperatorError::NoTicket(number.clone()))?;
        let refused = |why: String| OperatorError::Refused(format!("{number}: {why}"));
        if ticket.status == Status::Closed && !matches!(action, OperatorAction::Reopen) {
            return Err(refused("is closed (reopen it first)".into()));
        }
        let station = ticket.station.as_deref().and_then(|c| self.settings.station(c)).cloned();
        let handler = vec![ticket.handler.clone()];
        let tz = self.calendar.tz();
        // What was done, the words of the notice, and who gets the notice.
        let (done, words, notice_station, to, cc) = match action {
            OperatorAction::Close { valid } => {
                let done = self.close(tx, &mut ticket, *valid, now).await?;
                let words = if *valid { "结案（有效）" } else { "结案（无效）" };
                (done, words.to_owned(), station, handler, vec![])
            }
            OperatorAction::Reopen => {
                if ticket.status != Status::Closed {
                    return Err(refused(format!("is {}, not closed", ticket.status.as_str())));
                }
                (self.reopen(tx, &mut ticket).await?, "重新打开".to_owned(), station, handler, vec![])
            }
            OperatorAction::Reassign { station: code } => {
                let Some(new) = self.settings.station(code).cloned() else {
                    let known: Vec<&str> = self.settings.stations.iter().map(|s| s.code.as_str()).collect();
                    return Err(refused(format!("unknown station {code:?} (known: {})", known.join(", "))));
                };
                if station.as_ref() == Some(&new) {
                    return Err(refused(format!("is already with {}", new.code)));
                }
                self.reassign(tx, &mut ticket, &new, now).await?;
                let done = format!("reassigned to {}", new.code);
                let words = format!("改派给 {} {}", new.code, new.name);
                // The station that had it is told where it went; the handler has the ack.
                let to = station.map(|old| old.emails).unwrap_or_default();
                (done, words, Some(new), to, vec![])
            }
            OperatorAction::Extend { until, force } => {
                self.grant_extension(&mut ticket, Some(*until), *force)
                    .map_err(|why| refused(if *force { why } else { format!("{why} (--force to extend anyway)") }))?;
                let local = |t: Option<DateTime<Utc>>| {
                    t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
                };
                let done =
                    format!("extended: result due {}, close due {}", local(ticket.result_due), local(ticket.close_due));
                let words = format!("延期至 {}", local(ticket.result_due));
                let to = station.as_ref().map(|s| s.emails.clone()).unwrap_or_default();
                (done, words, station, to, handler)
            }
        };
        self.save(tx, &ticket).await?;
        let detail = match note {
            Some(note) => format!("{done}: {note}"),
            None => done.clone(),
        };
        self.event(tx, number, &format!("operator:{}", action.name()), Some(operator), None, Some(&detail)).await?;
        if !to.is_empty() {
            let extra = json!({
                "key": format!("{}:{}", action.name(), now.timestamp_millis()),
                "operator": { "action": words, "note": note.unwrap_or("") },
            });
            self.send(tx, "operator", &ticket, notice_station.as_ref(), &extra, to, cc, None, vec![], true).await?;
        }
        Ok(done)
    }

    /// Gives the ticket to `to` as if it had been routed there now: what
    /// the last station did no longer counts, its unsent alerts are
    /// withdrawn, the clock starts again and the handler is told.
    async fn reassign(&self, tx: &mut Tx, ticket: &mut Ticket, to: &Station, now: DateTime<Utc>) -> anyhow::Result<()> {
        for alert in ["reminder", "escalation", "supervisor"] {
            tx.cancel_unsent(&format!("{}:{alert}:", ticket.number)).await?;
        }
        ticket.first_reply_at = None;
        ticket.result_at = None;
        ticket.extended = false;
        // Keyed by station and time: a ticket may come back to a station.
        let extra = json!({ "key": format!("{}:{}", to.code, now.timestamp_millis()) });
        // The original attachments are not kept: the handler, copied, can send them on.
        self.assign(tx, ticket, to, vec![], None, &extra, now).await
    }
}
