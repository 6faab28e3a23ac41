//! The intake worker: takes new mail from the shared mailbox, commits its
//! effects, and only then moves it out of the inbox (handled or quarantine).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::dispatch::{Dispatcher, Disposition};
use crate::intake;
use crate::jobs::{Backoff, pause};
use crate::mail::imap::{Fetched, Mailbox};
use crate::metrics::{ImapState, Metrics};
use crate::store::{InboundRecord, Store, StoreError};

/// Messages taken per round: bounds memory with a large backlog.
const BATCH: usize = 200;

/// Watches the mailbox and turns mail into effects.
pub struct IntakeWorker {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Store,
    /// IMAP password, resolved once at start.
    pub password: String,
    /// Rung after each commit, so mail goes out at once.
    pub outbox_wake: Arc<Notify>,
    /// Counts mail in and shows the IMAP connection's state.
    pub metrics: Arc<Metrics>,
}

/// Where a message goes after its round.
enum Destination {
    Handled,
    Quarantine,
}

impl IntakeWorker {
    /// Runs until `stop`, reconnecting with backoff after any failure.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_secs(60));
        while !*stop.borrow() {
            match self.session(&stop, &mut backoff).await {
                Ok(()) => break,
                Err(e) => {
                    self.metrics.set_imap(ImapState::Reconnecting);
                    let wait = backoff.next_wait();
                    warn!(error = %format!("{e:#}"), retry_in = ?wait, "intake: mailbox unavailable");
                    if pause(wait, &stop).await {
                        break;
                    }
                }
            }
        }
        info!("intake stopped");
    }

    async fn session(&self, stop: &watch::Receiver<bool>, backoff: &mut Backoff) -> anyhow::Result<()> {
        let settings = &self.dispatcher.settings;
        let ca = settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p));
        let mut mailbox = Mailbox::open(&settings.mailbox, &self.password, ca.as_deref()).await?;
        info!(folder = %mailbox.folder, uidvalidity = mailbox.uidvalidity, idle = mailbox.idle, "intake: mailbox open");
        backoff.reset();
        self.metrics.set_imap(ImapState::Connected);
        let max_wait = Duration::from_secs(settings.mailbox.poll_seconds.max(1));
        loop {
            let taken = self.try_step(&mut mailbox).await?;
            self.metrics.intake_round(self.dispatcher.clock.now());
            if taken > 0 {
                continue;
            }
            if *stop.borrow() {
                mailbox.logout().await;
                return Ok(());
            }
            self.metrics.set_imap(if mailbox.idle { ImapState::Idle } else { ImapState::Connected });
            mailbox = mailbox.wait(max_wait, stop).await?;
            self.metrics.set_imap(ImapState::Connected);
        }
    }

    /// One round: every pending message (up to a batch) is committed, then
    /// moved. Returns how many messages were taken.
    pub async fn try_step(&self, mailbox: &mut Mailbox) -> anyhow::Result<usize> {
        let mut uids = mailbox.pending_uids().await?;
        uids.truncate(BATCH);
        if uids.is_empty() {
            return Ok(0);
        }
        let max = self.dispatcher.settings.mailbox.max_message_bytes;
        let fetched = mailbox.fetch(&uids, max).await?;
        let (mut handled, mut quarantined) = (Vec::new(), Vec::new());
        for message in &fetched {
            match self.take(mailbox, message).await? {
                Destination::Handled => handled.push(message.uid),
                Destination::Quarantine => quarantined.push(message.uid),
            }
        }
        let settings = &self.dispatcher.settings.mailbox;
        mailbox.move_to(&handled, &settings.handled_folder).await?;
        mailbox.move_to(&quarantined, &settings.quarantine_folder).await?;
        Ok(fetched.len())
    }

    /// Commits one message's effects (or finds they were committed before).
    async fn take(&self, mailbox: &Mailbox, message: &Fetched) -> anyhow::Result<Destination> {
        let settings = &self.dispatcher.settings;
        let mut record = InboundRecord {
            mailbox: format!("{}/{}", settings.mailbox.user, mailbox.folder),
            uidvalidity: mailbox.uidvalidity,
            uid: message.uid,
            message_id: None,
            sender: String::new(),
            subject: String::new(),
            kind: "oversized".into(),
            ticket: None,
            outcome: "pending".into(),
            reason: None,
            received_at: self.dispatcher.clock.now(),
        };
        let mut parsed = intake::parse(&message.raw, settings);
        record.message_id = parsed.message_id.clone();
        record.sender = parsed.from.clone();
        record.subject = parsed.subject.clone();
        if message.header_only {
            // Read from the header alone: only who sent it and why it is refused.
            let max = settings.mailbox.max_message_bytes;
            parsed.problems = vec![format!("message of {} bytes exceeds the limit of {max} bytes", message.size)];
        } else {
            record.kind = serde_json::to_value(parsed.kind)?.as_str().unwrap_or_default().to_owned();
        }
        let mut tx = self.store.begin().await?;
        if !tx.claim_inbound(&record).await? {
            // Taken before (a crash between commit and move, or the same
            // Message-ID delivered twice): its effects exist; just move it.
            let earlier = tx.inbound_outcome(&record).await?;
            tx.commit().await?;
            self.metrics.mail_in(&record.kind, "duplicate");
            return Ok(match earlier.as_deref() {
                Some("quarantined") => Destination::Quarantine,
                _ => Destination::Handled,
            });
        }
        let applied = if message.header_only {
            self.dispatcher.unreadable(&mut tx, &parsed, "oversized").await
        } else {
            self.dispatcher.apply(&mut tx, &parsed).await
        };
        let disposition = match applied {
            Ok(d) => d,
            // A database failure is retried with the whole message.
            Err(e) if e.downcast_ref::<StoreError>().is_some() => return Err(e),
            // Anything else is about this message: quarantine it, never loop on it.
            Err(e) => {
                drop(tx);
                tx = self.store.begin().await?;
                if !tx.claim_inbound(&record).await? {
                    return Ok(Destination::Handled);
                }
                Disposition::Quarantined { ticket: None, reason: format!("{e:#}") }
            }
        };
        let (ticket, reason) = match &disposition {
            Disposition::Handled { ticket, note } => (ticket.as_ref(), note.as_str()),
            Disposition::Quarantined { ticket, reason } => (ticket.as_ref(), reason.as_str()),
        };
        tx.settle_inbound(&record, disposition.outcome(), Some(reason), ticket)
            .await
            .context("recording the outcome")?;
        tx.commit().await?;
        // Its mail goes out now, not after the rest of the round.
        self.outbox_wake.notify_one();
        self.metrics.mail_in(&record.kind, disposition.outcome());
        match &disposition {
            Disposition::Handled { ticket, note } => {
                info!(uid = message.uid, from = %record.sender, ticket = ?ticket.as_ref().map(|t| t.as_str()), %note, "intake: handled");
                Ok(Destination::Handled)
            }
            Disposition::Quarantined { reason, .. } => {
                warn!(uid = message.uid, from = %record.sender, subject = %record.subject, %reason, "intake: quarantined");
                Ok(Destination::Quarantine)
            }
        }
    }
}
