//! The intake worker: takes new mail from the shared mailbox, commits its
//! effects, and only then moves it out of the inbox (handled or quarantine).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Mutex, Notify};
use tracing::{Instrument as _, info, info_span, warn};

use crate::desk::{Desk, DeskError, Disposition, Incoming};
use crate::intake;
use crate::jobs::{Step, Stop};
use crate::mail::imap::{Fetched, Mailbox};
use crate::metrics::{ImapState, Metrics};
use crate::store::{InboundOutcome, InboundRecord, Store, kind_name};

/// Messages taken per round: bounds memory with a large backlog.
const BATCH: usize = 200;

/// Watches the mailbox and turns mail into effects.
pub struct IntakeWorker {
    pub desk: Arc<Desk>,
    pub store: Store,
    /// IMAP password, resolved once at start.
    pub password: String,
    /// Rung after each commit, so mail goes out at once.
    pub outbox_wake: Arc<Notify>,
    /// Counts mail in and shows the IMAP connection's state.
    pub metrics: Arc<Metrics>,
    /// The open session; `None` until connected, and again after a failure
    /// (the next round reconnects, after the run loop's backoff).
    mailbox: Mutex<Option<Mailbox>>,
}

/// Where a message goes after its round.
enum Destination {
    Handled,
    Quarantine,
}

impl IntakeWorker {
    pub fn new(
        desk: Arc<Desk>,
        store: Store,
        password: String,
        outbox_wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { desk, store, password, outbox_wake, metrics, mailbox: Mutex::new(None) }
    }

    async fn connect(&self) -> anyhow::Result<Mailbox> {
        let settings = &self.desk.settings;
        let ca = settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p));
        let mailbox = Mailbox::open(&settings.mailbox, &self.password, ca.as_deref()).await?;
        info!(folder = %mailbox.folder, uidvalidity = mailbox.uidvalidity, idle = mailbox.idle, "intake: mailbox open");
        self.metrics.set_imap(ImapState::Connected);
        Ok(mailbox)
    }

    /// One round on an open mailbox: every pending message (up to a batch)
    /// is committed, then moved. Returns how many messages were taken.
    pub async fn take_round(&self, mailbox: &mut Mailbox) -> anyhow::Result<usize> {
        let mut uids = mailbox.pending_uids().await?;
        uids.truncate(BATCH);
        if uids.is_empty() {
            return Ok(0);
        }
        let max = self.desk.settings.mailbox.max_message_bytes;
        let fetched = mailbox.fetch(&uids, max).await?;
        let (mut handled, mut quarantined) = (Vec::new(), Vec::new());
        for message in &fetched {
            let span = info_span!("message", uid = message.uid);
            match self.take(mailbox, message).instrument(span).await? {
                Destination::Handled => handled.push(message.uid),
                Destination::Quarantine => quarantined.push(message.uid),
            }
        }
        let settings = &self.desk.settings.mailbox;
        mailbox.move_to(&handled, &settings.handled_folder).await?;
        mailbox.move_to(&quarantined, &settings.quarantine_folder).await?;
        Ok(fetched.len())
    }

    /// Commits one message's effects (or finds they were committed before).
    async fn take(&self, mailbox: &Mailbox, message: &Fetched) -> anyhow::Result<Destination> {
        let settings = &self.desk.settings;
        let mut parsed = intake::parse(&message.raw, settings);
        let mailbox_name = format!("{}/{}", settings.mailbox.user, mailbox.folder);
        let now = self.desk.clock.now();
        let mut record = InboundRecord::new(mailbox_name, mailbox.uidvalidity, message.uid, &parsed, now);
        if message.header_only {
            // Read from the header alone: only who sent it and why it is refused.
            record.kind = None;
            let max = settings.mailbox.max_message_bytes;
            parsed.problems = vec![format!("message of {} bytes exceeds the limit of {max} bytes", message.size)];
        }
        let kind = kind_name(record.kind);
        let mut tx = self.store.begin().await?;
        let Some(inbound) = tx.claim_inbound(&record).await? else {
            // Taken before (a crash between commit and move, or the same
            // Message-ID delivered twice): its effects exist; just move it.
            let earlier = tx.inbound_outcome(&record).await?;
            tx.commit().await?;
            self.metrics.mail_in(kind, "duplicate");
            return Ok(match earlier {
                Some(InboundOutcome::Quarantined) => Destination::Quarantine,
                _ => Destination::Handled,
            });
        };
        let incoming = Incoming { msg: &parsed, inbound };
        let applied = if message.header_only {
            self.desk.unreadable(&mut tx, incoming, "oversized").await
        } else {
            self.desk.apply(&mut tx, incoming).await
        };
        let (disposition, inbound) = match applied {
            Ok(d) => (d, inbound),
            // A database failure is retried with the whole message.
            Err(DeskError::Store(e)) => return Err(e.into()),
            // Anything else is about this message: quarantine it, never loop on it.
            Err(DeskError::Message(e)) => {
                drop(tx);
                tx = self.store.begin().await?;
                let Some(inbound) = tx.claim_inbound(&record).await? else {
                    return Ok(Destination::Handled);
                };
                (Disposition::Quarantined { ticket: None, reason: format!("{e:#}") }, inbound)
            }
        };
        let (outcome, ticket, reason) = match &disposition {
            Disposition::Handled { ticket, note } => (InboundOutcome::Handled, ticket.as_ref(), note.as_str()),
            Disposition::Quarantined { ticket, reason } => {
                (InboundOutcome::Quarantined, ticket.as_ref(), reason.as_str())
            }
        };
        tx.settle_inbound(inbound, outcome, Some(reason), ticket).await.context("recording the outcome")?;
        tx.commit().await?;
        // Its mail goes out now, not after the rest of the round.
        self.outbox_wake.notify_one();
        self.metrics.mail_in(kind, outcome.as_str());
        match &disposition {
            Disposition::Handled { ticket, note } => {
                info!(from = %record.sender, ticket = ?ticket.as_ref().map(|t| t.as_str()), %note, "intake: handled");
                Ok(Destination::Handled)
            }
            Disposition::Quarantined { reason, .. } => {
                warn!(from = %record.sender, subject = %record.subject, %reason, "intake: quarantined");
                Ok(Destination::Quarantine)
            }
        }
    }
}

