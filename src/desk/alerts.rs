//! The mail of the deadline sweep: which alerts of a ticket are due is
//! decided in `deadline::due_alerts`; here each becomes its reminder or
//! escalation mail, addressed by level.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Desk, DeskResult};
use crate::config::Station;
use crate::deadline::{self, Alert, AlertLevel, Milestone};
use crate::notify::context::milestone_words;
use crate::notify::key::alert_template;
use crate::notify::{Notice, OutboxKey};
use crate::store::{Event, EventKind, OutboxMail};
use crate::ticket::Ticket;

/// What the sweep of one ticket decided.
pub struct TicketSweep {
    /// Alerts to queue, each with the event that records it once queued.
    pub alerts: Vec<(OutboxMail, Event)>,
    /// When to look at the ticket again (`None`: never).
    pub next: Option<DateTime<Utc>>,
}

impl Desk {
    /// The reminders and escalations of `ticket` due by `now` that were not
    /// queued before (`queued`: the keys already in the outbox), and when to
    /// look at the ticket next. Writes nothing: the sweep queues a chunk of
    /// tickets' alerts at once, and outbox keys keep each alert unique.
    pub fn sweep_ticket(
        &self,
        ticket: &Ticket,
        queued: &HashSet<String>,
        now: DateTime<Utc>,
    ) -> DeskResult<TicketSweep> {
        // Queued by an earlier sweep: skipped before the cost of rendering.
        let sent = |alert: &Alert| queued.contains(OutboxKey::alert(&ticket.number, alert).as_str());
        // Counted on the station's calendar: alerts go out in its working time.
        let due = deadline::due_alerts(self.ticket_calendar(ticket), &self.settings.deadlines, ticket, now, sent);
        let station = self.station_of(ticket);
        let mut alerts = Vec::with_capacity(due.due.len());
        for alert in &due.due {
            let mail = self.alert_mail(ticket, station.as_ref(), alert, now)?;
            alerts.push((mail, Event::new(&ticket.number, now, EventKind::Alert(alert.key.clone()))));
        }
        Ok(TicketSweep { alerts, next: due.next })
    }

    fn alert_mail(
        &self,
        ticket: &Ticket,
        station: Option<&Station>,
        alert: &Alert,
        now: DateTime<Utc>,
    ) -> DeskResult<OutboxMail> {
        let cal = self.ticket_calendar(ticket);
        let overdue = cal.working_between(alert.due, now);
        let station_to = station.map(|s| s.emails.clone()).unwrap_or_default();
        let manager = station.map(|s| s.manager.clone());
        let handler = ticket.handler.clone();
        let (to, cc) = match (alert.milestone, alert.level) {
            (Milestone::Close, AlertLevel::Reminder) => (vec![handler], vec![]),
            (Milestone::Close, AlertLevel::Escalation) => (vec![handler], manager.into_iter().collect()),
            (_, AlertLevel::Reminder) => (station_to, vec![]),
            (_, AlertLevel::Escalation) => (station_to, manager.into_iter().chain([handler]).collect()),
            (_, AlertLevel::Supervisor) => {
                (vec![self.settings.desk.supervisor.clone()], manager.into_iter().chain([handler]).collect())
            }
        };
        let notice = Notice::new(alert_template(alert), OutboxKey::alert(&ticket.number, alert))
            .about(ticket)
            .station(station)
            .to(to)
            .cc(cc)
            .not_before(cal.next_working_instant(now))
            .with(|c| {
                c.alert.level = alert.level.as_str().to_owned();
                c.alert.milestone = milestone_words(alert.milestone).to_owned();
                c.alert.due = self.local(alert.due);
                c.alert.overdue_hours = format!("{:.1}", overdue.num_minutes().max(0) as f64 / 60.0);
                c.alert.overdue = overdue > chrono::Duration::zero();
            });
        Ok(self.notify.render(self.with_caveat(notice), now)?)
    }
}
