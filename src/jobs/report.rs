//! The report worker: on the `reports.monthly` and `reports.weekly` cron
//! schedules (in the calendar's time zone, on the injected clock) it queues
//! the monthly assessment for channel management and the weekly digest for
//! each regional manager.
//!
//! Sent once: each schedule has a cursor in the database (fires after it are
//! due, also those missed while the daemon was down; the first start sets
//! it, so a new installation does not mail old periods), and every mail is
//! claimed in `reports` by (kind, period, recipient) in the same transaction
//! that queues it under a unique outbox key: a restart or a second instance
//! finds the claim and sends nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use cron::Schedule;
use tokio::sync::Notify;
use tracing::info;

use crate::calendar::Calendar;
use crate::desk::Desk;
use crate::jobs::{Step, Stop, pause};
use crate::notify::{Draft, FileAttachment, OutboxKey, TemplateName};
use crate::report::{self, Period};
use crate::store::Store;
use arc_swap::ArcSwap;

/// Longest sleep between looks at the schedules (the clock may be moved,
/// another instance may have sent).
const IDLE_CHECK: Duration = Duration::from_secs(30);

pub struct ReportWorker {
    /// Settings (schedules, recipients), templates, calendar and clock.
    /// The running desk: loaded afresh each round, so a reload applies.
    pub desk: Arc<ArcSwap<Desk>>,
    /// Tickets to report on; claims, cursors and the outbox.
    pub store: Store,
    /// Outbox worker's bell: reports go out at once.
    pub outbox_wake: Arc<Notify>,
}

/// The two schedules, by the name of their cursor.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Monthly,
    Weekly,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Monthly => "monthly",
            Kind::Weekly => "weekly",
        }
    }
}

/// The last fire of `schedule` at or before `now`.
fn latest_fire(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // `after(t)` walks back from t exclusive: start a second later so a
    // fire at exactly `now` is due now.
    let from = (now + chrono::Duration::seconds(1)).with_timezone(&tz);
    schedule.after(&from).next_back().map(|t| t.with_timezone(&Utc))
}

/// When a report fired at `fire` goes out: then, or, when it must go on a
/// working day and `fire` falls on a day off (a weekend, 元旦), at the start
/// of the next working period on the desk's calendar.
fn send_at(cal: &Calendar, fire: DateTime<Utc>, on_working_day: bool) -> DateTime<Utc> {
    let day = fire.with_timezone(&cal.tz()).date_naive();
    if on_working_day && !cal.is_working_day(day) { cal.next_working_instant(fire) } else { fire }
}

impl Step for ReportWorker {
    fn name(&self) -> &'static str {
        "report"
    }

    async fn try_step(&self) -> anyhow::Result<usize> {
        self.queue_due().await
    }

    /// Until the soonest fire of either schedule, looking at least every
    /// `IDLE_CHECK`.
    async fn wait(&self, stop: &Stop) {
        let wait = self
            .next_fire()
            .map_or(IDLE_CHECK, |at| (at - self.desk.load().clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK));
        pause(wait, stop).await;
    }

    fn after_round(&self, settled: usize) {
        if settled > 0 {
            self.outbox_wake.notify_one();
        }
    }
}

impl ReportWorker {
    fn schedule(&self, kind: Kind) -> anyhow::Result<Schedule> {
        let r = &self.desk.load().settings.reports;
        Ok(match kind {
            Kind::Monthly => r.monthly_schedule()?,
            Kind::Weekly => r.weekly_schedule()?,
        })
    }

    /// Whether `kind`'s fires on non-working days wait for the next working period.
    fn on_working_day(&self, kind: Kind) -> bool {
        let r = &self.desk.load().settings.reports;
        match kind {
            Kind::Monthly => r.monthly_on_working_day,
            Kind::Weekly => r.weekly_on_working_day,
        }
    }

    /// The soonest fire of either schedule after now.
    fn next_fire(&self) -> Option<DateTime<Utc>> {
        let now = self.desk.load().clock.now().with_timezone(&self.desk.load().calendar.tz());
        [Kind::Monthly, Kind::Weekly]
            .into_iter()
            .filter_map(|k| self.schedule(k).ok()?.after(&now).next())
            .map(|t| t.with_timezone(&Utc))
            .min()
    }

    /// Looks at both schedules once; returns how many mails were queued.
    pub async fn queue_due(&self) -> anyhow::Result<usize> {
        let now = self.desk.load().clock.now();
        let tz = self.desk.load().calendar.tz();
        let mut queued = 0;
        for kind in [Kind::Monthly, Kind::Weekly] {
            let mut tx = self.store.begin().await?;
            let cursor = tx.report_cursor(kind.name()).await?;
            tx.commit().await?;
            // The latest fire up to now; earlier missed ones are the same
            // report (monthly) or stale (weekly).
            let fire = latest_fire(&self.schedule(kind)?, tz, now);
            if let (Some(cursor), Some(fire)) = (cursor, fire)
                && fire > cursor
            {
                if send_at(&self.desk.load().calendar, fire, self.on_working_day(kind)) > now {
                    // Held for the next working period: the cursor stays
                    // before the fire, so a later look (or a restart) sends it.
                    continue;
                }
                queued += match kind {
                    Kind::Monthly => self.monthly(&Period::before(fire, tz)).await?,
                    Kind::Weekly => self.weekly(fire).await?,
                };
            }
            // Only after the mail is queued: a crash before this looks again,
            // and the claims keep that from sending twice.
            let mut tx = self.store.begin().await?;
            tx.advance_report_cursor(kind.name(), now).await?;
            tx.commit().await?;
        }
        Ok(queued)
    }

