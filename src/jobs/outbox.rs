//! The outbox worker: sends committed mail, retries with backoff, and marks
//! each row sent once the server has accepted it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::clock::Clock;
use crate::jobs::pause;
use crate::mail::smtp::Sender;
use crate::metrics::Metrics;
use crate::store::{PendingMail, Store};

/// A claimed row belongs to this instance for this long.
const LEASE: Duration = Duration::from_secs(120);
/// Rows claimed per round.
const BATCH: i64 = 32;
/// After this many failed attempts a mail is left for the operator.
const MAX_ATTEMPTS: i64 = 20;
/// Longest sleep between rounds: other instances may have queued mail.
const IDLE_CHECK: Duration = Duration::from_secs(2);

pub struct OutboxWorker {
    pub store: Store,
    pub sender: Sender,
    pub clock: Clock,
    /// Rung by intake after each commit.
    pub wake: Arc<Notify>,
    /// Parallel submissions (the SMTP pool size).
    pub parallel: usize,
    /// Counts mail accepted and attempts failed.
    pub metrics: Arc<Metrics>,
}

impl OutboxWorker {
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut stop_rx = stop.clone();
        loop {
            let sent = match self.try_step().await {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %format!("{e:#}"), "outbox: round failed");
                    if pause(Duration::from_secs(1), &stop).await {
                        break;
                    }
                    0
                }
            };
            if *stop.borrow() {
                break;
            }
            if sent > 0 {
                continue;
            }
            let wait = match self.store.next_outbox_due().await {
                Ok(Some(due)) => (due - self.clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK),
                _ => IDLE_CHECK,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop_rx.wait_for(|s| *s) => break,
            }
        }
        info!("outbox stopped");
    }

    /// Sends what is due now; returns how many were accepted.
    pub async fn try_step(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let batch = self.store.claim_outbox(now, LEASE, BATCH).await?;
        // Each mail is marked the moment the server accepts it: a crash can
        // then resend at most the mails in flight, never a whole batch.
        let outcomes: Vec<anyhow::Result<bool>> = futures_util::stream::iter(batch)
            .map(|mail| async move { self.send_one(mail).await })
            .buffer_unordered(self.parallel.max(1))
            .collect()
            .await;
        let mut sent = 0;
        for outcome in outcomes {
            sent += usize::from(outcome?);
        }
        Ok(sent)
    }

    /// Sends one claimed mail and records the outcome; `true` when accepted.
    async fn send_one(&self, mail: PendingMail) -> anyhow::Result<bool> {
        match self.sender.send(&mail.envelope_from, &mail.recipients, &mail.body).await {
            Ok(()) => {
                self.metrics.outbox_sent();
                self.store.mark_sent(mail.id, self.clock.now()).await?;
                info!(key = %mail.key, to = ?mail.recipients, "outbox: sent");
                Ok(true)
            }
            Err(e) => {
                self.metrics.outbox_failed();
                let gave_up = e.is_permanent() || mail.attempts >= MAX_ATTEMPTS;
                let retry_in = if gave_up {
                    chrono::Duration::days(3650)
                } else {
                    chrono::Duration::seconds(2i64.pow(mail.attempts.clamp(0, 11) as u32))
                };
                warn!(key = %mail.key, attempts = mail.attempts, gave_up, error = %e, "outbox: not accepted");
                let error = if gave_up { format!("gave up: {e}") } else { e.to_string() };
                self.store.mark_failed(mail.id, &error, self.clock.now() + retry_in).await?;
                Ok(false)
            }
        }
    }
}
