//! Deadline repair: when the holiday data change (a provisional year
//! replaced by the State Council's notice, a station's working week edited),
//! the deadlines of open tickets that have not passed are recomputed from
//! their clock start on the new calendar.
//!
//! [`Desk::repair_deadlines`] is the one entry point, called at start (and by
//! a reload). It compares the per-year fingerprints of the calendars with
//! those stored at the last run, in one transaction that locks them, so two
//! instances starting together repair once. Each moved deadline is written
//! on the ticket's timeline (old -> new, why), its unsent alerts are
//! withdrawn and the sweep replans them, and the station gets a notice of its
//! own: a deadline may move earlier (a make-up working day), and the station
//! must know before the reminder ladder, not from the escalation.
//!
//! What has passed stands: a breach is never undone silently; the timeline
//! says what the new calendar would have given.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::{Desk, DeskResult};
use crate::calendar::Calendar;
use crate::deadline::{self, DeadlinePolicy, Deadlines, Milestone};
use crate::notify::{KeyPrefix, Notice, OutboxKey, TemplateName};
use crate::store::{EventKind, Fingerprints, Store, Tx};
use crate::ticket::{Ticket, TicketNo, Urgency};

/// The scope of the desk's calendar in the stored fingerprints.
const DESK_SCOPE: &str = "desk";

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// No fingerprints were stored (the first run with them): they were
    /// recorded, nothing compared.
    pub baseline: bool,
    /// The years whose counting changed, of any calendar.
    pub changed_years: BTreeSet<i32>,
    /// Tickets whose deadlines moved, or whose timeline tells why not.
    pub rescheduled: Vec<TicketNo>,
}

/// One stored deadline of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Reply,
    Escalation,
    Result,
    Close,
    Cap,
}

impl Field {
    const ALL: [Field; 5] = [Field::Reply, Field::Escalation, Field::Result, Field::Close, Field::Cap];

    fn name(self) -> &'static str {
        match self {
            Field::Reply => "reply_due",
            Field::Escalation => "escalate_at",
            Field::Result => "result_due",
            Field::Close => "close_due",
            Field::Cap => "extension_cap",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Field::Reply => "首次回复期限",
            Field::Escalation => "升级时间",
            Field::Result => "处理结果期限",
            Field::Close => "结案期限",
            Field::Cap => "延期上限",
        }
    }

    /// The milestone whose alerts it drives (the cap drives none).
    fn milestone(self) -> Option<Milestone> {
        match self {
            Field::Reply | Field::Escalation => Some(Milestone::Reply),
            Field::Result => Some(Milestone::Result),
            Field::Close => Some(Milestone::Close),
            Field::Cap => None,
        }
    }

    fn of(self, d: &Deadlines) -> DateTime<Utc> {
        match self {
            Field::Reply => d.reply_due,
            Field::Escalation => d.escalate_at,
            Field::Result => d.result_due,
            Field::Close => d.close_due,
            Field::Cap => d.extension_cap,
        }
    }

    fn slot(self, t: &mut Ticket) -> &mut Option<DateTime<Utc>> {
        match self {
            Field::Reply => &mut t.reply_due,
            Field::Escalation => &mut t.escalate_at,
            Field::Result => &mut t.result_due,
            Field::Close => &mut t.close_due,
            Field::Cap => &mut t.extension_cap,
        }
    }
}

/// What became of one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Moved to the new calendar's time.
    Moved,
    /// Had passed: stands, whatever the new calendar says.
    Passed,
    /// The new time is already past: the one the station was given stays.
    Kept,
}

/// One deadline the new calendar puts elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    field: Field,
    old: DateTime<Utc>,
    new: DateTime<Utc>,
    outcome: Outcome,
}

