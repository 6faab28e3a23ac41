//! The desk: what a message does once intake has read it. Every effect
//! (ticket, timeline, outgoing mail) is written in the caller's transaction,
//! so a message's effects are committed together or not at all.
//!
//! One file per kind of message: [`complaint`] (new complaints, repeats,
//! routing), [`pre_report`], [`reply`] (a station's or handler's reply: who
//! may do what, and the transitions), [`machine`] (auto-replies, bounces,
//! unreadable mail), [`operator`] (the operator's commands), and [`alerts`]
//! (the mail of the deadline sweep).

mod alerts;
mod complaint;
mod machine;
mod moves;
mod operator;
mod pre_report;
mod repair;
mod reply;
mod sender;
#[cfg(test)]
mod tests;
pub mod view;

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

pub use alerts::TicketSweep;
pub use machine::REPLY_CAP_HITS;
pub use operator::{OperatorAction, OperatorError};
pub use repair::{Repair, rules_give};

use crate::auth::Verdict;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::{Settings, Station};
use crate::deadline;
use crate::intake::{Kind, Parsed};
use crate::notify::{Notice, Notifier, NotifyError, Source};
use crate::store::{Event, EventKind, InboundId, StoreError, Tx};
use crate::ticket::{Ticket, TicketNo};

/// What became of an incoming message.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Its effects are committed; it goes to the handled folder.
    Handled { ticket: Option<TicketNo>, note: String },
    /// Refused or unusable; it goes to the quarantine folder, never applied.
    Quarantined { ticket: Option<TicketNo>, reason: String },
    /// Its sender's verdict is not known yet (DNS failed): nothing is
    /// written, it stays in the inbox and is tried again later.
    Wait { reason: String },
}

impl Disposition {
    fn handled(ticket: Option<&TicketNo>, note: &str) -> Self {
        Self::Handled { ticket: ticket.cloned(), note: note.to_owned() }
    }

    fn quarantined(ticket: Option<&TicketNo>, reason: impl Into<String>) -> Self {
        Self::Quarantined { ticket: ticket.cloned(), reason: reason.into() }
    }
}

/// Why the desk could not apply a message. The caller branches on it: a
/// store failure is retried with the whole message; anything else is about
/// this message, which is quarantined so the desk never loops on it.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Message(#[from] anyhow::Error),
}

impl From<NotifyError> for DeskError {
    fn from(e: NotifyError) -> Self {
        Self::Message(e.into())
    }
}

pub type DeskResult<T> = Result<T, DeskError>;

/// One message as the desk sees it: what intake read, and where it is in
/// the intake log (what identifies it when it has no Message-ID).
#[derive(Clone, Copy)]
pub struct Incoming<'a> {
    pub msg: &'a Parsed,
    pub inbound: InboundId,
    /// Who really sent it, as intake verified; `None` when not verified.
    pub auth: Option<&'a Verdict>,
}

impl Incoming<'_> {
    /// What mail in answer to this one is keyed by.
    fn source(&self) -> Source<'_> {
        match &self.msg.message_id {
            Some(id) => Source::MessageId(id),
            None => Source::Inbound(self.inbound),
        }
    }
}

/// Everything the desk needs besides the transaction.
pub struct Desk {
    pub settings: Settings,
    /// The desk's calendar: its reports, and every station without its own.
    pub calendar: Calendar,
    /// The calendars of stations with their own working time, by upper-case code.
    stations: HashMap<String, Calendar>,
    pub clock: Clock,
    /// Renders and composes the desk's mail.
    pub notify: Notifier,
}

impl Desk {
    /// The desk; fails on a station calendar that cannot be built (named).
    pub fn new(settings: Settings, calendar: Calendar, notify: Notifier, clock: Clock) -> anyhow::Result<Self> {
        let mut stations = HashMap::new();
        for s in &settings.stations {
            if let Some(own) = &s.calendar {
                let cal = calendar.for_station(own).with_context(|| format!("stations {}: calendar", s.code))?;
                stations.insert(s.code.to_ascii_uppercase(), cal);
            }
        }
        Ok(Self { settings, calendar, stations, clock, notify })
    }

