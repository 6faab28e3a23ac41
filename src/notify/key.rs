//! Outbox keys: one per effect, unique in the outbox, so queueing the same
//! effect twice (a redone message, a second instance, a repeated sweep) is a
//! no-op. This file is the only place the key grammar exists:
//! `TICKET:TEMPLATE:DETAIL` for mail about a ticket, `TEMPLATE:SOURCE` for
//! answers about no ticket, `report:KIND:PERIOD:RECIPIENT` for reports.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::deadline::Alert;
use crate::notify::templates::TemplateName;
use crate::store::InboundId;
use crate::ticket::TicketNo;

/// The outbox key of one mail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboxKey(String);

/// The incoming message a mail answers: its Message-ID, or (without one)
/// its row in the intake log, so two mails without Message-IDs never share
/// a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    MessageId(&'a str),
    Inbound(InboundId),
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // As before this type existed: keys of queued mail stay valid.
            Source::MessageId(id) => f.write_str(id),
            Source::Inbound(id) => write!(f, "inbound-{}", id.0),
        }
    }
}

impl OutboxKey {
    fn about(ticket: &TicketNo, template: TemplateName, detail: impl fmt::Display) -> Self {
        Self(format!("{ticket}:{}:{detail}", template.as_str()))
    }

    /// The first forward of a ticket.
    pub fn forward(ticket: &TicketNo) -> Self {
        Self::about(ticket, TemplateName::Forward, "")
    }

    /// The forward and acknowledgement of a ticket given to `station` at
    /// `at` (a ticket may come back to a station).
    pub fn reassigned(ticket: &TicketNo, template: TemplateName, station: &str, at: DateTime<Utc>) -> Self {
        Self::about(ticket, template, format_args!("{station}:{}", at.timestamp_millis()))
    }

    /// A mail about `ticket` in answer to one incoming message (ack,
    /// unrouted, relay, note, repeat, refused, pre-report acknowledgements).
    pub fn answer(ticket: &TicketNo, template: TemplateName, source: Source<'_>) -> Self {
        Self::about(ticket, template, source)
    }

    /// A mail about `ticket` sent once ever (the bounce alert, the major
    /// pre-report notice).
    pub fn once(ticket: &TicketNo, template: TemplateName) -> Self {
        Self::about(ticket, template, "once")
    }

    /// The handler told of refused mail about `ticket` in `sender`'s name:
    /// once per ticket and sender, however many forgeries follow.
    pub fn forged(ticket: &TicketNo, sender: &str) -> Self {
        Self::about(ticket, TemplateName::Forged, sender.to_lowercase())
    }

    /// The follow-up reminder of a close at `at`.
    pub fn followup(ticket: &TicketNo, at: DateTime<Utc>) -> Self {
        Self::about(ticket, TemplateName::Followup, at.timestamp_millis())
    }

    /// An alert of the ladder: a new deadline (an extension) makes a new alert.
    pub fn alert(ticket: &TicketNo, alert: &Alert) -> Self {
        Self::about(ticket, alert_template(alert), format_args!("{}:{}", alert.key, alert.due.timestamp_millis()))
    }

    /// A mail about a change of `ticket` at `at` (closed, returned).
    pub fn at(ticket: &TicketNo, template: TemplateName, at: DateTime<Utc>) -> Self {
        Self::about(ticket, template, at.timestamp_millis())
    }

    /// The operator's notice of `action` at `at`.
    pub fn operator(ticket: &TicketNo, action: &str, at: DateTime<Utc>) -> Self {
        Self::about(ticket, TemplateName::Operator, format_args!("{action}:{}", at.timestamp_millis()))
    }

    /// The notice that new holiday data moved the ticket's deadlines, at `at`.
    pub fn rescheduled(ticket: &TicketNo, at: DateTime<Utc>) -> Self {
        Self::about(ticket, TemplateName::Rescheduled, at.timestamp_millis())
    }

