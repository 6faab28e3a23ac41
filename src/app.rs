//! The composition root: builds the daemon from its settings and runs its
//! workers until stopped. Nothing imports it but the binary and the tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::auth::{Signer, Verifier};
use crate::board::{Board, BoardTemplates};
use crate::clock::Clock;
use crate::config::{Secret, Settings};
use crate::desk::Desk;
use crate::jobs::intake::IntakeWorker;
use crate::jobs::originals::Originals;
use crate::jobs::outbox::{OutboxWorker, SentCopies};
use crate::jobs::report::ReportWorker;
use crate::jobs::sweep::SweepWorker;
use crate::jobs::{self, Stop};
use crate::mail::smtp::Sender;
use crate::metrics::{Endpoint, Metrics, Worker};
use crate::setup::password;
use crate::store::Store;

/// The daemon, built and ready to run.
pub struct App {
    /// The running desk, swapped whole by a reload; workers load it each round.
    pub desk: Arc<ArcSwap<Desk>>,
    pub store: Store,
    pub sender: Sender,
    /// Rings the sweep: tests ring it after moving the clock.
    pub sweep_wake: Arc<Notify>,
    /// Rings the outbox worker: intake and sweep ring it after each commit.
    pub outbox_wake: Arc<Notify>,
    /// Rings the report worker: tests ring it after moving the clock.
    pub report_wake: Arc<Notify>,
    /// What the workers count, served by the metrics endpoint.
    pub metrics: Arc<Metrics>,
    /// The metrics endpoint's socket, bound at build so a taken port stops
    /// the start; `None` without a `[metrics]` section.
    metrics_listener: Option<TcpListener>,
    /// The desk board's socket, when `[http]` has users.
    board: Option<TcpListener>,
    /// The board's pages (reloaded with the rest), when it is served.
    pages: Option<Arc<ArcSwap<BoardTemplates>>>,
    /// IMAP password, resolved from the environment or the file.
    imap_password: String,
    /// Verifies incoming mail; one for all (it holds the DNS cache).
    verifier: Arc<Verifier>,
    /// Signs outgoing mail when `[dkim]` is configured.
    signer: Option<Arc<Signer>>,
}

impl App {
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let store = crate::setup::store(&settings).await?;
        let smtp_password =
            password(settings.smtp.password_env.as_deref(), settings.smtp.password.as_ref().map(Secret::expose));
        let smtp_ca = match &settings.smtp.ca_file {
            Some(p) => {
                Some(std::fs::read(settings.resolve(p)).with_context(|| format!("smtp.ca_file {}", p.display()))?)
            }
            None => None,
        };
        let sender = Sender::new(&settings.smtp, smtp_password, smtp_ca)?;
        let imap_password =
            password(settings.mailbox.password_env.as_deref(), settings.mailbox.password.as_ref().map(Secret::expose))
                .context("mailbox: no password (set mailbox.password_env or mailbox.password)")?;
        let metrics_listener = match &settings.metrics {
            Some(m) => Some(TcpListener::bind(m.listen).await.with_context(|| format!("metrics.listen {}", m.listen))?),
            None => None,
        };
        let board = match settings.http.as_ref().filter(|h| !h.users.is_empty()) {
            Some(h) => Some(TcpListener::bind(h.listen).await.with_context(|| format!("http.listen {}", h.listen))?),
            None => None,
        };
        let verifier = Arc::new(Verifier::new(&settings.auth).context("auth")?);
        let signer = match &settings.dkim {
            Some(dkim) => Some(Arc::new(Signer::load(dkim, &settings.base_dir).context("dkim")?)),
            None => None,
        };
        let desk = crate::setup::desk(settings, clock)?;
        let pages = match &board {
            Some(_) => Some(Arc::new(ArcSwap::from_pointee(board_pages(&desk)?))),
            None => None,
        };
        // Before any worker: deadlines that new holiday data moved are
        // repaired, and the sweep plans from them.
        let repair = desk.repair_deadlines(&store).await.context("repairing deadlines")?;
        if !repair.rescheduled.is_empty() {
            info!(
                years = ?repair.changed_years,
                tickets = repair.rescheduled.len(),
                "calendar: holiday data changed; deadlines recomputed"
            );
        }
        let desk = Arc::new(ArcSwap::from_pointee(desk));
        Ok(Self {
            desk,
            store,
            sender,
            sweep_wake: Arc::new(Notify::new()),
            outbox_wake: Arc::new(Notify::new()),
            report_wake: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::default()),
            metrics_listener,
            board,
            pages,
            imap_password,
            verifier,
            signer,
        })
    }

    /// Where the metrics endpoint listens (its port, when configured as 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the desk board listens, when it is served.
    pub fn board_addr(&self) -> Option<SocketAddr> {
        self.board.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// What re-reads the config on SIGHUP; usable while the app runs.
    pub fn reloader(&self, config: PathBuf) -> Reloader {
        Reloader {
            config,
            desk: self.desk.clone(),
            pages: self.pages.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
        }
    }

    pub fn intake_worker(&self) -> IntakeWorker {
        IntakeWorker::new(
            self.desk.clone(),
            self.store.clone(),
            self.imap_password.clone(),
            self.outbox_wake.clone(),
            self.metrics.clone(),
            self.verifier.clone(),
        )
    }

    /// The outbox worker for the running desk's settings.
    pub fn outbox_worker(&self) -> OutboxWorker {
        self.outbox_parts().build(&self.desk.load())
    }

    fn outbox_parts(&self) -> OutboxParts {
        OutboxParts {
            store: self.store.clone(),
            sender: self.sender.clone(),
            imap_password: self.imap_password.clone(),
            metrics: self.metrics.clone(),
            signer: self.signer.clone(),
        }
    }

    pub fn sweep_worker(&self) -> SweepWorker {
        SweepWorker::new(self.desk.clone(), self.store.clone(), self.outbox_wake.clone())
    }

    pub fn report_worker(&self) -> ReportWorker {
        ReportWorker { desk: self.desk.clone(), store: self.store.clone(), outbox_wake: self.outbox_wake.clone() }
    }

    /// Runs every worker until `stop` turns true, then lets them finish
    /// their current step. Dropping the returned future aborts them all.
    pub async fn run(mut self, stop: Stop) -> anyhow::Result<()> {
        let m = &self.metrics;
        let mut workers = tokio::task::JoinSet::new();
        // Intake needs no bell: IMAP IDLE tells it of new mail.
        let intake = jobs::run(self.intake_worker(), Arc::new(Notify::new()), stop.clone());
        workers.spawn(m.track(Worker::Intake, intake));
        let sweep = jobs::run(self.sweep_worker(), self.sweep_wake.clone(), stop.clone());
        workers.spawn(m.track(Worker::Sweep, sweep));
        let report = jobs::run(self.report_worker(), self.report_wake.clone(), stop.clone());
        workers.spawn(m.track(Worker::Report, report));
        // Built again after each reload: its settings follow the config.
        let parts = self.outbox_parts();
        let outbox = jobs::Rebuilt::new(self.desk.clone(), move |desk| parts.build(desk));
        let outbox = jobs::run(outbox, self.outbox_wake.clone(), stop.clone());
        workers.spawn(m.track(Worker::Outbox, outbox));
        if let (Some(listener), Some(settings)) =
            (self.metrics_listener.take(), self.desk.load().settings.metrics.clone())
        {
            let (store, clock) = (self.store.clone(), self.desk.load().clock.clone());
            let endpoint = Endpoint { metrics: m.clone(), store, clock, settings };
            workers.spawn(endpoint.serve(listener, stop.clone()));
        }
        if let (Some(listener), Some(pages)) = (self.board.take(), self.pages.clone()) {
            let board = Board::new(self.desk.clone(), self.store.clone(), pages);
            workers.spawn(crate::board::serve(board, listener, stop.clone()));
        }
        info!("complaintd running");
        while let Some(ended) = workers.join_next().await {
            if let Err(e) = ended {
                warn!(error = %e, "worker ended abnormally");
            }
        }
        self.store.close().await;
        Ok(())
    }
}

