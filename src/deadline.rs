//! Deadlines of a ticket, counted in business time, and its reminder ladder.
//!
//! Seed 004's time limits (时效规定), all from the clock start (the first
//! working instant at or after dispatch):
//!
//! | urgency | reply due | first escalation |
//! |---|---|---|
//! | urgent 紧急 | 0.5 business day | at the reply deadline |
//! | expedited 加急 | 1 business day | at the reply deadline |
//! | normal 一般 | 2 business days | 3 business days ("2-3 个工作日内回复") |
//!
//! For every complaint the result is due in 2 business days and the ticket
//! closes in 3; in special cases an extension may move them to at most 5.
//!
//! The ladder turns each deadline into mail: reminders to the station while
//! the window runs, an escalation at the breach (station, copied to the
//! regional manager and the handler), and a supervisor level one business day
//! later. It is a plan: the daemon drops what is no longer due once the
//! station has answered.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::calendar::{BusinessDays, Calendar};
pub use crate::ticket::Milestone;
use crate::ticket::{Ticket, Urgency};

/// The `[deadlines]` section of the config. Every key is optional; a window
/// is a number of business days in steps of 0.5, counted from the clock start.
/// The defaults, written out:
///
/// ```toml
/// [deadlines]
/// urgent = { reply = 0.5, escalate = 0.5 }
/// expedited = { reply = 1, escalate = 1 }
/// normal = { reply = 2, escalate = 3 }
/// result = 2
/// close = 3
/// extension_cap = 5
/// reminders = [{ elapsed = 0.5 }, { before_minutes = 60 }]
/// supervisor_after = 1
/// escalation = { to = ["station"], cc = ["manager", "handler"] }
/// supervisor = { to = ["supervisor"], cc = ["manager", "handler"] }
/// ```
///
/// A rung may copy more people, and an urgency may have its own rungs:
/// `normal = { reply = 2, escalate = 3, reminders = [{ elapsed = 0.5 },
/// { elapsed = 0.75, copy = ["manager"] }] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlinePolicy {
    /// Windows of urgent (紧急) complaints.
    pub urgent: ReplyWindow,
    /// Windows of expedited (加急) complaints.
    pub expedited: ReplyWindow,
    /// Windows of normal (一般) complaints.
    pub normal: ReplyWindow,
    /// The station reports the result (处理结果) within this.
    pub result: BusinessDays,
    /// The ticket is closed (结案) within this.
    pub close: BusinessDays,
    /// An extension may move result and close to at most this.
    pub extension_cap: BusinessDays,
    /// Reminders sent to the station before each deadline, in this order.
    pub reminders: Vec<Reminder>,
    /// The supervisor is told this long after an escalation.
    pub supervisor_after: BusinessDays,
    /// Who receives the escalation at the breach.
    pub escalation: Recipients,
    /// Who receives the second level, `supervisor_after` later.
    pub supervisor: Recipients,
}

/// Who an alert is for, resolved by the desk for each ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The ticket's station (for the close deadline: its handler, whose it is).
    Station,
    /// The station's regional service manager.
    Manager,
    /// The ticket's handler.
    Handler,
    /// The complaint-desk supervisor.
    Supervisor,
}

/// The recipients of one alert level.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    pub to: Vec<Party>,
    #[serde(default)]
    pub cc: Vec<Party>,
}

/// The reply window of one urgency, e.g. `normal = { reply = 2, escalate = 3 }`.
/// Both keys are required; `reminders` replaces the common rungs for it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyWindow {
    /// The station replies (contacts the customer and says so) within this.
    pub reply: BusinessDays,
    /// A missing reply is escalated at this; never before the reply deadline.
    pub escalate: BusinessDays,
    /// This urgency's own reminder rungs (else `deadlines.reminders`).
    #[serde(default)]
    pub reminders: Option<Vec<Reminder>>,
}

/// When a reminder goes out, relative to the window it is about. A reminder
/// that would fall outside the window (at or before its start, at or after
/// its deadline) is not sent: an hour-before reminder makes no sense in a
/// one-hour window.
/// `copy` adds people to that rung, e.g. the regional manager at 75 %:
/// `{ elapsed = 0.75, copy = ["manager"] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ReminderSpec")]
pub struct Reminder {
    pub at: RungAt,
    /// Copied besides the station.
    pub copy: Vec<Party>,
}

/// Where a rung falls in its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RungAt {
    /// When this share of the working time has gone, `{ elapsed = 0.5 }`.
    Elapsed(f64),
    /// This many working minutes before the deadline, `{ before_minutes = 60 }`.
    BeforeMinutes(u32),
}

impl Reminder {
    /// A rung sent to the station alone.
    pub fn at(at: RungAt) -> Self {
        Self { at, copy: Vec::new() }
    }
}