/// What the rules give `ticket` on `cal`: every deadline from its clock
/// start at its urgency then; each repeat after dispatch (at `repeats`)
/// pulls the reply deadlines in as it did (the urgency one level up each
/// time); a granted extension is kept (to the new cap when it was to the
/// cap, else to the time granted). `None` before dispatch.
pub fn rules_give(
    cal: &Calendar,
    policy: &DeadlinePolicy,
    ticket: &Ticket,
    repeats: &[DateTime<Utc>],
) -> Option<Deadlines> {
    let dispatched = ticket.dispatched_at?;
    // The form's urgency and the repeat times give the urgency at each step;
    // without the form's, the current one (and the repeats' effect unknown).
    let original = ticket.fields.get("urgency").and_then(|u| u.as_str()).and_then(Urgency::parse);
    let raised = |mut u: Urgency, times: usize| {
        for _ in 0..times {
            u = u.raised();
        }
        u
    };
    let (at_dispatch, later) = match original {
        Some(u) => {
            let before = repeats.iter().filter(|t| **t <= dispatched).count();
            let later: Vec<_> = repeats.iter().filter(|t| **t > dispatched).collect();
            (raised(u, before), later)
        }
        None => (ticket.urgency, Vec::new()),
    };
    let mut d = deadline::compute(cal, policy, dispatched, at_dispatch);
    for (i, at) in later.iter().enumerate() {
        let r = deadline::compute(cal, policy, **at, raised(at_dispatch, i + 1));
        d.reply_due = d.reply_due.min(r.reply_due);
        d.escalate_at = d.escalate_at.min(r.escalate_at);
    }
    if ticket.extended
        && let Some(granted) = ticket.result_due
    {
        let requested = if ticket.result_due == ticket.extension_cap { d.extension_cap } else { granted };
        d.result_due = requested.max(d.result_due);
        d.close_due = requested.max(d.extension_cap).max(d.close_due);
    }
    Some(d)
}

/// The deadlines of `ticket` that `new` puts elsewhere, and what becomes of
/// each at `now`; only those still owed (a met deadline is the record of
/// how it was met).
fn changes(ticket: &Ticket, new: &Deadlines, now: DateTime<Utc>) -> Vec<Change> {
    let owed = ticket.owed();
    let mut t = ticket.clone();
    Field::ALL
        .into_iter()
        .filter(|f| f.milestone().is_none_or(|m| owed.contains(&m)))
        .filter_map(|field| {
            let old = (*field.slot(&mut t))?;
            let new = field.of(new);
            let outcome = if old <= now {
                Outcome::Passed
            } else if new <= now {
                Outcome::Kept
            } else {
                Outcome::Moved
            };
            (new != old).then_some(Change { field, old, new, outcome })
        })
        .collect()
}

impl Desk {
    /// The per-year fingerprints of every calendar the desk counts on.
    pub fn fingerprints(&self) -> Fingerprints {
        let mut all = Fingerprints::new();
        all.insert(DESK_SCOPE.to_owned(), self.calendar.fingerprints());
        for (code, cal) in &self.stations {
            all.insert(station_scope(code), cal.fingerprints());
        }
        all
    }