impl Step for IntakeWorker {
    fn name(&self) -> &'static str {
        "intake"
    }

    async fn try_step(&self) -> anyhow::Result<usize> {
        let mut slot = self.mailbox.lock().await;
        let mut mailbox = match slot.take() {
            Some(m) => m,
            None => self
                .connect()
                .await
                .inspect_err(|_| self.metrics.set_imap(ImapState::Reconnecting))
                .context("mailbox unavailable")?,
        };
        match self.take_round(&mut mailbox).await {
            Ok(n) => {
                // `/health` tells a stalled intake from a quiet mailbox by this.
                self.metrics.intake_round(self.desk.clock.now());
                *slot = Some(mailbox);
                Ok(n)
            }
            Err(e) => {
                // The session may be broken: the next round reconnects.
                self.metrics.set_imap(ImapState::Reconnecting);
                Err(e.context("mailbox unavailable"))
            }
        }
    }

    /// IDLE (or a poll's sleep) on the open session.
    async fn wait(&self, stop: &Stop) {
        let mut slot = self.mailbox.lock().await;
        let Some(mailbox) = slot.take() else { return };
        let max_wait = Duration::from_secs(self.desk.settings.mailbox.poll_seconds.max(1));
        self.metrics.set_imap(if mailbox.idle { ImapState::Idle } else { ImapState::Connected });
        match mailbox.wait(max_wait, stop).await {
            Ok(mailbox) => {
                self.metrics.set_imap(ImapState::Connected);
                *slot = Some(mailbox);
            }
            Err(e) => {
                self.metrics.set_imap(ImapState::Reconnecting);
                warn!(error = %format!("{e:#}"), "intake: mailbox unavailable");
            }
        }
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_secs(60)
    }

    async fn finish(&self) {
        if let Some(mailbox) = self.mailbox.lock().await.take() {
            mailbox.logout().await;
        }
    }
}
