//! What the daemon counts, and the local HTTP endpoint that serves it:
//! `/metrics` in Prometheus text format and `/health` for a supervisor.
//! The counters are atomics the workers bump; the gauges about tickets and
//! the outbox are read from the database at each scrape, so every instance
//! reports the same shared state. The responder is a few lines of HTTP/1.1
//! on a `TcpListener`: read the request line, answer, close.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::store::Store;
use crate::ticket::Status;

/// What intake makes of a message (`Parsed::kind`, or `oversized`).
const KINDS: [&str; 7] = ["complaint", "pre_report", "reply", "auto_reply", "bounce", "unrecognized", "oversized"];
/// How intake settles it; `duplicate`: taken before (same UID or Message-ID).
const OUTCOMES: [&str; 3] = ["handled", "quarantined", "duplicate"];
/// Every state a ticket can be in, so each is reported even at zero.
const STATUSES: [Status; 5] = [Status::Unrouted, Status::Open, Status::Contacted, Status::Resolved, Status::Closed];

/// Where the IMAP connection of this instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapState {
    /// Not connected: starting, or waiting to retry after a failure.
    Reconnecting = 0,
    /// Logged in and working (or polling).
    Connected = 1,
    /// Logged in and waiting in IMAP IDLE for new mail.
    Idle = 2,
}

impl ImapState {
    const ALL: [ImapState; 3] = [ImapState::Connected, ImapState::Idle, ImapState::Reconnecting];

    fn as_str(self) -> &'static str {
        match self {
            Self::Reconnecting => "reconnecting",
            Self::Connected => "connected",
            Self::Idle => "idle",
        }
    }
}

/// The daemon's workers, watched by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Intake = 0,
    Sweep = 1,
    Outbox = 2,
    Report = 3,
}

impl Worker {
    const ALL: [Worker; 4] = [Worker::Intake, Worker::Sweep, Worker::Outbox, Worker::Report];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Sweep => "sweep",
            Self::Outbox => "outbox",
            Self::Report => "report",
        }
    }
}

/// The counters, shared by the workers and the endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages taken, by kind × outcome (indices into KINDS and OUTCOMES).
    mail_in: [[AtomicU64; OUTCOMES.len()]; KINDS.len()],
    /// Mails the SMTP server accepted.
    outbox_sent: AtomicU64,
    /// Attempts the SMTP server refused or that failed (each is retried or given up).
    outbox_failed: AtomicU64,
    /// An `ImapState` as its number.
    imap: AtomicU8,
    /// Whether each worker's task is running, by `Worker` index.
    workers: [AtomicBool; Worker::ALL.len()],
}