/// A rung as written: exactly one of `elapsed` and `before_minutes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReminderSpec {
    elapsed: Option<f64>,
    before_minutes: Option<u32>,
    #[serde(default)]
    copy: Vec<Party>,
}

impl TryFrom<ReminderSpec> for Reminder {
    type Error = String;
    fn try_from(r: ReminderSpec) -> Result<Self, String> {
        let at = match (r.elapsed, r.before_minutes) {
            (Some(share), None) if (0.0..=1.0).contains(&share) => RungAt::Elapsed(share),
            (Some(share), None) => return Err(format!("elapsed = {share} is not a share between 0 and 1")),
            (None, Some(m)) => RungAt::BeforeMinutes(m),
            _ => return Err("a reminder is { elapsed = SHARE } or { before_minutes = N }".into()),
        };
        Ok(Self { at, copy: r.copy })
    }
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        let days = BusinessDays::from_half_days;
        Self {
            urgent: ReplyWindow { reply: days(1), escalate: days(1), reminders: None },
            expedited: ReplyWindow { reply: days(2), escalate: days(2), reminders: None },
            normal: ReplyWindow { reply: days(4), escalate: days(6), reminders: None },
            result: days(4),
            close: days(6),
            extension_cap: days(10),
            reminders: vec![Reminder::at(RungAt::Elapsed(0.5)), Reminder::at(RungAt::BeforeMinutes(60))],
            supervisor_after: days(2),
            escalation: Recipients { to: vec![Party::Station], cc: vec![Party::Manager, Party::Handler] },
            supervisor: Recipients { to: vec![Party::Supervisor], cc: vec![Party::Manager, Party::Handler] },
        }
    }
}

impl DeadlinePolicy {
    /// The reply window of `urgency`.
    pub fn window(&self, urgency: Urgency) -> &ReplyWindow {
        match urgency {
            Urgency::Urgent => &self.urgent,
            Urgency::Expedited => &self.expedited,
            Urgency::Normal => &self.normal,
        }
    }

    /// The reminder rungs of `urgency`.
    pub fn reminders(&self, urgency: Urgency) -> &[Reminder] {
        self.window(urgency).reminders.as_deref().unwrap_or(&self.reminders)
    }

    /// Who receives an alert of `level` (reminders: the station; a rung's
    /// copies are the alert's own).
    pub fn recipients(&self, level: AlertLevel) -> Recipients {
        match level {
            AlertLevel::Reminder => Recipients { to: vec![Party::Station], cc: vec![] },
            AlertLevel::Escalation => self.escalation.clone(),
            AlertLevel::Supervisor => self.supervisor.clone(),
        }
    }
}

/// A ticket's deadlines, as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// When the clock started: dispatch, or the next working instant after it.
    pub starts_at: DateTime<Utc>,
    /// The station's reply is due.
    pub reply_due: DateTime<Utc>,
    /// A missing reply is escalated (normal: later than `reply_due`).
    pub escalate_at: DateTime<Utc>,
    /// The result is due.
    pub result_due: DateTime<Utc>,
    /// The ticket should be closed.
    pub close_due: DateTime<Utc>,
    /// The latest an extension may move result and close to.
    pub extension_cap: DateTime<Utc>,
    /// A window counts through a year without an official holiday
    /// arrangement, so these may move once its notice is added.
    pub provisional: bool,
}

impl Deadlines {
    /// The deadline of `milestone`.
    pub fn due(&self, milestone: Milestone) -> DateTime<Utc> {
        match milestone {
            Milestone::Reply => self.reply_due,
            Milestone::Result => self.result_due,
            Milestone::Close => self.close_due,
        }
    }

    /// When missing `milestone` is escalated: the reply has its own
    /// escalation point, the others escalate at their deadline, and none
    /// before the reply's (a normal complaint's result is due with its
    /// reply, two days before its documented first escalation at three).
    pub fn breach(&self, milestone: Milestone) -> DateTime<Utc> {
        match milestone {
            Milestone::Reply => self.escalate_at,
            Milestone::Result | Milestone::Close => self.due(milestone).max(self.escalate_at),
        }
    }
}

impl Deadlines {
    /// The deadlines of a dispatched ticket, as stored (extensions and
    /// repeats included); `None` before dispatch.
    pub fn of(ticket: &Ticket, cal: &Calendar) -> Option<Self> {
        Some(Self {
            starts_at: cal.next_working_instant(ticket.dispatched_at?),
            reply_due: ticket.reply_due?,
            escalate_at: ticket.escalate_at?,
            result_due: ticket.result_due?,
            close_due: ticket.close_due?,
            extension_cap: ticket.extension_cap?,
            provisional: cal.is_provisional(ticket.dispatched_at?, ticket.extension_cap?),
        })
    }

