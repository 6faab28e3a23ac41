//! What a ticket shows to people: its deadlines and whether they were met,
//! the alerts still planned, and its timeline of mail in, events and mail
//! out. Shared by `complaintd tickets show` and the desk board.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Desk;
use crate::deadline::{self, Deadlines, Milestone};
use crate::store::{Event, InboundRecord, OutboxEntry, OutboxState, Store, StoreError, kind_name};
use crate::ticket::{Ticket, TicketNo};

/// A time as the desk writes it: local, to the minute.
pub fn local(desk: &Desk, t: DateTime<Utc>) -> String {
    crate::notify::context::local_minute(t, desk.calendar.tz())
}

/// A time for JSON: RFC 3339 with the local offset.
pub fn rfc3339(desk: &Desk, t: DateTime<Utc>) -> String {
    t.with_timezone(&desk.calendar.tz()).fixed_offset().to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Every deadline of the ticket and whether it was met.
pub fn deadline_lines(desk: &Desk, t: &Ticket) -> Vec<DeadlineLine> {
    let cal = desk.ticket_calendar(t);
    let Some(d) = Deadlines::of(t, cal) else { return Vec::new() };
    let pending = t.owed();
    let line = |name, due: DateTime<Utc>, met: Option<DateTime<Utc>>, m: Option<Milestone>| {
        let owed = m.is_some_and(|m| pending.contains(&m));
        // Only what is still to be met can move when the year's notice comes.
        let provisional = met.is_none() && cal.is_provisional(d.starts_at, due);
        DeadlineLine { name, due, met, owed, provisional }
    };
    vec![
        line("reply", d.reply_due, t.first_reply_at, Some(Milestone::Reply)),
        line("escalation", d.escalate_at, t.first_reply_at, Some(Milestone::Reply)),
        line("result", d.result_due, t.result_at, Some(Milestone::Result)),
        line("close", d.close_due, t.closed_at, Some(Milestone::Close)),
        line("extension cap", d.extension_cap, None, None),
    ]
}

/// Reminders and escalations still to come: (key, level, send at).
pub fn planned_alerts(desk: &Desk, t: &Ticket) -> Vec<(String, &'static str, DateTime<Utc>)> {
    let cal = desk.ticket_calendar(t);
    let Some(d) = Deadlines::of(t, cal) else { return Vec::new() };
    let now = desk.clock.now();
    let settings = &desk.settings;
    deadline::ladder(cal, &settings.deadlines, &d, t.urgency, &t.owed())
        .into_iter()
        .filter(|a| a.send_at > now)
        .map(|a| (a.key, a.level.as_str(), a.send_at))
        .collect()
}

/// Mail in, events and mail out of a ticket, in time order (mail in
/// before the events it caused, mail out after).
pub async fn timeline(store: &Store, number: &TicketNo) -> Result<Vec<Entry>, StoreError> {
    let mut entries: Vec<Entry> = store.inbound_of(number).await?.into_iter().map(Entry::In).collect();
    entries.extend(store.events(number).await?.into_iter().map(Entry::Event));
    entries.extend(store.outbox(Some(number)).await?.into_iter().map(Entry::Out));
    // What a message caused (an event naming its Message-ID, mail keyed
    // by it) goes right under it, even when later mail came in between
    // or everything carries the same time.
    let mut inbound: Vec<(DateTime<Utc>, &str)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::In(m) => Some((m.received_at, m.message_id.as_deref()?)),
            _ => None,
        })
        .collect();
    inbound.sort();
    let anchor = |id: Option<&str>| inbound.iter().position(|(_, m)| Some(*m) == id).map(|i| (inbound[i].0, i));
    let out_anchor =
        |key: &str| inbound.iter().position(|(_, m)| key.ends_with(&format!(":{m}"))).map(|i| (inbound[i].0, i));
    let keys: Vec<_> = entries
        .iter()
        .map(|e| match e {
            Entry::In(m) => {
                (m.received_at, anchor(m.message_id.as_deref()).map_or(usize::MAX, |a| a.1), 0, m.received_at)
            }
            Entry::Event(e) => {
                let (at, i) = anchor(e.message_id.as_deref()).unwrap_or((e.at, usize::MAX));
                (at, i, 1, e.at)
            }
            Entry::Out(m) => {
                let (at, i) = out_anchor(&m.key).unwrap_or((m.created_at, usize::MAX));
                (at, i, 2, m.created_at)
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// One deadline of a ticket, as `tickets show` and the board show it.
pub struct DeadlineLine {
    pub name: &'static str,
    pub due: DateTime<Utc>,
    /// When the milestone was met, if it was.
    pub met: Option<DateTime<Utc>>,
    /// Whether the ticket still owes it.
    pub owed: bool,
    /// Counted through a year without an official holiday arrangement.
    pub provisional: bool,
}

impl DeadlineLine {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        self.owed && self.due <= now
    }

    pub fn state(&self, desk: &Desk) -> String {
        let now = desk.clock.now();
        let mut state = match self.met {
            Some(at) if at <= self.due => format!("met {}", local(desk, at)),
            Some(at) => format!("met late {}", local(desk, at)),
            None if self.overdue(now) => "OVERDUE".into(),
            None if self.owed => "open".into(),
            None => String::new(),
        };
        if self.provisional {
            state.push_str(if state.is_empty() { "provisional" } else { " (provisional)" });
        }
        state
    }

    pub fn to_json(&self, desk: &Desk) -> Value {
        json!({
            "name": self.name,
            "due": rfc3339(desk, self.due),
            "met_at": self.met.map(|t| rfc3339(desk, t)),
            "overdue": self.overdue(desk.clock.now()),
            "provisional": self.provisional,
        })
    }
}

/// One line of a ticket's timeline.
pub enum Entry {
    In(InboundRecord),
    Event(Event),
    Out(OutboxEntry),
}

impl Entry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::In(m) => m.received_at,
            Entry::Event(e) => e.at,
            Entry::Out(m) => m.created_at,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Entry::In(_) => "in",
            Entry::Event(_) => "event",
            Entry::Out(_) => "out",
        }
    }

    pub fn text(&self, desk: &Desk) -> String {
        let suffix = |prefix: &str, v: Option<&str>| v.map(|v| format!("{prefix}{v}")).unwrap_or_default();
        match self {
            Entry::In(m) => format!(
                "{} from {}: {}{} \"{}\"{}",
                kind_name(m.kind),
                m.sender,
                m.outcome.as_str(),
                suffix(" - ", m.reason.as_deref()),
                m.subject,
                suffix(" auth ", auth_of(m).map(|v| v.describe()).as_deref()),
            ),
            Entry::Event(e) => format!(
                "{}{}{}",
                e.kind,
                suffix(" by ", e.actor.as_deref()),
                suffix(": ", e.detail.as_deref().and_then(|d| d.lines().next()))
            ),
            Entry::Out(m) => {
                let state = match (m.state, m.sent_at, &m.last_error) {
                    (OutboxState::Sent, Some(at), _) => format!("sent {}", local(desk, at)),
                    (OutboxState::Failed, _, err) => {
                        format!("failed after {} attempt(s): {}", m.attempts, err.as_deref().unwrap_or(""))
                    }
                    (_, _, Some(err)) => format!(
                        "not sent after {} attempt(s): {err}; next try {}",
                        m.attempts,
                        local(desk, m.next_attempt_at)
                    ),
                    _ => format!("queued, not before {}", local(desk, m.next_attempt_at)),
                };
                format!("to {} \"{}\" [{state}]", m.recipients.join(", "), m.subject)
            }
        }
    }

    pub fn to_json(&self, desk: &Desk) -> Value {
        let at = rfc3339(desk, self.at());
        match self {
            Entry::In(m) => json!({
                "at": at, "type": "in", "from": m.sender, "kind": kind_name(m.kind), "outcome": m.outcome.as_str(),
                "reason": m.reason, "subject": m.subject, "message_id": m.message_id, "auth": auth_of(m),
            }),
            Entry::Event(e) => json!({
                "at": at, "type": "event", "event": e.kind.to_string(), "by": e.actor, "detail": e.detail,
                "message_id": e.message_id,
            }),
            Entry::Out(m) => json!({
                "at": at, "type": "out", "to": m.recipients, "subject": m.subject, "key": m.key,
                "state": m.state.as_str(), "sent_at": m.sent_at.map(|t| rfc3339(desk, t)), "attempts": m.attempts,
                "last_error": m.last_error, "next_attempt_at": rfc3339(desk, m.next_attempt_at),
            }),
        }
    }
}

/// A message's stored verdict (`None`: not verified, or unreadable).
fn auth_of(m: &InboundRecord) -> Option<crate::auth::Verdict> {
    m.auth.as_deref().and_then(|a| serde_json::from_str(a).ok())
}