impl Metrics {
    /// Counts one message taken from the mailbox; an unknown kind or
    /// outcome is counted as `unrecognized` / `quarantined` rather than lost.
    pub fn mail_in(&self, kind: &str, outcome: &str) {
        let k = KINDS.iter().position(|x| *x == kind).unwrap_or(5);
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(1);
        self.mail_in[k][o].fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_sent(&self) {
        self.outbox_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_failed(&self) {
        self.outbox_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_imap(&self, state: ImapState) {
        self.imap.store(state as u8, Ordering::Relaxed);
    }

    pub fn imap(&self) -> ImapState {
        match self.imap.load(Ordering::Relaxed) {
            1 => ImapState::Connected,
            2 => ImapState::Idle,
            _ => ImapState::Reconnecting,
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
                self.0.workers[self.1 as usize].store(false, Ordering::Relaxed);
            }
        }
        let metrics = self.clone();
        async move {
            metrics.workers[worker as usize].store(true, Ordering::Relaxed);
            let _running = Running(metrics, worker);
            fut.await;
        }
    }

    fn running(&self, worker: Worker) -> bool {
        self.workers[worker as usize].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition: the counters, and the gauges in
    /// `db` (`None` when the database did not answer).
    fn render(&self, db: Option<&DbGauges>) -> String {
        let mut out = String::new();
        family(&mut out, "mail_in_total", "counter", "Messages taken from the mailbox, by kind and outcome.");
        for (k, kind) in KINDS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.mail_in[k][o].load(Ordering::Relaxed);
                let _ = writeln!(out, "complaintd_mail_in_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
            }
        }
        family(&mut out, "outbox_sent_total", "counter", "Mails the SMTP server accepted.");
        let _ = writeln!(out, "complaintd_outbox_sent_total {}", self.outbox_sent.load(Ordering::Relaxed));
        family(&mut out, "outbox_failed_total", "counter", "Send attempts that failed (retried later, or given up).");
        let _ = writeln!(out, "complaintd_outbox_failed_total {}", self.outbox_failed.load(Ordering::Relaxed));
        family(&mut out, "imap_state", "gauge", "IMAP connection of this instance (1 = current state).");
        let imap = self.imap();
        for s in ImapState::ALL {
            let _ = writeln!(out, "complaintd_imap_state{{state=\"{}\"}} {}", s.as_str(), u8::from(s == imap));
        }
        family(&mut out, "worker_up", "gauge", "Whether each worker of this instance is running.");
        for w in Worker::ALL {
            let _ = writeln!(out, "complaintd_worker_up{{worker=\"{}\"}} {}", w.as_str(), u8::from(self.running(w)));
        }
        family(&mut out, "database_up", "gauge", "Whether the database answered this scrape.");
        let _ = writeln!(out, "complaintd_database_up {}", u8::from(db.is_some()));
        if let Some(db) = db {
            family(&mut out, "tickets", "gauge", "Tickets by state.");
            for status in STATUSES {
                let n = db.by_status.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
                let _ = writeln!(out, "complaintd_tickets{{status=\"{}\"}} {n}", status.as_str());
            }
            family(&mut out, "tickets_overdue", "gauge", "Open tickets past a deadline they still owe.");
            let _ = writeln!(out, "complaintd_tickets_overdue {}", db.overdue);
            family(&mut out, "outbox_unsent", "gauge", "Mails queued and not yet accepted by the SMTP server.");
            let _ = writeln!(out, "complaintd_outbox_unsent {}", db.unsent);
        }
        out
    }
}

/// The HELP and TYPE lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP complaintd_{name} {help}\n# TYPE complaintd_{name} {kind}");
}

/// The gauges read from the database at a scrape.
#[derive(Debug, Default)]
struct DbGauges {
    by_status: Vec<(String, i64)>,
    overdue: i64,
    unsent: i64,
}

/// How long a scrape waits for the database, and a client for its request.
const DB_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head longer than this is refused (nobody needs more for a GET).
const MAX_REQUEST: usize = 8192;

/// The endpoint: the counters and what it needs to read the gauges.
#[derive(Clone)]
pub struct Endpoint {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub clock: Clock,
}

impl Endpoint {
    /// Serves until `stop`; each connection answers one request.
    pub async fn serve(self, listener: TcpListener, stop: watch::Receiver<bool>) {
        let mut stop_rx = stop.clone();
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "metrics: listening");
        }
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let this = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = this.answer(stream).await {
                                debug!(error = %e, "metrics: request failed");
                            }
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                // Mapped to (): the guard `wait_for` returns must not live across an await.
                _ = async { stop_rx.wait_for(|s| *s).await.map(|_| ()) } => break,
            }
        }
        info!("metrics stopped");
    }

    async fn answer(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
            Ok(head) => head?,
            Err(_) => return Ok(()),
        };
        let (status, content_type, body) = match parse_request_line(&head) {
            Some(("GET", "/metrics")) => (200, "text/plain; version=0.0.4; charset=utf-8", self.metrics_text().await),
            Some(("GET", "/health")) => {
                let (ok, body) = self.health().await;
                (if ok { 200 } else { 503 }, "application/json", body)
            }
            Some(("GET", _)) => (404, "text/plain; charset=utf-8", "not found: try /metrics or /health\n".into()),
            Some(_) => (405, "text/plain; charset=utf-8", "only GET\n".into()),
            None => (400, "text/plain; charset=utf-8", "bad request\n".into()),
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Service Unavailable",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    }

    async fn db_gauges(&self) -> Option<DbGauges> {
        let read = async {
            Ok::<_, crate::store::StoreError>(DbGauges {
                by_status: self.store.status_counts().await?,
                overdue: self.store.overdue_count(self.clock.now()).await?,
                unsent: self.store.unsent_count().await?,
            })
        };
        match tokio::time::timeout(DB_TIMEOUT, read).await {
            Ok(Ok(g)) => Some(g),
            Ok(Err(e)) => {
                warn!(error = %e, "metrics: database unavailable");
                None
            }
            Err(_) => None,
        }
    }

    async fn metrics_text(&self) -> String {
        self.metrics.render(self.db_gauges().await.as_ref())
    }

    /// Healthy when every worker runs and the database answers.
    async fn health(&self) -> (bool, String) {
        let db = matches!(tokio::time::timeout(DB_TIMEOUT, self.store.ping()).await, Ok(Ok(())));
        let workers: serde_json::Map<String, serde_json::Value> =
            Worker::ALL.iter().map(|w| (w.as_str().to_owned(), self.metrics.running(*w).into())).collect();
        let ok = db && Worker::ALL.iter().all(|w| self.metrics.running(*w));
        let body = json!({
            "status": if ok { "ok" } else { "unavailable" },
            "database": if db { "ok" } else { "unavailable" },
            "workers": workers,
            "imap": self.metrics.imap().as_str(),
        });
        (ok, body.to_string() + "\n")
    }
}