    /// Sets them on `ticket`, dispatched to `station` at `now`.
    pub fn start(&self, ticket: &mut Ticket, station: &str, now: DateTime<Utc>) {
        ticket.station = Some(station.to_owned());
        ticket.status = crate::ticket::Status::Open;
        ticket.dispatched_at = Some(now);
        ticket.reply_due = Some(self.reply_due);
        ticket.escalate_at = Some(self.escalate_at);
        ticket.result_due = Some(self.result_due);
        ticket.close_due = Some(self.close_due);
        ticket.extension_cap = Some(self.extension_cap);
    }
}

/// The earliest deadline `ticket` still owes.
pub fn next_due(ticket: &Ticket) -> Option<(Milestone, DateTime<Utc>)> {
    ticket.owed().into_iter().filter_map(|m| Some((m, ticket.due(m)?))).min_by_key(|(_, due)| *due)
}

/// The latest deadline `ticket` still owes (for the reply, its escalation
/// point): how far its counting reaches.
pub fn last_owed(ticket: &Ticket) -> Option<DateTime<Utc>> {
    let owed = ticket.owed();
    let escalation = if owed.contains(&Milestone::Reply) { ticket.escalate_at } else { None };
    owed.into_iter().filter_map(|m| ticket.due(m)).chain(escalation).max()
}

/// The deadlines of a complaint dispatched at `start`.
pub fn compute(cal: &Calendar, policy: &DeadlinePolicy, start: DateTime<Utc>, urgency: Urgency) -> Deadlines {
    let starts_at = cal.next_working_instant(start);
    let after = |days| cal.add_business_days(starts_at, days);
    let window = policy.window(urgency);
    let reply_due = after(window.reply);
    let result_due = after(policy.result);
    // A policy written out of order is read in order rather than refused:
    // escalating before the deadline, or capping below it, means nothing.
    let close_due = after(policy.close).max(result_due);
    let extension_cap = after(policy.extension_cap).max(close_due);
    Deadlines {
        starts_at,
        reply_due,
        escalate_at: after(window.escalate).max(reply_due),
        result_due,
        close_due,
        extension_cap,
        provisional: cal.is_provisional(start, extension_cap),
    }
}

/// How loud an alert is, and so who receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertLevel {
    /// To the station, before the deadline.
    Reminder,
    /// At the breach: to the station, copied to the regional manager and the handler.
    Escalation,
    /// Still overdue later: to the complaint-desk supervisor.
    Supervisor,
}

impl AlertLevel {
    /// The name used in alert keys and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reminder => "reminder",
            Self::Escalation => "escalation",
            Self::Supervisor => "supervisor",
        }
    }
}

/// One planned reminder or escalation mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable and unique within a ticket, to record what was sent:
    /// `reply.reminder.1` (numbered by the configured reminder), `reply.escalation`,
    /// `reply.supervisor`.
    pub key: String,
    /// The deadline it is about.
    pub milestone: Milestone,
    /// Who receives it.
    pub level: AlertLevel,
    /// That deadline, to write in the mail.
    pub due: DateTime<Utc>,
    /// When to send it; always working time, so nothing goes out at night.
    pub send_at: DateTime<Utc>,
    /// Other deadlines of the same mail: alerts due together to the same
    /// people are one mail.
    pub also: Vec<Milestone>,
    /// Copied besides the level's recipients (a rung's `copy`).
    pub copy: Vec<Party>,
}

