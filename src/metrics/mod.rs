//! What the daemon counts, and whether its workers are well: counters and
//! gauges with typed label sets in a prometheus-client registry, bumped by
//! the workers, and the health rules `/health` and the systemd watchdog
//! share. The gauges about tickets and the outbox are read from the
//! database at each scrape ([`endpoint`]), so every instance reports the
//! same shared state.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::intake::Kind;
use crate::store::{InboundOutcome, kind_name};

/// Where it is configured; re-exported for the callers that knew it here.
pub use crate::config::MetricsSettings;
pub use endpoint::Endpoint;

/// Every metric name starts with this (`complaintd_mail_in_total`).
const PREFIX: &str = "complaintd";

/// Writes a label value as its `as_str` name (`kind="pre_report"`).
macro_rules! label_value {
    ($t:ty) => {
        impl prometheus_client::encoding::EncodeLabelValue for $t {
            fn encode(
                &self,
                encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

// After the macro: the endpoint's label types use it too.
pub mod endpoint;
mod refusals;

pub use refusals::Unparsed;

/// What intake made of a message: its kind (`Parsed::kind`), or `None`
/// when it was read by its header only (`oversized`, as the intake log says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MailKind(Option<Kind>);

impl MailKind {
    fn all() -> impl Iterator<Item = MailKind> {
        Kind::ALL.into_iter().map(Some).chain([None]).map(MailKind)
    }

    fn as_str(self) -> &'static str {
        kind_name(self.0)
    }
}
label_value!(MailKind);

/// How intake settled a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailOutcome {
    Handled,
    Quarantined,
    /// Taken before (same UID or Message-ID): only moved again.
    Duplicate,
}

impl MailOutcome {
    pub const ALL: [MailOutcome; 3] = [Self::Handled, Self::Quarantined, Self::Duplicate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Quarantined => "quarantined",
            Self::Duplicate => "duplicate",
        }
    }
}
label_value!(MailOutcome);

/// How the intake log settled it (a settled message is never pending).
impl From<InboundOutcome> for MailOutcome {
    fn from(outcome: InboundOutcome) -> Self {
        match outcome {
            InboundOutcome::Handled => Self::Handled,
            InboundOutcome::Quarantined | InboundOutcome::Pending => Self::Quarantined,
        }
    }
}

label_value!(crate::auth::Outcome);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AuthLabels {
    verdict: crate::auth::Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MailLabels {
    kind: MailKind,
    outcome: MailOutcome,
}

/// Where the IMAP connection of this instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImapState {
    /// Not connected: starting, or waiting to retry after a failure.
    Reconnecting = 0,
    /// Logged in and working (or polling).
    Connected = 1,
    /// Logged in and waiting in IMAP IDLE for new mail.
    Idle = 2,
}

impl ImapState {
    pub const ALL: [ImapState; 3] = [Self::Connected, Self::Idle, Self::Reconnecting];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reconnecting => "reconnecting",
            Self::Connected => "connected",
            Self::Idle => "idle",
        }
    }
}
label_value!(ImapState);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ImapLabels {
    state: ImapState,
}

/// The daemon's workers, watched by `/health` and the systemd watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Worker {
    Intake,
    Sweep,
    Outbox,
    Report,
}

impl Worker {
    pub const ALL: [Worker; 4] = [Self::Intake, Self::Sweep, Self::Outbox, Self::Report];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Sweep => "sweep",
            Self::Outbox => "outbox",
            Self::Report => "report",
        }
    }
}
label_value!(Worker);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WorkerLabels {
    worker: Worker,
}

