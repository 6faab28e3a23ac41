//! The daemon's workers: intake, outbox, sweep and reports. Each is a
//! [`Step`] (one round, `try_step`, that tests drive directly) run by the one
//! loop [`run`]: a round, then a wait until the worker's next due time or its
//! bell, with one backoff policy after failures and a tracing span per round.

pub mod intake;
pub mod intake_plan;
pub mod originals;
pub mod outbox;
pub mod report;
pub mod sweep;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, watch};
use tracing::{Instrument as _, info, warn};

use crate::desk::Desk;

/// The shutdown signal: turns `true` once, when the daemon stops.
pub type Stop = watch::Receiver<bool>;

/// One worker's round and its waits, for [`run`].
pub trait Step: Send + Sync {
    /// Its name, in logs and spans.
    fn name(&self) -> &'static str;

    /// One round; how many items it settled (0: nothing to do now).
    fn try_step(&self) -> impl Future<Output = anyhow::Result<usize>> + Send;

    /// Waits for more work: at most until the worker's next due time, or
    /// until `stop`. The loop also ends the wait when the worker's bell rings.
    fn wait(&self, stop: &Stop) -> impl Future<Output = ()> + Send;

    /// After every round, done or failed (e.g. ring the outbox for the mail
    /// it queued).
    fn after_round(&self, _settled: usize) {}

    /// The longest pause between failed rounds.
    fn max_backoff(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// After the loop: leave cleanly (log out).
    fn finish(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs `step` until `stop`: rounds back to back while they find work, a
/// wait (or the bell) when they find none, a growing pause after failures.
pub async fn run<S: Step>(step: S, bell: Arc<Notify>, stop: Stop) {
    let mut backoff = Backoff::new(step.max_backoff());
    let mut stop_rx = stop.clone();
    while !*stop.borrow() {
        let round = tracing::info_span!("round", worker = step.name());
        match step.try_step().instrument(round).await {
            Ok(settled) => {
                backoff.reset();
                step.after_round(settled);
                if settled > 0 {
                    continue;
                }
                tokio::select! {
                    _ = step.wait(&stop) => {}
                    _ = bell.notified() => {}
                }
            }
            Err(e) => {
                step.after_round(0);
                let wait = backoff.next_wait();
                warn!(worker = step.name(), error = %format!("{e:#}"), retry_in = ?wait, "round failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop_rx.wait_for(|s| *s) => {}
                }
            }
        }
    }
    step.finish().await;
    info!(worker = step.name(), "stopped");
}

/// A worker built from the running desk's settings (the outbox: its pool
/// size, its Sent copies), built again at the first round after a reload
/// swapped the desk, so a reload applies to it like to the workers that load
/// the desk themselves. It keeps nothing between rounds that the rebuild
/// could lose: its work is in the database.
pub struct Rebuilt<S> {
    desk: Arc<ArcSwap<Desk>>,
    make: Box<dyn Fn(&Desk) -> S + Send + Sync>,
    /// The desk the current worker was built from, and the worker.
    current: Mutex<(Arc<Desk>, Arc<S>)>,
}

impl<S: Step> Rebuilt<S> {
    pub fn new(desk: Arc<ArcSwap<Desk>>, make: impl Fn(&Desk) -> S + Send + Sync + 'static) -> Self {
        let built = desk.load_full();
        let worker = Arc::new(make(&built));
        Self { desk, make: Box::new(make), current: Mutex::new((built, worker)) }
    }

    /// The worker for the running desk.
    fn worker(&self) -> Arc<S> {
        let desk = self.desk.load_full();
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if !Arc::ptr_eq(&current.0, &desk) {
            let worker = Arc::new((self.make)(&desk));
            *current = (desk, worker);
        }
        current.1.clone()
    }
}

impl<S: Step> Step for Rebuilt<S> {
    fn name(&self) -> &'static str {
        self.worker().name()
    }

    async fn try_step(&self) -> anyhow::Result<usize> {
        self.worker().try_step().await
    }

    async fn wait(&self, stop: &Stop) {
        self.worker().wait(stop).await
    }

    fn after_round(&self, settled: usize) {
        self.worker().after_round(settled)
    }

    fn max_backoff(&self) -> Duration {
        self.worker().max_backoff()
    }

    async fn finish(&self) {
        self.worker().finish().await
    }
}

/// Sleeps `d`, or less when asked to stop.
pub async fn pause(d: Duration, stop: &Stop) {
    let mut stop = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Exponential backoff with jitter: the one schedule for reconnecting,
/// failed rounds and resending.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The next wait.
    current: Duration,
    /// Never wait longer than this.
    max: Duration,
}

const FIRST_WAIT: Duration = Duration::from_millis(250);

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self { current: FIRST_WAIT, max }
    }

    /// The wait to take now; the following one doubles.
    pub fn next_wait(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        jitter(d)
    }

    pub fn reset(&mut self) {
        self.current = FIRST_WAIT;
    }

    /// The wait after `attempts` failures in a row (for work retried from
    /// the database, whose attempts are counted there).
    pub fn after_attempts(attempts: u32, max: Duration) -> Duration {
        let d = FIRST_WAIT.saturating_mul(2u32.saturating_pow(attempts.min(20))).min(max);
        jitter(d)
    }
}

/// Up to a quarter more, so instances that failed together do not retry together.
fn jitter(d: Duration) -> Duration {
    d + Duration::from_millis(fastrand::u64(0..=d.as_millis() as u64 / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let waits: Vec<Duration> = (0..5).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= FIRST_WAIT && waits[0] <= FIRST_WAIT * 5 / 4);
        assert!(waits[4] >= Duration::from_secs(1) && waits[4] <= Duration::from_millis(1250));
        assert!(Backoff::after_attempts(30, Duration::from_secs(60)) <= Duration::from_secs(75));
        assert!(Backoff::after_attempts(3, Duration::from_secs(60)) >= Duration::from_secs(2));
    }
}
