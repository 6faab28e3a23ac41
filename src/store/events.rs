//! The timeline: what happened to a ticket, one row per event.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::rows::{from_ms, to_ms};
use super::{ROWS_PER_STATEMENT, Result, Store, StoreError, Tx};
use crate::ticket::{Action, TicketNo};

/// What happened. Stored as text (`received`, `reply:contacted`,
/// `alert:reply.escalation`, `operator:close`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The complaint arrived.
    Received,
    /// Linked to another ticket (a pre-report and its complaint).
    Linked,
    /// A station's pre-report was filed.
    PreReported,
    /// A major pre-report: the supervisor was told.
    Major,
    /// No station could be found.
    Unrouted,
    /// Forwarded to its station.
    Forwarded,
    /// The customer complained again.
    Repeat,
    /// A mail from someone not allowed to act; never applied.
    Refused,
    /// A reply, and what it said.
    Reply(Action),
    /// An alert of the ladder was queued (its key, `reply.escalation`).
    Alert(String),
    /// The operator acted.
    Operator(OperatorVerb),
    /// An automatic reply; never a response.
    AutoReply,
    /// A read receipt or a delivery notice of success; never a response.
    Receipt,
    /// A delayed-delivery notice: the server keeps trying; alerts nobody.
    DelayNotice,
    /// A mail about the ticket bounced.
    Bounce,
    /// New holiday data moved its deadlines (the detail says old -> new, and why).
    Rescheduled,
    /// The handler gave a returned ticket back to its station.
    ReturnRefused,
    /// The station's backup contacts are copied from now on.
    BackupInUse,
}

/// The operator's actions, as the timeline names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorVerb {
    Close,
    Reopen,
    Reassign,
    Extension,
}

impl OperatorVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Reassign => "reassign",
            Self::Extension => "extension",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Close, Self::Reopen, Self::Reassign, Self::Extension].into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Received => f.write_str("received"),
            Self::Linked => f.write_str("linked"),
            Self::PreReported => f.write_str("pre_reported"),
            Self::Major => f.write_str("major"),
            Self::Unrouted => f.write_str("unrouted"),
            Self::Forwarded => f.write_str("forwarded"),
            Self::Repeat => f.write_str("repeat"),
            Self::Refused => f.write_str("refused"),
            Self::Reply(action) => write!(f, "reply:{}", action.as_str()),
            Self::Alert(key) => write!(f, "alert:{key}"),
            Self::Operator(verb) => write!(f, "operator:{}", verb.as_str()),
            Self::AutoReply => f.write_str("auto_reply"),
            Self::Receipt => f.write_str("receipt"),
            Self::DelayNotice => f.write_str("delay_notice"),
            Self::Bounce => f.write_str("bounce"),
            Self::Rescheduled => f.write_str("rescheduled"),
            Self::ReturnRefused => f.write_str("return_refused"),
            Self::BackupInUse => f.write_str("backup_in_use"),
        }
    }
}

impl EventKind {
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(action) = s.strip_prefix("reply:") {
            return Action::parse(action).map(Self::Reply);
        }
        if let Some(key) = s.strip_prefix("alert:") {
            return Some(Self::Alert(key.to_owned()));
        }
        if let Some(verb) = s.strip_prefix("operator:") {
            return OperatorVerb::parse(verb).map(Self::Operator);
        }
        Some(match s {
            "received" => Self::Received,
            "linked" => Self::Linked,
            "pre_reported" => Self::PreReported,
            "major" => Self::Major,
            "unrouted" => Self::Unrouted,
            "forwarded" => Self::Forwarded,
            "repeat" => Self::Repeat,
            "refused" => Self::Refused,
            "auto_reply" => Self::AutoReply,
            "receipt" => Self::Receipt,
            "delay_notice" => Self::DelayNotice,
            "bounce" => Self::Bounce,
            "rescheduled" => Self::Rescheduled,
            "return_refused" => Self::ReturnRefused,
            "backup_in_use" => Self::BackupInUse,
            _ => return None,
        })
    }
}

/// Compares with the stored text, as the CLI and the tests name events.
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        Self::parse(other).as_ref() == Some(self)
    }
}

/// One line of a ticket's timeline.
#[derive(Debug, Clone)]
pub struct Event {
    pub ticket: TicketNo,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// Who caused it (an address), when someone did.
    pub actor: Option<String>,
    /// The mail that caused it.
    pub message_id: Option<String>,
    /// What was said or decided, for the timeline.
    pub detail: Option<String>,
}

impl Event {
    /// An event at `at` with nothing but its kind; the setters add the rest.
    pub fn new(ticket: &TicketNo, at: DateTime<Utc>, kind: EventKind) -> Self {
        Self { ticket: ticket.clone(), at, kind, actor: None, message_id: None, detail: None }
    }

    pub fn by(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_owned());
        self
    }

    pub fn message(mut self, message_id: Option<&str>) -> Self {
        self.message_id = message_id.map(str::to_owned);
        self
    }

    pub fn detail(mut self, detail: &str) -> Self {
        self.detail = Some(detail.to_owned());
        self
    }
}

impl Store {
    /// The timeline of a ticket, oldest first.
    pub async fn events(&self, ticket: &TicketNo) -> Result<Vec<Event>> {
        on_pool!(self, |p| {
            sqlx::query(
                "SELECT ticket, at, kind, actor, message_id, detail FROM events
                 WHERE ticket = $1 ORDER BY at, id",
            )
            .bind(ticket.as_str())
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(Event {
                    ticket: ticket.clone(),
                    at: from_ms(r.try_get("at")?),
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind {kind:?} of {ticket}")))?,
                    actor: r.try_get("actor")?,
                    message_id: r.try_get("message_id")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
        })
    }
}

impl Tx {
    pub async fn add_event(&mut self, e: Event) -> Result<()> {
        self.add_events(std::slice::from_ref(&e)).await
    }

    pub async fn add_events(&mut self, events: &[Event]) -> Result<()> {
        for rows in events.chunks(ROWS_PER_STATEMENT) {
            on_tx!(self, |c| {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO events (ticket, at, kind, actor, message_id, detail) ");
                q.push_values(rows, |mut row, e| {
                    row.push_bind(e.ticket.as_str())
                        .push_bind(to_ms(e.at))
                        .push_bind(e.kind.to_string())
                        .push_bind(&e.actor)
                        .push_bind(&e.message_id)
                        .push_bind(&e.detail);
                });
                q.build().execute(&mut *c).await?;
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_read_back_as_written() {
        let kinds = [
            EventKind::Received,
            EventKind::Reply(Action::Contacted),
            EventKind::Alert("reply.reminder.1".into()),
            EventKind::Operator(OperatorVerb::Extension),
            EventKind::AutoReply,
            EventKind::Rescheduled,
        ];
        for kind in kinds {
            assert_eq!(EventKind::parse(&kind.to_string()), Some(kind.clone()));
        }
        assert_eq!(EventKind::Operator(OperatorVerb::Close), "operator:close");
        assert_eq!(EventKind::parse("reply:shout"), None);
    }
}
