//! The operator's actions on a ticket (`complaintd tickets close|reopen|
//! reassign|extend`): the same transitions, timeline entries and mail as the
//! replies that do the same by mail, recorded as the operator's and written
//! in the caller's transaction.

use chrono::{DateTime, Utc};

use super::complaint::Assignment;
use super::{Desk, DeskError};
use crate::config::Station;
use crate::notify::{KeyPrefix, Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, OperatorVerb, StoreError, Tx};
use crate::ticket::{Status, Ticket, TicketNo};

/// What the operator does to a ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorAction {
    /// Close, valid or not for the assessment (like the handler's "结案").
    Close { valid: bool },
    /// Open a closed ticket again (like the handler's "重开").
    Reopen,
    /// Hand the ticket to another station (or route an unrouted one): it is
    /// forwarded there with the original mail's attachments, and its clock
    /// starts again.
    Reassign { station: String },
    /// Move result and close to `until` (like a station's "申请延期"); past
    /// the cap, or a second time, only when `force`d.
    Extend { until: DateTime<Utc>, force: bool },
}

impl OperatorAction {
    /// How the timeline names it (`operator:close`, …).
    fn verb(&self) -> OperatorVerb {
        match self {
            Self::Close { .. } => OperatorVerb::Close,
            Self::Reopen => OperatorVerb::Reopen,
            Self::Reassign { .. } => OperatorVerb::Reassign,
            Self::Extend { .. } => OperatorVerb::Extension,
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

impl From<DeskError> for OperatorError {
    fn from(e: DeskError) -> Self {
        Self::Failed(e.into())
    }
}

/// What an action did and whom its notice goes to.
struct Done {
    /// For the operator and the timeline.
    summary: String,
    /// In the desk's words, for the notice.
    words: String,
    station: Option<Station>,
    to: Vec<String>,
    cc: Vec<String>,
}

impl Desk {
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
        let station = self.station_of(&ticket);
        let handler = vec![ticket.handler.clone()];
        let done = match action {
            OperatorAction::Close { valid } => {
                let summary = self.close(tx, &mut ticket, *valid, now).await?;
                let words = if *valid { "结案（有效）" } else { "结案（无效）" }.to_owned();
                Done { summary, words, station, to: handler, cc: vec![] }
            }
            OperatorAction::Reopen => {
                if ticket.status != Status::Closed {
                    return Err(refused(format!("is {}, not closed", ticket.status.as_str())));
                }
                let summary = self.reopen(tx, &mut ticket).await?;
                Done { summary, words: "重新打开".to_owned(), station, to: handler, cc: vec![] }
            }
            OperatorAction::Reassign { station: code } => {
                let Some(new) = self.settings.station(code).cloned() else {
                    let known: Vec<&str> = self.settings.stations.iter().map(|s| s.code.as_str()).collect();
                    return Err(refused(format!("unknown station {code:?} (known: {})", known.join(", "))));
                };
                if station.as_ref() == Some(&new) && ticket.status != Status::Returned {
                    return Err(refused(format!("is already with {}", new.code)));
                }
                if station.as_ref() == Some(&new) {
                    // Back to the station that returned it: the return is refused.
                    let key = OutboxKey::operator(number, "return_refused", now);
                    self.refuse_return(tx, &mut ticket, &new, operator, note.unwrap_or(""), key, None).await?;
                    let summary = format!("return refused: back to {}", new.code);
                    Done { summary, words: String::new(), station: Some(new), to: vec![], cc: vec![] }
                } else {
                    self.reassign(tx, &mut ticket, &new, now).await?;
                    let summary = format!("reassigned to {}", new.code);
                    let words = format!("改派给 {} {}", new.code, new.name);
                    // The station that had it is told where it went; the handler has the ack.
                    let to = station.map(|old| old.emails).unwrap_or_default();
                    Done { summary, words, station: Some(new), to, cc: vec![] }
                }
            }
            OperatorAction::Extend { until, force } => {
                ticket.extend(Some(*until), *force).map_err(|e| {
                    let why = self.refusal_words(&e);
                    refused(if *force { why } else { format!("{why} (--force to extend anyway)") })
                })?;
                let local = |t: Option<DateTime<Utc>>| t.map(|t| self.local(t)).unwrap_or_default();
                let summary =
                    format!("extended: result due {}, close due {}", local(ticket.result_due), local(ticket.close_due));
                let words = format!("延期至 {}", local(ticket.result_due));
                let to = self.station_addresses(&ticket, station.as_ref());
                Done { summary, words, station, to, cc: handler }
            }
        };
        self.save(tx, &ticket).await?;
        let detail = match note {
            Some(note) => format!("{}: {note}", done.summary),
            None => done.summary.clone(),
        };
        tx.add_event(self.event(number, EventKind::Operator(action.verb())).by(operator).detail(&detail)).await?;
        if !done.to.is_empty() {
            let key = OutboxKey::operator(number, action.verb().as_str(), now);
            let notice = Notice::new(TemplateName::Operator, key)
                .about(&ticket)
                .station(done.station.as_ref())
                .to(done.to)
                .cc(done.cc)
                .with(|c| {
                    c.operator.action = done.words;
                    c.operator.note = note.unwrap_or("").to_owned();
                });
            self.send(tx, notice).await?;
        }
        Ok(done.summary)
    }

    /// Gives the ticket to `to` as if it had been routed there now: what
    /// the last station did no longer counts, its unsent alerts are
    /// withdrawn, the clock starts again and the handler is told. The
    /// forward carries the original mail's attachments (added by the outbox).
    pub(super) async fn reassign(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        to: &Station,
        now: DateTime<Utc>,
    ) -> Result<(), DeskError> {
        for prefix in KeyPrefix::alerts(&ticket.number) {
            tx.cancel_unsent(prefix.as_str()).await?;
        }
        ticket.forget_station_answers();
        // Keyed by station and time: a ticket may come back to a station.
        let assignment = Assignment {
            forward: OutboxKey::reassigned(&ticket.number, TemplateName::Forward, &to.code, now),
            ack: OutboxKey::reassigned(&ticket.number, TemplateName::Ack, &to.code, now),
            files: Vec::new(),
            originals: tx.source_message_id(&ticket.number).await?,
            in_reply_to: None,
        };
        self.assign(tx, ticket, to, assignment, now).await
    }
}