    /// Recomputes the deadlines the holiday data changed since the last
    /// run (see the module doc); at start, and at every reload of the
    /// calendar. Idempotent: a second call (or instance) finds nothing.
    pub async fn repair_deadlines(&self, store: &Store) -> DeskResult<Repair> {
        let now = self.clock.now();
        let current = self.fingerprints();
        let mut tx = store.begin().await?;
        let stored = tx.lock_calendar_years().await?;
        let mut repair = Repair::default();
        if stored == current {
            return Ok(repair);
        }
        if stored.is_empty() {
            // Nothing to compare with: the deadlines stored were computed on
            // whatever calendar ran before; from now on changes are seen.
            repair.baseline = true;
        } else {
            let repeats = tx.repeat_times().await?;
            let mut changed_of: HashMap<String, BTreeSet<i32>> = HashMap::new();
            for mut ticket in tx.lock_open_tickets().await? {
                let code = ticket.station.as_deref().unwrap_or_default().to_ascii_uppercase();
                // Compared with how the ticket was counted: its station's own
                // calendar if it had one stored, else the desk's.
                let was = [station_scope(&code), DESK_SCOPE.to_owned()]
                    .into_iter()
                    .find(|s| stored.contains_key(s))
                    .unwrap_or_else(|| DESK_SCOPE.to_owned());
                let cal = self.calendar_of(Some(&code));
                let changed = changed_of
                    .entry(format!("{code}/{was}"))
                    .or_insert_with(|| cal.changed_years(stored.get(&was).unwrap_or(&BTreeMap::new())));
                let (Some(start), Some(last)) = (ticket.dispatched_at, deadline::last_owed(&ticket)) else {
                    continue;
                };
                let reach = last.max(ticket.extension_cap.unwrap_or(last));
                let years: Vec<i32> = cal.years_between(start, reach).filter(|y| changed.contains(y)).collect();
                if years.is_empty() {
                    continue;
                }
                let times = repeats.get(ticket.number.as_str()).map(Vec::as_slice).unwrap_or_default();
                let Some(new) = rules_give(cal, &self.settings.deadlines, &ticket, times) else { continue };
                let found = changes(&ticket, &new, now);
                if found.is_empty() {
                    continue;
                }
                repair.changed_years.extend(&years);
                self.reschedule(&mut tx, &mut ticket, &found, &years, now).await?;
                repair.rescheduled.push(ticket.number.clone());
            }
        }
        tx.store_calendar_years(&current).await?;
        tx.commit().await?;
        Ok(repair)
    }

    /// Applies `found` to `ticket`: moves what moves, writes the timeline,
    /// withdraws the alerts of the old deadlines and tells the station.
    async fn reschedule(
        &self,
        tx: &mut Tx,
        ticket: &mut Ticket,
        found: &[Change],
        years: &[i32],
        now: DateTime<Utc>,
    ) -> DeskResult<()> {
        let names: Vec<String> = years.iter().map(|y| y.to_string()).collect();
        let mut lines = Vec::new();
        let mut words = Vec::new();
        let mut withdrawn = BTreeSet::new();
        for c in found {
            let (old, new, name) = (self.local(c.old), self.local(c.new), c.field.name());
            match c.outcome {
                Outcome::Moved => {
                    *c.field.slot(ticket) = Some(c.new);
                    lines.push(format!("{name} {old} -> {new}"));
                    words.push(format!("{}：{old} 调整为 {new}", c.field.words()));
                    if let Some(m) = c.field.milestone() {
                        withdrawn.insert(m.as_str());
                    }
                }
                Outcome::Passed => {
                    lines.push(format!("{name} {old} had passed and stands (the new calendar gives {new})"))
                }
                Outcome::Kept => lines.push(format!("{name} {old} kept: the new calendar gives {new}, already past")),
            }
        }
        let why = format!("holiday data changed for {}", names.join(", "));
        let detail = format!("{why}: {}", lines.join("; "));
        tx.add_event(self.event(&ticket.number, EventKind::Rescheduled).detail(&detail)).await?;
        if words.is_empty() {
            return Ok(());
        }
        for milestone in withdrawn {
            for prefix in KeyPrefix::alerts_of(&ticket.number, milestone) {
                tx.cancel_unsent(prefix.as_str()).await?;
            }
        }
        // Looked at by the sweep at once: the ladder is laid on the new deadlines.
        self.save(tx, ticket).await?;
        let station = self.station_of(ticket);
        let to = station.as_ref().map(|s| s.emails.clone()).unwrap_or_default();
        let notice = Notice::new(TemplateName::Rescheduled, OutboxKey::rescheduled(&ticket.number, now))
            .about(ticket)
            .station(station.as_ref())
            .to(to)
            .cc(vec![ticket.handler.clone()])
            .with(|c| {
                c.reschedule.reason = format!("{}年放假安排已更新", names.join("、"));
                c.reschedule.changes = words;
            });
        self.send(tx, notice).await?;
        Ok(())
    }
}

/// The scope of a station's own calendar.
fn station_scope(code: &str) -> String {
    format!("station:{}", code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests;