    /// An answer about no ticket (`problem`, `unreadable`).
    pub fn reply_to(template: TemplateName, source: Source<'_>) -> Self {
        Self(format!("{}:{source}", template.as_str()))
    }

    /// A report mail: one per kind, period and recipient.
    pub fn report(kind: &str, period: &str, recipient: &str) -> Self {
        Self(format!("report:{kind}:{period}:{}", recipient.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OutboxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<OutboxKey> for String {
    fn from(k: OutboxKey) -> Self {
        k.0
    }
}

/// The template of an alert: one per level.
pub fn alert_template(alert: &Alert) -> TemplateName {
    use crate::deadline::AlertLevel;
    match alert.level {
        AlertLevel::Reminder => TemplateName::Reminder,
        AlertLevel::Escalation => TemplateName::Escalation,
        AlertLevel::Supervisor => TemplateName::Supervisor,
    }
}

/// The start of a family of keys, for withdrawing unsent mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Every follow-up reminder of `ticket` (withdrawn at a reopen).
    pub fn followups(ticket: &TicketNo) -> Self {
        Self(format!("{ticket}:{}:", TemplateName::Followup.as_str()))
    }

    /// Every alert of `ticket` (withdrawn at a reassign).
    pub fn alerts(ticket: &TicketNo) -> [Self; 3] {
        [TemplateName::Reminder, TemplateName::Escalation, TemplateName::Supervisor]
            .map(|t| Self(format!("{ticket}:{}:", t.as_str())))
    }

    /// Every alert of `ticket` about `milestone` (`reply`, …), whatever its
    /// deadline: withdrawn when that deadline moves.
    pub fn alerts_of(ticket: &TicketNo, milestone: &str) -> [Self; 3] {
        [TemplateName::Reminder, TemplateName::Escalation, TemplateName::Supervisor]
            .map(|t| Self(format!("{ticket}:{}:{milestone}.", t.as_str())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::{AlertLevel, Milestone};

    fn ticket() -> TicketNo {
        TicketNo::parse("TS-20261120-0001").unwrap()
    }

    #[test]
    fn keys_keep_the_grammar_of_queued_mail() {
        let t = ticket();
        assert_eq!(OutboxKey::forward(&t).as_str(), "TS-20261120-0001:forward:");
        let ack = OutboxKey::answer(&t, TemplateName::Ack, Source::MessageId("m1@x"));
        assert_eq!(ack.as_str(), "TS-20261120-0001:ack:m1@x");
        let due: DateTime<Utc> = "2026-11-20T09:30:00Z".parse().unwrap();
        let alert = Alert {
            key: "reply.escalation".into(),
            milestone: Milestone::Reply,
            level: AlertLevel::Escalation,
            due,
            send_at: due,
            also: vec![],
            copy: vec![],
        };
        let key = OutboxKey::alert(&t, &alert);
        assert_eq!(key.as_str(), format!("TS-20261120-0001:escalation:reply.escalation:{}", due.timestamp_millis()));
        assert!(KeyPrefix::alerts(&t).iter().any(|p| key.as_str().starts_with(p.as_str())));
        assert!(KeyPrefix::alerts_of(&t, "reply").iter().any(|p| key.as_str().starts_with(p.as_str())));
        assert!(!KeyPrefix::alerts_of(&t, "result").iter().any(|p| key.as_str().starts_with(p.as_str())));
        assert!(OutboxKey::followup(&t, due).as_str().starts_with(KeyPrefix::followups(&t).as_str()));
    }

    #[test]
    fn mails_without_a_message_id_do_not_share_a_key() {
        let t = ticket();
        let a = OutboxKey::answer(&t, TemplateName::Relay, Source::Inbound(InboundId(7)));
        let b = OutboxKey::answer(&t, TemplateName::Relay, Source::Inbound(InboundId(8)));
        assert_ne!(a, b);
    }
}