/// Reads until the end of the request head (or what fits in MAX_REQUEST).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Method and path of `GET /metrics?x HTTP/1.1` (the query dropped).
fn parse_request_line(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    Some((method, target.split('?').next().unwrap_or(target)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_read_strictly() {
        assert_eq!(parse_request_line("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Some(("GET", "/metrics")));
        assert_eq!(parse_request_line("GET /health?verbose HTTP/1.0\r\n\r\n"), Some(("GET", "/health")));
        assert_eq!(parse_request_line("POST /metrics HTTP/1.1\r\n"), Some(("POST", "/metrics")));
        assert_eq!(parse_request_line("GET /metrics\r\n"), None);
        assert_eq!(parse_request_line("GET / metrics HTTP/1.1\r\n"), None);
        assert_eq!(parse_request_line(""), None);
        assert_eq!(parse_request_line("\u{0}\u{1}garbage"), None);
    }

    #[test]
    fn the_exposition_has_every_series_and_type() {
        let m = Metrics::default();
        m.mail_in("complaint", "handled");
        m.mail_in("complaint", "handled");
        m.mail_in("something-new", "weird");
        m.outbox_sent();
        m.set_imap(ImapState::Idle);
        let db = DbGauges { by_status: vec![("open".into(), 3)], overdue: 1, unsent: 2 };
        let text = m.render(Some(&db));
        for line in [
            "complaintd_mail_in_total{kind=\"complaint\",outcome=\"handled\"} 2",
            "complaintd_mail_in_total{kind=\"unrecognized\",outcome=\"quarantined\"} 1",
            "complaintd_mail_in_total{kind=\"bounce\",outcome=\"duplicate\"} 0",
            "complaintd_outbox_sent_total 1",
            "complaintd_outbox_failed_total 0",
            "complaintd_imap_state{state=\"idle\"} 1",
            "complaintd_imap_state{state=\"connected\"} 0",
            "complaintd_worker_up{worker=\"intake\"} 0",
            "complaintd_database_up 1",
            "complaintd_tickets{status=\"open\"} 3",
            "complaintd_tickets{status=\"closed\"} 0",
            "complaintd_tickets_overdue 1",
            "complaintd_outbox_unsent 2",
            "# TYPE complaintd_tickets gauge",
            "# TYPE complaintd_mail_in_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in\n{text}");
        }
        // Each family is declared once, before its samples.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
        let down = m.render(None);
        assert!(down.contains("complaintd_database_up 0") && !down.contains("complaintd_tickets{"), "{down}");
    }

    #[tokio::test]
    async fn a_tracked_worker_is_running_until_it_ends() {
        let m = Arc::new(Metrics::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(m.track(Worker::Sweep, async move {
            let _ = rx.await;
        }));
        tokio::task::yield_now().await;
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
}