/// What the outbox worker is built from besides the settings: the same for
/// the daemon's whole run (the SMTP server, its pool size and the DKIM key
/// take a restart).
struct OutboxParts {
    store: Store,
    sender: Sender,
    imap_password: String,
    metrics: Arc<Metrics>,
    signer: Option<Arc<Signer>>,
}

impl OutboxParts {
    fn build(&self, desk: &Desk) -> OutboxWorker {
        let settings = &desk.settings;
        let sent_copies = settings.smtp.sent_copy.as_ref().map(|address| SentCopies {
            address: address.clone(),
            mailbox: settings.mailbox.clone(),
            password: self.imap_password.clone(),
            ca: settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p)),
        });
        OutboxWorker {
            store: self.store.clone(),
            sender: self.sender.clone(),
            clock: desk.clock.clone(),
            parallel: settings.smtp.pool_size as usize,
            sent_copies,
            metrics: self.metrics.clone(),
            signer: self.signer.clone(),
            originals: Originals {
                mailbox: settings.mailbox.clone(),
                password: self.imap_password.clone(),
                ca: settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p)),
                settings: settings.clone(),
            },
        }
    }
}

/// The board's pages, from the `board` folder of the templates directory.
/// Each is rendered with its sample context for `desk`: a broken page stops
/// the start (or the reload).
fn board_pages(desk: &Desk) -> anyhow::Result<BoardTemplates> {
    let settings = &desk.settings;
    Ok(BoardTemplates::load_checked(&settings.resolve(&settings.templates.dir).join("board"), desk)?)
}

/// Reloads the config file, the station directory in it, the templates and
/// the holiday files: all read and checked first, then swapped in at once.
/// The workers pick the new desk up at their next round; the IMAP session,
/// the outbox and the database stay as they are. What cannot change while
/// running (listen addresses, the database, the mailbox's and the SMTP server,
/// the DKIM key) takes a restart.
pub struct Reloader {
    config: PathBuf,
    desk: Arc<ArcSwap<Desk>>,
    pages: Option<Arc<ArcSwap<BoardTemplates>>>,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Reloader {
    /// One reload: on any error the running config stays, and the error is
    /// logged and counted.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let result = self.try_reload().await;
        match &result {
            Ok(()) => info!(config = %self.config.display(), "reload: applied"),
            Err(e) => {
                warn!(config = %self.config.display(), error = format!("{e:#}"), "reload: refused; the running config stays")
            }
        }
        self.metrics.reload(result.is_ok());
        result
    }

    async fn try_reload(&self) -> anyhow::Result<()> {
        let settings = Settings::load(&self.config)?;
        let clock = self.desk.load().clock.clone();
        let desk = Arc::new(crate::setup::desk(settings, clock)?);
        let pages = match &self.pages {
            Some(_) => Some(board_pages(&desk)?),
            None => None,
        };
        self.desk.store(desk.clone());
        if let (Some(live), Some(pages)) = (&self.pages, pages) {
            live.store(Arc::new(pages));
        }
        // New holiday data move the deadlines they change (idempotent: a
        // reload that changed none finds nothing).
        let repair = desk.repair_deadlines(&self.store).await.context("repairing deadlines")?;
        if !repair.rescheduled.is_empty() {
            info!(years = ?repair.changed_years, tickets = repair.rescheduled.len(), "reload: deadlines recomputed");
        }
        Ok(())
    }
}
