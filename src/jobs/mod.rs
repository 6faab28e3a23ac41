//! The daemon's workers, each a loop around a `try_step` that tests can drive.

pub mod intake;
pub mod outbox;
pub mod report;
pub mod sweep;

use std::time::Duration;

use tokio::sync::watch;

/// Sleeps `d`, or less when asked to stop; `true` when stopping.
pub async fn pause(d: Duration, stop: &watch::Receiver<bool>) -> bool {
    let mut stop = stop.clone();
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// Exponential backoff with jitter, for reconnecting and resending.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The next wait.
    current: Duration,
    /// Never wait longer than this.
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Self { current: Duration::from_millis(250), max }
    }

    /// The wait to take now; the following one doubles.
    pub fn next_wait(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d + Duration::from_millis(fastrand::u64(0..=d.as_millis() as u64 / 4))
    }

    pub fn reset(&mut self) {
        self.current = Duration::from_millis(250);
    }
}
