//! The mail of the deadline sweep: which alerts of a ticket are due is
//! decided in `deadline::due_alerts`; here each becomes its reminder or
//! escalation mail, addressed by level.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Desk, DeskResult};
use crate::config::Station;
use crate::deadline::{self, Alert, Milestone, Party};
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
        let policy = &self.settings.deadlines;
        let rule = policy.recipients(alert.level);
        let (to, mut cc) = (self.parties(ticket, station, alert.milestone, &rule.to), {
            let copies: Vec<Party> = rule.cc.iter().chain(&alert.copy).copied().collect();
            self.parties(ticket, station, alert.milestone, &copies)
        });
        cc.retain(|a| !to.iter().any(|t| t.eq_ignore_ascii_case(a)));
        let also: String = alert.also.iter().map(|m| format!("、{}", milestone_words(*m))).collect();
        // Written to a tenth of an hour: less than six minutes late is "now due", not "0.0 hours".
        let overdue_minutes = overdue.num_minutes().max(0);
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
                c.alert.overdue_hours = format!("{:.1}", overdue_minutes as f64 / 60.0);
                c.alert.overdue = overdue_minutes >= 6;
                c.alert.also = also;
            });
        Ok(self.notify.render(self.with_caveat(notice), now)?)
    }

    /// The addresses of `parties` for an alert about `milestone`: the
    /// close deadline is the handler's, so "station" means the handler
    /// there; the station's backups are added once they are in use.
    fn parties(
        &self,
        ticket: &Ticket,
        station: Option<&Station>,
        milestone: Milestone,
        parties: &[Party],
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for party in parties {
            let addresses = match (party, milestone) {
                (Party::Station, Milestone::Close) | (Party::Handler, _) => vec![ticket.handler.clone()],
                (Party::Station, _) => self.station_addresses(ticket, station),
                (Party::Manager, _) => station.map(|s| vec![s.manager.clone()]).unwrap_or_default(),
                (Party::Supervisor, _) => vec![self.settings.desk.supervisor.clone()],
            };
            for a in addresses {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&a)) {
                    out.push(a);
                }
            }
        }
        out
    }
}
