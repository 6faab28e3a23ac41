//! The deadline sweep: sends the reminders and escalations that have come
//! due, each once (outbox keys), and warns when the calendar runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::dispatch::Dispatcher;
use crate::store::Store;

/// Tickets handled per round.
const BATCH: i64 = 500;
/// Longest sleep between rounds (other instances may change tickets).
const IDLE_CHECK: Duration = Duration::from_secs(5);

pub struct SweepWorker {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Store,
    /// Rung when the clock is moved (tests) or work is known to be due.
    pub wake: Arc<Notify>,
    /// Outbox worker's bell: alerts go out at once.
    pub outbox_wake: Arc<Notify>,
}

impl SweepWorker {
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut stop_rx = stop.clone();
        let mut warned_on: Option<NaiveDate> = None;
        loop {
            self.warn_calendar_daily(&mut warned_on);
            match self.try_step().await {
                Ok(n) if n > 0 => {
                    self.outbox_wake.notify_one();
                    continue;
                }
                Ok(_) => {}
                Err(e) => warn!(error = %format!("{e:#}"), "sweep: round failed"),
            }
            let clock = &self.dispatcher.clock;
            let wait = match self.store.next_alert_at().await {
                Ok(Some(at)) => (at - clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK),
                _ => IDLE_CHECK,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop_rx.wait_for(|s| *s) => break,
            }
        }
        info!("sweep stopped");
    }

    fn warn_calendar_daily(&self, warned_on: &mut Option<NaiveDate>) {
        let d = &self.dispatcher;
        let today = d.clock.now().with_timezone(&d.calendar.tz()).date_naive();
        if *warned_on != Some(today) {
            for w in d.calendar.coverage_warnings(today) {
                warn!("calendar: {w}");
            }
            *warned_on = Some(today);
        }
    }

    /// One round over the tickets due now; returns how many were looked at.
    pub async fn try_step(&self) -> anyhow::Result<usize> {
        let now = self.dispatcher.clock.now();
        let due = self.store.due_tickets(now, BATCH).await?;
        for number in &due {
            let mut tx = self.store.begin().await?;
            // Read again inside the transaction: a reply may have just moved it.
            if let Some(ticket) = tx.ticket(number).await? {
                let next = self.dispatcher.sweep_ticket(&mut tx, &ticket, now).await?;
                tx.set_next_alert(number, next).await?;
            }
            tx.commit().await?;
        }
        Ok(due.len())
    }
}
