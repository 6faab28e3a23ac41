//! Builds the daemon from its settings and runs its workers until stopped.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::{Secret, Settings};
use crate::dispatch::Dispatcher;
use crate::jobs::intake::IntakeWorker;
use crate::jobs::outbox::{OutboxWorker, SentCopies};
use crate::jobs::report::ReportWorker;
use crate::jobs::sweep::SweepWorker;
use crate::mail::smtp::Sender;
use crate::metrics::{Endpoint, Metrics, Worker};
use crate::store::Store;
use crate::templates::Templates;

/// The daemon, built and ready to run.
pub struct App {
    pub dispatcher: Arc<Dispatcher>,
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
    /// IMAP password, resolved from the environment or the file.
    imap_password: String,
}

/// A password from the environment variable named in the config, else the file.
pub fn password(env: Option<&str>, inline: Option<&str>) -> Option<String> {
    env.and_then(|name| std::env::var(name).ok()).or_else(|| inline.map(str::to_owned))
}

/// Loads the calendar and the templates: everything start-up must check.
pub fn load_parts(settings: &Settings) -> anyhow::Result<(Calendar, Templates)> {
    let calendar = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p))?;
    let dir = settings.resolve(&settings.templates.dir);
    let templates = Templates::load(&dir, &Dispatcher::sample_context())?;
    Ok((calendar, templates))
}

impl App {
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let (calendar, templates) = load_parts(&settings)?;
        let store = Store::connect(&settings.database.url, &settings.base_dir)
            .await
            .with_context(|| format!("opening database {}", redact(&settings.database.url)))?;
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
        let dispatcher = Arc::new(Dispatcher::new(settings, calendar, templates, clock)?);
        Ok(Self {
            dispatcher,
            store,
            sender,
            sweep_wake: Arc::new(Notify::new()),
            outbox_wake: Arc::new(Notify::new()),
            report_wake: Arc::new(Notify::new()),
            metrics: Arc::new(Metrics::default()),
            metrics_listener,
            imap_password,
        })
    }

    /// Where the metrics endpoint listens (its port, when configured as 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn intake_worker(&self, outbox_wake: Arc<Notify>) -> IntakeWorker {
        IntakeWorker {
            dispatcher: self.dispatcher.clone(),
            store: self.store.clone(),
            password: self.imap_password.clone(),
            outbox_wake,
            metrics: self.metrics.clone(),
        }
    }

    pub fn outbox_worker(&self, wake: Arc<Notify>) -> OutboxWorker {
        let settings = &self.dispatcher.settings;
        let sent_copies = settings.smtp.sent_copy.as_ref().map(|address| SentCopies {
            address: address.clone(),
            mailbox: settings.mailbox.clone(),
            password: self.imap_password.clone(),
            ca: settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p)),
        });
        OutboxWorker {
            store: self.store.clone(),
            sender: self.sender.clone(),
            clock: self.dispatcher.clock.clone(),
            wake,
            parallel: settings.smtp.pool_size as usize,
            sent_copies,
            metrics: self.metrics.clone(),
        }
    }

    pub fn sweep_worker(&self, outbox_wake: Arc<Notify>) -> SweepWorker {
        SweepWorker {
            dispatcher: self.dispatcher.clone(),
            store: self.store.clone(),
            wake: self.sweep_wake.clone(),
            outbox_wake,
        }
    }

    pub fn report_worker(&self, outbox_wake: Arc<Notify>) -> ReportWorker {
        ReportWorker {
            dispatcher: self.dispatcher.clone(),
            store: self.store.clone(),
            wake: self.report_wake.clone(),
            outbox_wake,
        }
    }

    /// Runs every worker until `stop` turns true, then lets them finish
    /// their current step. Dropping the returned future aborts them all.
    pub async fn run(mut self, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let wake = self.outbox_wake.clone();
        let m = &self.metrics;
        let mut workers = tokio::task::JoinSet::new();
        workers.spawn(m.track(Worker::Intake, self.intake_worker(wake.clone()).run(stop.clone())));
        workers.spawn(m.track(Worker::Sweep, self.sweep_worker(wake.clone()).run(stop.clone())));
        workers.spawn(m.track(Worker::Report, self.report_worker(wake.clone()).run(stop.clone())));
        workers.spawn(m.track(Worker::Outbox, self.outbox_worker(wake).run(stop.clone())));
        if let (Some(listener), Some(settings)) =
            (self.metrics_listener.take(), self.dispatcher.settings.metrics.clone())
        {
            let (store, clock) = (self.store.clone(), self.dispatcher.clock.clone());
            let endpoint = Endpoint { metrics: m.clone(), store, clock, settings };
            workers.spawn(endpoint.serve(listener, stop.clone()));
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

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
