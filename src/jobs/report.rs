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
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::dispatch::Dispatcher;
use crate::intake::Attachment;
use crate::mail::compose::Draft;
use crate::report::{self, Period};
use crate::store::Store;

/// Longest sleep between looks at the schedules (the clock may be moved,
/// another instance may have sent).
const IDLE_CHECK: Duration = Duration::from_secs(30);

pub struct ReportWorker {
    /// Settings (schedules, recipients), templates, calendar and clock.
    pub dispatcher: Arc<Dispatcher>,
    /// Tickets to report on; claims, cursors and the outbox.
    pub store: Store,
    /// Rung when the clock is moved (tests).
    pub wake: Arc<Notify>,
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

impl ReportWorker {
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut stop_rx = stop.clone();
        loop {
            match self.try_step().await {
                Ok(n) if n > 0 => self.outbox_wake.notify_one(),
                Ok(_) => {}
                Err(e) => warn!(error = %format!("{e:#}"), "reports: round failed"),
            }
            let wait = self.next_fire().map_or(IDLE_CHECK, |at| {
                (at - self.dispatcher.clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK)
            });
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop_rx.wait_for(|s| *s) => break,
            }
        }
        info!("reports stopped");
    }

    fn schedule(&self, kind: Kind) -> anyhow::Result<Schedule> {
        let r = &self.dispatcher.settings.reports;
        Ok(match kind {
            Kind::Monthly => r.monthly_schedule()?,
            Kind::Weekly => r.weekly_schedule()?,
        })
    }

    /// The soonest fire of either schedule after now.
    fn next_fire(&self) -> Option<DateTime<Utc>> {
        let now = self.dispatcher.clock.now().with_timezone(&self.dispatcher.calendar.tz());
        [Kind::Monthly, Kind::Weekly]
            .into_iter()
            .filter_map(|k| self.schedule(k).ok()?.after(&now).next())
            .map(|t| t.with_timezone(&Utc))
            .min()
    }

    /// Looks at both schedules once; returns how many mails were queued.
    pub async fn try_step(&self) -> anyhow::Result<usize> {
        let now = self.dispatcher.clock.now();
        let tz = self.dispatcher.calendar.tz();
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
        let d = &self.dispatcher;
        let tz = d.calendar.tz();
        let now = d.clock.now();
        let tickets = self.store.assessment_tickets(period.start, period.end).await?;
        let assessment = report::assess(&d.settings, period, &tickets);
        let generated = now.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        let rendered = report::render_monthly(&d.templates, &d.settings, &assessment, &generated)?;
        let csv = assessment.csv().into_bytes();
        let draft = Draft {
            to: vec![d.settings.desk.channel_management.clone()],
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments: vec![Attachment {
                filename: assessment.csv_name(),
                content_type: "text/csv; charset=utf-8".into(),
                size: csv.len(),
                data: csv,
            }],
            auto_submitted: true,
            ..Draft::default()
        };
        let sent = self.queue("monthly", &period.label(), draft).await?;
        if sent > 0 {
            info!(period = %period.label(), "reports: monthly assessment queued");
        }
        Ok(sent)
    }

    /// Queues each regional manager's digest of the open tickets at `fire`
    /// (managers with none get no mail).
    pub async fn weekly(&self, fire: DateTime<Utc>) -> anyhow::Result<usize> {
        let d = &self.dispatcher;
        let tz = d.calendar.tz();
        let open = self.store.open_complaints().await?;
        let date = fire.with_timezone(&tz).format("%Y-%m-%d").to_string();
        let period = fire.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string();
        let mut queued = 0;
        for digest in report::digests(&d.settings, &open, d.clock.now(), tz) {
            let ctx = serde_json::json!({
                "digest": digest.context(&date),
                "desk": { "address": d.settings.desk.dispatch_address },
            });
            let rendered = d.templates.render("digest", &ctx)?;
            let draft = Draft {
                to: vec![digest.manager.clone()],
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                auto_submitted: true,
                ..Draft::default()
            };
            queued += self.queue("weekly", &period, draft).await?;
        }
        Ok(queued)
    }

    /// Claims and queues one report mail in one transaction; 0 when it was
    /// claimed before.
    async fn queue(&self, kind: &str, period: &str, draft: Draft) -> anyhow::Result<usize> {
        let d = &self.dispatcher;
        let recipient = draft.to.first().cloned().unwrap_or_default();
        let key = format!("report:{kind}:{period}:{}", recipient.to_ascii_lowercase());
        let mut tx = self.store.begin().await?;
        if !tx.claim_report(kind, period, &recipient, &key, d.clock.now()).await? {
            return Ok(0);
        }
        let now = d.clock.now();
        let queued = tx.enqueue(&d.outbox_mail(key, None, kind, &draft, now)?, now).await?;
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
}
