//! Talking to systemd (`Type=notify`): READY=1 once the daemon is built,
//! WATCHDOG=1 while its workers are healthy, STOPPING=1 at shutdown. Outside
//! systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::clock::Clock;
use crate::metrics::Metrics;

fn notify(state: NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        warn!(error = %e, "systemd: notification failed");
    }
}

/// Start-up is done: the database is open and the sockets are bound.
pub fn ready() {
    notify(NotifyState::Ready);
}

/// Shutdown has begun; the workers finish their current step.
pub fn stopping() {
    notify(NotifyState::Stopping);
}

/// Until `stop`: when systemd's watchdog is on (`WatchdogSec=`), pets it
/// twice per period, but only while every worker runs and intake finishes
/// rounds within `stale_after`; a hung daemon is thus restarted by systemd.
pub async fn watchdog(metrics: Arc<Metrics>, clock: Clock, stale_after: Duration, stop: watch::Receiver<bool>) {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let since = clock.now();
    let mut stop = stop;
    let mut tick = tokio::time::interval(period / 2);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let health = metrics.health(clock.now(), since, stale_after);
        if health.ok() {
            notify(NotifyState::Watchdog);
        } else {
            debug!(?health, "systemd: unhealthy, watchdog not notified");
        }
    }
}