/// The counters and the per-instance gauges, shared by the workers and the endpoint.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    mail_in: Family<MailLabels, Counter>,
    auth_verdicts: Family<AuthLabels, Counter>,
    auth_deferred: Counter,
    outbox_sent: Counter,
    outbox_failed: Counter,
    /// Mail quarantined unparsed, by reason.
    unparsed: Family<refusals::UnparsedLabels, Counter>,
    /// Reloads (SIGHUP) applied and refused.
    reloads: Counter,
    reloads_refused: Counter,
    imap_state: Family<ImapLabels, Gauge>,
    /// The current `ImapState`, as its number (the gauges say it per state).
    imap: AtomicU8,
    worker_up: Family<WorkerLabels, Gauge>,
    /// When intake last finished a round (Unix seconds; 0: not yet).
    intake_round: Gauge,
    /// The same, in milliseconds, for the health rule's arithmetic.
    intake_round_ms: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let mail_in = Family::<MailLabels, Counter>::default();
        // Every series exists from the start, so a rate over it never has a gap.
        for kind in MailKind::all() {
            for outcome in MailOutcome::ALL {
                let _ = mail_in.get_or_create(&MailLabels { kind, outcome });
            }
        }
        registry.register("mail_in", "Messages taken from the mailbox, by kind and outcome", mail_in.clone());
        let auth_verdicts = Family::<AuthLabels, Counter>::default();
        for verdict in crate::auth::Outcome::ALL {
            let _ = auth_verdicts.get_or_create(&AuthLabels { verdict });
        }
        registry.register(
            "auth_verdicts",
            "Messages settled (handled or quarantined), by authentication verdict; once per message",
            auth_verdicts.clone(),
        );
        let auth_deferred = Counter::default();
        registry.register(
            "auth_deferred",
            "Verifications DNS could not settle: the message waited for another attempt (per attempt)",
            auth_deferred.clone(),
        );
        let outbox_sent = Counter::default();
        registry.register("outbox_sent", "Mails the SMTP server accepted", outbox_sent.clone());
        let outbox_failed = Counter::default();
        registry.register(
            "outbox_failed",
            "Send attempts that failed (retried later, or given up)",
            outbox_failed.clone(),
        );
        let unparsed = refusals::unparsed_family();
        registry.register(
            "mail_unparsed",
            "Messages quarantined without being parsed (poison, oversized, over a parse limit), by reason",
            unparsed.clone(),
        );
        registry.register_collector(Box::new(refusals::ReplyCapHits));
        let reloads = Counter::default();
        registry.register("config_reloads", "Reloads of the config (SIGHUP) applied", reloads.clone());
        let reloads_refused = Counter::default();
        registry.register(
            "config_reloads_refused",
            "Reloads refused for an error: the running config stayed",
            reloads_refused.clone(),
        );
        let imap_state = Family::<ImapLabels, Gauge>::default();
        registry.register("imap_state", "IMAP connection of this instance (1 = current state)", imap_state.clone());
        let worker_up = Family::<WorkerLabels, Gauge>::default();
        for worker in Worker::ALL {
            let _ = worker_up.get_or_create(&WorkerLabels { worker });
        }
        registry.register("worker_up", "Whether each worker of this instance is running", worker_up.clone());
        let intake_round = Gauge::default();
        registry.register_with_unit(
            "intake_last_round_timestamp",
            "When intake last finished a round (Unix time)",
            Unit::Seconds,
            intake_round.clone(),
        );
        let metrics = Self {
            registry,
            mail_in,
            auth_verdicts,
            auth_deferred,
            outbox_sent,
            outbox_failed,
            unparsed,
            reloads,
            reloads_refused,
            imap_state,
            imap: AtomicU8::new(ImapState::Reconnecting as u8),
            worker_up,
            intake_round,
            intake_round_ms: AtomicI64::new(0),
        };
        metrics.set_imap(ImapState::Reconnecting);
        metrics
    }
}

impl Metrics {
    /// Counts a reload, applied or refused.
    pub fn reload(&self, applied: bool) {
        if applied {
            self.reloads.inc()
        } else {
            self.reloads_refused.inc()
        };
    }

    pub fn mail_in(&self, kind: Option<Kind>, outcome: MailOutcome) {
        self.mail_in.get_or_create(&MailLabels { kind: MailKind(kind), outcome }).inc();
    }

    /// Counts one message's authentication verdict, when its outcome is
    /// committed: a message retried (DNS, a crash, a database error) is
    /// counted once, with the verdict it was settled on.
    pub fn auth_verdict(&self, verdict: crate::auth::Outcome) {
        self.auth_verdicts.get_or_create(&AuthLabels { verdict }).inc();
    }

    /// Counts one attempt left waiting for DNS.
    pub fn auth_deferred(&self) {
        self.auth_deferred.inc();
    }

    pub fn outbox_sent(&self) {
        self.outbox_sent.inc();
    }

    pub fn outbox_failed(&self) {
        self.outbox_failed.inc();
    }

    pub fn set_imap(&self, state: ImapState) {
        self.imap.store(state as u8, Ordering::Relaxed);
        for s in ImapState::ALL {
            self.imap_state.get_or_create(&ImapLabels { state: s }).set(i64::from(s == state));
        }
    }

    pub fn imap(&self) -> ImapState {
        match self.imap.load(Ordering::Relaxed) {
            1 => ImapState::Connected,
            2 => ImapState::Idle,
            _ => ImapState::Reconnecting,
        }
    }