    /// Queues the assessment of `period` for channel management unless it
    /// was queued before; returns how many mails were queued (0 or 1).
    pub async fn monthly(&self, period: &Period) -> anyhow::Result<usize> {
        let d = self.desk.load_full();
        let tz = d.calendar.tz();
        let now = d.clock.now();
        let tickets = self.store.assessment_tickets(period.start, period.end).await?;
        let assessment = report::assess(&d.settings, period, &tickets);
        let generated = crate::notify::context::local_minute(now, tz);
        let rendered = d.notify.monthly(&assessment, &d.settings.reports.counted_categories, &generated)?;
        let csv = assessment.csv().into_bytes();
        let draft = Draft {
            to: vec![d.settings.desk.channel_management.clone()],
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments: vec![FileAttachment {
                filename: assessment.csv_name(),
                content_type: "text/csv; charset=utf-8".into(),
                data: csv,
            }],
            auto_submitted: crate::notify::AutoSubmitted::Generated,
            ..Draft::default()
        };
        let sent = self.queue(Kind::Monthly, &period.label(), draft).await?;
        if sent > 0 {
            info!(period = %period.label(), "reports: monthly assessment queued");
        }
        Ok(sent)
    }

    /// Queues each regional manager's digest of the open tickets at `fire`
    /// (managers with none get no mail).
    pub async fn weekly(&self, fire: DateTime<Utc>) -> anyhow::Result<usize> {
        let d = self.desk.load_full();
        let tz = d.calendar.tz();
        let open = self.store.open_complaints().await?;
        let date = fire.with_timezone(&tz).format("%Y-%m-%d").to_string();
        let period = fire.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string();
        let mut queued = 0;
        for digest in report::digests(&d.settings, &open, d.clock.now(), tz) {
            let rendered = d.notify.digest(&digest, &date)?;
            let draft = Draft {
                to: vec![digest.manager.clone()],
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                auto_submitted: crate::notify::AutoSubmitted::Generated,
                ..Draft::default()
            };
            queued += self.queue(Kind::Weekly, &period, draft).await?;
        }
        Ok(queued)
    }

    /// Claims and queues one report mail in one transaction; 0 when it was
    /// claimed before.
    async fn queue(&self, kind: Kind, period: &str, draft: Draft) -> anyhow::Result<usize> {
        let d = self.desk.load_full();
        let recipient = draft.to.first().cloned().unwrap_or_default();
        let key = OutboxKey::report(kind.name(), period, &recipient);
        let mut tx = self.store.begin().await?;
        if !tx.claim_report(kind.name(), period, &recipient, key.as_str(), d.clock.now()).await? {
            return Ok(0);
        }
        let now = d.clock.now();
        let purpose = match kind {
            Kind::Monthly => TemplateName::Monthly,
            Kind::Weekly => TemplateName::Digest,
        };
        let queued = tx.enqueue(&d.notify.outbox_mail(key, None, purpose, &draft, now, now)?, now).await?;
        tx.commit().await?;
        Ok(usize::from(queued))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn the_latest_fire_is_at_or_before_now_in_the_calendars_zone() {
        let tz = chrono_tz::Asia::Shanghai;
        let monthly = Schedule::from_str("0 0 9 1 * *").unwrap();
        // 09:00 on 1 December in Shanghai is 01:00 UTC.
        let fire = utc("2026-12-01T01:00:00Z");
        assert_eq!(latest_fire(&monthly, tz, fire), Some(fire));
        assert_eq!(latest_fire(&monthly, tz, utc("2026-12-01T01:00:30Z")), Some(fire));
        assert_eq!(latest_fire(&monthly, tz, utc("2026-12-01T00:59:59Z")), Some(utc("2026-11-01T01:00:00Z")));
        let weekly = Schedule::from_str("0 0 9 * * Mon").unwrap();
        assert_eq!(latest_fire(&weekly, tz, utc("2026-11-25T00:00:00Z")), Some(utc("2026-11-23T01:00:00Z")));
    }

    #[test]
    fn a_report_set_to_working_days_waits_for_the_next_working_period() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings = crate::config::Settings::load(&root.join("config/example.toml")).expect("example config");
        let cal = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p)).expect("calendar");
        assert!(settings.reports.monthly_on_working_day && !settings.reports.weekly_on_working_day);
        // 09:00 on 2027-01-01 (元旦, a Friday) goes at 09:00 on Monday 4 January.
        let new_year = utc("2027-01-01T01:00:00Z");
        assert_eq!(send_at(&cal, new_year, true), utc("2027-01-04T01:00:00Z"));
        assert_eq!(send_at(&cal, new_year, false), new_year);
        // 2026-08-01 is a Saturday; 2026-12-01 a Tuesday, sent as fired.
        assert_eq!(send_at(&cal, utc("2026-08-01T01:00:00Z"), true), utc("2026-08-03T01:00:00Z"));
        assert_eq!(send_at(&cal, utc("2026-12-01T01:00:00Z"), true), utc("2026-12-01T01:00:00Z"));
    }
}