    /// The calendar the deadlines and alerts of `station`'s tickets count
    /// on: its own, else the desk's.
    pub fn calendar_of(&self, station: Option<&str>) -> &Calendar {
        station.and_then(|code| self.stations.get(&code.to_ascii_uppercase())).unwrap_or(&self.calendar)
    }

    /// The calendar of `ticket`'s station.
    pub fn ticket_calendar(&self, ticket: &Ticket) -> &Calendar {
        self.calendar_of(ticket.station.as_deref())
    }

    /// Applies one message. Refusals are `Disposition::Quarantined`.
    #[tracing::instrument(skip_all, fields(kind = msg.msg.kind.as_str(), from = %crate::printable::one_line(&msg.msg.from)))]
    pub async fn apply(&self, tx: &mut Tx, msg: Incoming<'_>) -> DeskResult<Disposition> {
        if self.is_own_mail(msg.msg) {
            // A copy of our own mail (e.g. smtp.sent_copy filed into the inbox
            // by a server without +folder delivery): acting on it would loop.
            return Ok(Disposition::handled(None, "the desk's own mail; ignored"));
        }
        match msg.msg.kind {
            Kind::Complaint => self.complaint(tx, msg).await,
            Kind::Reply => self.reply(tx, msg).await,
            Kind::PreReport => self.pre_report(tx, msg).await,
            Kind::AutoReply | Kind::Receipt | Kind::DelayNotice => self.auto_reply(tx, msg).await,
            Kind::Bounce => self.bounce(tx, msg).await,
            Kind::Unrecognized => self.unreadable(tx, msg, "unrecognized message").await,
        }
    }

    /// Sent by the daemon itself: from its own address.
    fn is_own_mail(&self, msg: &Parsed) -> bool {
        let own = [&self.settings.smtp.from, &self.settings.desk.dispatch_address];
        own.iter().any(|a| a.eq_ignore_ascii_case(&msg.from))
    }

    /// The configured station a ticket is with.
    fn station_of(&self, ticket: &Ticket) -> Option<Station> {
        ticket.station.as_deref().and_then(|c| self.settings.station(c)).cloned()
    }

    /// Where mail for `ticket`'s station goes: its addresses, and its
    /// backups once those are in use for the ticket.
    fn station_addresses(&self, ticket: &Ticket, station: Option<&Station>) -> Vec<String> {
        let Some(station) = station else { return Vec::new() };
        let backups = if ticket.backup_at.is_some() { station.backups.as_slice() } else { &[] };
        station.emails.iter().chain(backups).cloned().collect()
    }

    /// A timeline entry about `ticket`, now.
    fn event(&self, ticket: &TicketNo, kind: EventKind) -> Event {
        Event::new(ticket, self.clock.now(), kind)
    }

    /// Renders `notice` and queues it; `false` when its key was queued before.
    async fn send(&self, tx: &mut Tx, notice: Notice<'_>) -> DeskResult<bool> {
        let now = self.clock.now();
        let mail = self.notify.render(self.with_caveat(notice), now)?;
        Ok(tx.enqueue(&mail, now).await?)
    }

    /// `notice` with the years its ticket's deadlines count through without
    /// an official holiday arrangement, for the caveat line.
    fn with_caveat<'a>(&self, notice: Notice<'a>) -> Notice<'a> {
        let years = notice.ticket().map(|t| self.provisional_years(t)).unwrap_or_default();
        notice.provisional(years)
    }

    /// The years without an official arrangement that `ticket`'s owed
    /// deadlines count through (empty: nothing may move).
    pub fn provisional_years(&self, ticket: &Ticket) -> Vec<i32> {
        let (Some(start), Some(last)) = (ticket.dispatched_at, deadline::last_owed(ticket)) else {
            return Vec::new();
        };
        self.ticket_calendar(ticket).provisional_years(start, last)
    }

    /// Writes the ticket back; one that still owes something is looked at
    /// by the sweep at once, which plans its alerts from the new state.
    async fn save(&self, tx: &mut Tx, ticket: &Ticket) -> DeskResult<()> {
        let watched = !ticket.owed().is_empty();
        tx.update_ticket(ticket, watched.then(|| self.clock.now())).await?;
        Ok(())
    }

    /// A time as the desk writes it.
    fn local(&self, t: DateTime<Utc>) -> String {
        crate::notify::context::local_minute(t, self.calendar.tz())
    }
}
