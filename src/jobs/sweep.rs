//! The deadline sweep: sends the reminders and escalations that have come
//! due, each once (outbox keys), and warns when the calendar runs out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tracing::warn;

use crate::desk::Desk;
use crate::jobs::{Step, Stop, pause};
use crate::store::Store;
use crate::ticket::TicketNo;
use arc_swap::ArcSwap;

/// Tickets handled per round.
const BATCH: i64 = 500;
/// Tickets swept in one transaction: its overhead (on SQLite, the WAL
/// writes of a commit) is shared, and the write lock is still held briefly.
const CHUNK: usize = 25;
/// Longest sleep between rounds (other instances may change tickets).
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Longest pause after rounds that failed, before their tickets are tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

pub struct SweepWorker {
    /// The running desk: loaded afresh each round, so a reload applies.
    pub desk: Arc<ArcSwap<Desk>>,
    pub store: Store,
    /// Outbox worker's bell: alerts go out at once.
    pub outbox_wake: Arc<Notify>,
    /// The day the calendar's coverage was last warned about.
    warned_on: Mutex<Option<NaiveDate>>,
}

impl Step for SweepWorker {
    fn name(&self) -> &'static str {
        "sweep"
    }

    async fn try_step(&self) -> anyhow::Result<usize> {
        self.warn_calendar_daily();
        self.sweep_due().await
    }

    /// Until the soonest planned alert, looking at least every `IDLE_CHECK`
    /// (other instances may change tickets).
    async fn wait(&self, stop: &Stop) {
        let wait = match self.store.next_alert_at().await {
            Ok(Some(at)) => (at - self.desk.load().clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK),
            _ => IDLE_CHECK,
        };
        pause(wait, stop).await;
    }

    /// Alerts queued by this round (even a failed one: the other tickets
    /// of the round were swept) go out at once.
    fn after_round(&self, _settled: usize) {
        self.outbox_wake.notify_one();
    }

    fn max_backoff(&self) -> Duration {
        RETRY_AFTER_FAILURE
    }
}

impl SweepWorker {
    pub fn new(desk: Arc<ArcSwap<Desk>>, store: Store, outbox_wake: Arc<Notify>) -> Self {
        Self { desk, store, outbox_wake, warned_on: Mutex::new(None) }
    }

    fn warn_calendar_daily(&self) {
        let d = self.desk.load_full();
        let today = d.clock.now().with_timezone(&d.calendar.tz()).date_naive();
        let mut warned_on = self.warned_on.lock().unwrap_or_else(|e| e.into_inner());
        if *warned_on != Some(today) {
            for w in d.calendar.coverage_warnings(today) {
                warn!("calendar: {w}");
            }
            *warned_on = Some(today);
        }
    }

    /// One round over the tickets due now; returns how many were looked at.
    pub async fn sweep_due(&self) -> anyhow::Result<usize> {
        let now = self.desk.load().clock.now();
        let due = self.store.due_tickets(now, BATCH).await?;
        let chunks: Vec<Vec<TicketNo>> = due.chunks(CHUNK).map(<[_]>::to_vec).collect();
        let outcomes: Vec<anyhow::Result<()>> = futures_util::stream::iter(chunks)
            .map(|chunk| async move { self.sweep_chunk(&chunk, now).await })
            .buffer_unordered(self.store.parallel_writers())
            .collect()
            .await;
        outcomes.into_iter().collect::<anyhow::Result<()>>()?;
        Ok(due.len())
    }

    /// Sweeps the tickets in one transaction; if that fails, each in its
    /// own, so one ticket that cannot be swept holds up no other.
    async fn sweep_chunk(&self, numbers: &[TicketNo], now: DateTime<Utc>) -> anyhow::Result<()> {
        let Err(e) = self.sweep_together(numbers, now).await else { return Ok(()) };
        if numbers.len() == 1 {
            return Err(e);
        }
        warn!(error = %format!("{e:#}"), tickets = numbers.len(), "sweep: a chunk failed; sweeping its tickets one by one");
        let mut first_error = None;
        for number in numbers {
            if let Err(e) = self.sweep_together(std::slice::from_ref(number), now).await {
                first_error.get_or_insert(e.context(format!("ticket {number}")));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn sweep_together(&self, numbers: &[TicketNo], now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut tx = self.store.begin().await?;
        // Read again inside the transaction: a reply may have just moved them.
        let queued = tx.outbox_keys(numbers).await?;
        let (mut mails, mut events, mut next) = (Vec::new(), Vec::new(), Vec::new());
        for ticket in tx.tickets(numbers).await? {
            let span = tracing::debug_span!("ticket", number = %ticket.number);
            let sweep = span.in_scope(|| self.desk.load().sweep_ticket(&ticket, &queued, now))?;
            for (mail, event) in sweep.alerts {
                events.push((mail.key.clone(), event));
                mails.push(mail);
            }
            next.push((ticket.number, sweep.next));
        }
        // A few statements for the whole chunk: the cost of a round follows
        // the alerts it renders, not round trips per ticket.
        let inserted = tx.enqueue_all(&mails, now).await?;
        let events: Vec<_> = events.into_iter().filter(|(key, _)| inserted.contains(key)).map(|(_, e)| e).collect();
        tx.add_events(&events).await?;
        tx.set_next_alerts(&next).await?;
        tx.commit().await?;
        Ok(())
    }
}