    /// Intake finished a round at `now`: the mailbox was read and settled.
    pub fn intake_round(&self, now: DateTime<Utc>) {
        self.intake_round.set(now.timestamp());
        self.intake_round_ms.store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// When intake last finished a round, if it has.
    pub fn last_intake_round(&self) -> Option<DateTime<Utc>> {
        match self.intake_round_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// Runs a worker's future, marked running until it ends (or panics).
    pub fn track<F: Future<Output = ()>>(
        self: &Arc<Self>,
        worker: Worker,
        fut: F,
    ) -> impl Future<Output = ()> + use<F> {
        /// Clears the flag however the future ends, unwinding included.
        struct Running(Arc<Metrics>, Worker);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.set_running(self.1, false);
            }
        }
        let metrics = self.clone();
        async move {
            metrics.set_running(worker, true);
            let _running = Running(metrics, worker);
            fut.await;
        }
    }

    fn set_running(&self, worker: Worker, up: bool) {
        self.worker_up.get_or_create(&WorkerLabels { worker }).set(i64::from(up));
    }

    pub fn running(&self, worker: Worker) -> bool {
        self.worker_up.get_or_create(&WorkerLabels { worker }).get() == 1
    }

    /// How the workers stand at `now`. `since` is when watching began: a
    /// daemon whose intake never finished a round is stale that long after.
    pub fn health(&self, now: DateTime<Utc>, since: DateTime<Utc>, stale_after: Duration) -> Health {
        let workers = Worker::ALL.map(|w| (w, self.running(w)));
        let last = self.last_intake_round().unwrap_or(since);
        // A clock moved backwards counts as fresh, not as an outage.
        let intake_age = (now - last).to_std().unwrap_or_default();
        Health { workers, intake_age, intake_stale: intake_age > stale_after }
    }

    /// The registry of the counters, for the endpoint's exposition.
    fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// What `/health` and the watchdog judge by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Each worker, and whether it runs.
    pub workers: [(Worker, bool); Worker::ALL.len()],
    /// Since intake last finished a round.
    pub intake_age: Duration,
    /// Longer than `metrics.intake_stale_seconds`.
    pub intake_stale: bool,
}

impl Health {
    /// Every worker runs and intake keeps up (the database aside).
    pub fn ok(&self) -> bool {
        !self.intake_stale && self.workers.iter().all(|(_, up)| *up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tracked_worker_is_running_until_it_ends() {
        let m = Arc::new(Metrics::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(m.track(Worker::Sweep, async move {
            let _ = rx.await;
        }));
        while !m.running(Worker::Sweep) {
            tokio::task::yield_now().await;
        }
        let _ = tx.send(());
        task.await.unwrap();
        assert!(!m.running(Worker::Sweep));
        let panicking = tokio::spawn(m.track(Worker::Outbox, async { panic!("worker bug") }));
        assert!(panicking.await.is_err());
        assert!(!m.running(Worker::Outbox));
    }

    #[tokio::test]
    async fn health_needs_every_worker_and_a_fresh_intake_round() {
        let m = Arc::new(Metrics::default());
        let t0: DateTime<Utc> = "2026-11-16T01:30:00Z".parse().unwrap();
        let stale = Duration::from_secs(300);
        let (_hold, held) = tokio::sync::oneshot::channel::<()>();
        let held = futures_util::future::FutureExt::shared(async move {
            let _ = held.await;
        });
        let tasks: Vec<_> = Worker::ALL.iter().map(|w| tokio::spawn(m.track(*w, held.clone()))).collect();
        while !Worker::ALL.iter().all(|w| m.running(*w)) {
            tokio::task::yield_now().await;
        }
        // No round yet: judged from when watching began.
        assert!(m.health(t0 + chrono::Duration::seconds(300), t0, stale).ok());
        assert!(!m.health(t0 + chrono::Duration::seconds(301), t0, stale).ok());
        m.intake_round(t0 + chrono::Duration::seconds(200));
        let h = m.health(t0 + chrono::Duration::seconds(400), t0, stale);
        assert!(h.ok() && h.intake_age == Duration::from_secs(200), "{h:?}");
        assert!(!m.health(t0 + chrono::Duration::seconds(501), t0, stale).ok());
        // A clock set back is not an outage.
        assert!(m.health(t0, t0, stale).ok());
        tasks[3].abort();
        let _ = tasks.into_iter().nth(3).unwrap().await;
        let h = m.health(t0 + chrono::Duration::seconds(400), t0, stale);
        assert!(!h.ok() && h.workers[3] == (Worker::Report, false), "{h:?}");
    }
}