/// The alerts planned for `milestones` of a ticket with deadlines `d`,
/// sorted by `send_at` (ties keep milestone order, then level).
///
/// Reminders are placed in the window from the clock start to the deadline;
/// the escalation comes at the breach (for the reply: `escalate_at`), the
/// supervisor level `supervisor_after` later. Everything is sent at the next
/// working instant, so a breach at 18:00 is mailed at 09:00 the next working day.
pub fn ladder(
    cal: &Calendar,
    policy: &DeadlinePolicy,
    d: &Deadlines,
    urgency: Urgency,
    milestones: &[Milestone],
) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = Vec::new();
    for &milestone in milestones {
        let due = d.due(milestone);
        let alert = |level: AlertLevel, key: String, at, copy: &[Party]| Alert {
            key: format!("{}.{}", milestone.as_str(), key),
            milestone,
            level,
            due,
            send_at: cal.next_working_instant(at),
            also: Vec::new(),
            copy: copy.to_vec(),
        };
        let window = cal.working_between(d.starts_at, due);
        let mut reminders: Vec<Alert> = Vec::new();
        for (i, rule) in policy.reminders(urgency).iter().enumerate() {
            let elapsed = match rule.at {
                RungAt::Elapsed(share) => {
                    let ms = window.num_milliseconds() as f64 * share;
                    Duration::milliseconds(ms.round() as i64)
                }
                RungAt::BeforeMinutes(m) => window - Duration::minutes(m.into()),
            };
            if elapsed <= Duration::zero() || elapsed >= window {
                continue;
            }
            let at = cal.add_working(d.starts_at, elapsed);
            let reminder = alert(AlertLevel::Reminder, format!("reminder.{}", i + 1), at, &rule.copy);
            // Two rules may land on the same instant (e.g. a two-hour window).
            match reminders.iter_mut().find(|r| r.send_at == reminder.send_at) {
                Some(r) => merge_copies(&mut r.copy, &reminder.copy),
                None => reminders.push(reminder),
            }
        }
        alerts.extend(reminders);
        let breach = d.breach(milestone);
        alerts.push(alert(AlertLevel::Escalation, "escalation".into(), breach, &[]));
        let later = cal.add_business_days(breach, policy.supervisor_after);
        alerts.push(alert(AlertLevel::Supervisor, "supervisor".into(), later, &[]));
    }
    alerts.sort_by_key(|a| a.send_at);
    merge_together(alerts)
}

fn merge_copies(into: &mut Vec<Party>, from: &[Party]) {
    for p in from {
        if !into.contains(p) {
            into.push(*p);
        }
    }
}

/// Alerts of one level sent at one instant to the same people become one
/// mail (the first's key, the others in `also`). Close alerts go to the
/// handler, not the station, so they stay apart.
fn merge_together(alerts: Vec<Alert>) -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::with_capacity(alerts.len());
    for a in alerts {
        let together = |o: &&mut Alert| {
            o.level == a.level
                && o.send_at == a.send_at
                && (o.milestone == Milestone::Close) == (a.milestone == Milestone::Close)
        };
        match out.iter_mut().find(|o| together(o)) {
            Some(first) => {
                first.also.push(a.milestone);
                merge_copies(&mut first.copy, &a.copy);
            }
            None => out.push(a),
        }
    }
    out
}

/// What the sweep of one ticket decides: the alerts to send now and when
/// to look again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DueAlerts {
    /// Due by now and not sent before, in ladder order.
    pub due: Vec<Alert>,
    /// When the next planned alert falls (`None`: nothing planned).
    pub next: Option<DateTime<Utc>>,
}

/// The alerts of `ticket` due by `now` for which `sent` is false, and when
/// to look at the ticket next. Pure: the sweep queues the mails.
pub fn due_alerts(
    cal: &Calendar,
    policy: &DeadlinePolicy,
    ticket: &Ticket,
    now: DateTime<Utc>,
    sent: impl Fn(&Alert) -> bool,
) -> DueAlerts {
    let mut out = DueAlerts::default();
    let Some(deadlines) = Deadlines::of(ticket, cal) else { return out };
    for alert in ladder(cal, policy, &deadlines, ticket.urgency, &ticket.owed()) {
        if alert.send_at > now {
            out.next = Some(out.next.map_or(alert.send_at, |n| n.min(alert.send_at)));
            continue;
        }
        // A reminder whose deadline has passed says nothing the escalation does not.
        if alert.level == AlertLevel::Reminder && alert.due <= now {
            continue;
        }
        if !sent(&alert) {
            out.due.push(alert);
        }
    }
    out
}

/// What `complaintd deadline --received T --urgency U` prints: the clock
/// start, every deadline and the alert plan, in the calendar's local time.
pub fn deadline_json(
    cal: &Calendar,
    policy: &DeadlinePolicy,
    received: DateTime<FixedOffset>,
    urgency: Urgency,
) -> serde_json::Value {
    let local =
        |t: DateTime<Utc>| t.with_timezone(&cal.tz()).fixed_offset().to_rfc3339_opts(SecondsFormat::Secs, false);
    let d = compute(cal, policy, received.to_utc(), urgency);
    let alerts: Vec<_> = ladder(cal, policy, &d, urgency, &[Milestone::Reply, Milestone::Result, Milestone::Close])
        .into_iter()
        .map(|a| {
            json!({
                "key": a.key,
                "level": a.level.as_str(),
                "due": local(a.due),
                "send_at": local(a.send_at),
            })
        })
        .collect();
    json!({
        "received": local(received.to_utc()),
        "urgency": urgency.as_str(),
        "starts_at": local(d.starts_at),
        "reply_due": local(d.reply_due),
        "escalate_at": local(d.escalate_at),
        "result_due": local(d.result_due),
        "close_due": local(d.close_due),
        "extension_cap": local(d.extension_cap),
        "provisional": d.provisional,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests;
