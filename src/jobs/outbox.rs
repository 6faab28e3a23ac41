//! The outbox worker: sends committed mail, retries with backoff, and marks
//! each row sent once the server has accepted it.
//!
//! SMTP cannot make "sent" and "recorded as sent" one step: a crash or a
//! broken connection between the server's acceptance and our commit leaves a
//! mail in doubt. Every mail therefore carries a Bcc to `smtp.sent_copy`,
//! filed into the shared mailbox's Sent folder, and a mail in doubt is looked
//! up there (by its Message-ID) before it is sent again.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tracing::{info, warn};

use crate::auth::Signer;
use crate::clock::Clock;
use crate::config::MailboxSettings;
use crate::jobs::originals::Originals;
use crate::jobs::{Backoff, Step, Stop, pause};
use crate::mail::imap::Mailbox;
use crate::mail::smtp::Sender;
use crate::metrics::Metrics;
use crate::store::{PendingMail, Retry, Store};

/// A claimed row belongs to this instance for this long: well over
/// [`SEND_TIMEOUT`], so no other instance takes a mail still being sent.
const LEASE: Duration = Duration::from_secs(60);
/// A whole submission (connect, envelope, data) gets no longer than this.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// After this many failed attempts a mail is left for the operator.
const MAX_ATTEMPTS: i64 = 20;
/// Longest wait between attempts of one mail.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2048);
/// Longest sleep between rounds: other instances may have queued mail.
const IDLE_CHECK: Duration = Duration::from_secs(2);
/// A mail in doubt is looked for no sooner than this after the attempt,
/// giving its copy time to be delivered.
const DOUBT_RETRY: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Where the Bcc copies of sent mail are found again.
#[derive(Clone)]
pub struct SentCopies {
    /// Added to every envelope (never to the headers).
    pub address: String,
    /// The shared mailbox's account; its `sent_folder` holds the copies.
    pub mailbox: MailboxSettings,
    /// IMAP password.
    pub password: String,
    /// Extra CA to trust for IMAP.
    pub ca: Option<PathBuf>,
}

impl SentCopies {
    /// The ids of the mails whose copy is in the Sent folder.
    async fn find(&self, mails: &[PendingMail]) -> anyhow::Result<HashSet<i64>> {
        let folder = &self.mailbox.sent_folder;
        let mut sent = Mailbox::open_folder(&self.mailbox, &self.password, self.ca.as_deref(), folder).await?;
        let mut found = HashSet::new();
        for mail in mails {
            // SINCE compares dates in the server's zone: a day's margin.
            let since = mail.created_at.date_naive() - chrono::Days::new(1);
            if sent.has_message_id(&mail.message_id, since).await? {
                found.insert(mail.id);
            }
        }
        sent.logout().await;
        Ok(found)
    }
}

pub struct OutboxWorker {
    pub store: Store,
    pub sender: Sender,
    pub clock: Clock,
    /// Parallel submissions (the SMTP pool size); also the rows claimed per
    /// round, so a claimed row never waits behind others past its lease.
    pub parallel: usize,
    /// How mails in doubt are checked; `None` sends them again.
    pub sent_copies: Option<SentCopies>,
    /// Counts mail accepted and attempts failed.
    pub metrics: Arc<Metrics>,
    /// DKIM-signs each mail at send time, after its Date is set.
    pub signer: Option<Arc<Signer>>,
    /// Adds a forward's original attachments at send time.
    pub originals: Originals,
}

impl Step for OutboxWorker {
    fn name(&self) -> &'static str {
        "outbox"
    }

    async fn try_step(&self) -> anyhow::Result<usize> {
        self.send_due().await
    }

    /// Until the next mail falls due (other instances may queue mail: look
    /// at least every `IDLE_CHECK`).
    async fn wait(&self, stop: &Stop) {
        let wait = match self.store.next_outbox_due().await {
            Ok(Some(due)) => (due - self.clock.now()).to_std().unwrap_or_default().min(IDLE_CHECK),
            _ => IDLE_CHECK,
        };
        pause(wait, stop).await;
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_secs(5)
    }
}

impl OutboxWorker {
    /// Sends what is due now; returns how many mails were settled as sent.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let batch = self.store.claim_outbox(now, LEASE, self.parallel.max(1) as i64).await?;
        let (mut sent, to_send) = self.settle_doubts(batch).await?;
        let to_send = self.originals.add(&self.store, &self.clock, to_send).await?;
        let outcomes: Vec<anyhow::Result<Option<i64>>> = futures_util::stream::iter(to_send)
            .map(|mail| async move { self.send_one(mail).await })
            .buffer_unordered(self.parallel.max(1))
            .collect()
            .await;
        let mut failure = None;
        for outcome in outcomes {
            match outcome {
                Ok(accepted) => sent.extend(accepted),
                Err(e) => failure = Some(e),
            }
        }
        // One write for the round, not one per mail: the write lock is
        // shared with intake. A crash before it leaves this round's mails
        // in doubt, and their Sent copies settle them.
        self.store.mark_sent(&sent, self.clock.now()).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(sent.len()),
        }
    }

    /// Finds which mails in doubt were accepted (their copy is in the Sent
    /// folder); returns their ids, and the mails still to send.
    async fn settle_doubts(&self, batch: Vec<PendingMail>) -> anyhow::Result<(Vec<i64>, Vec<PendingMail>)> {
        let (doubtful, mut to_send): (Vec<_>, Vec<_>) = batch.into_iter().partition(|m| m.in_doubt);
        if doubtful.is_empty() {
            return Ok((Vec::new(), to_send));
        }
        let Some(copies) = &self.sent_copies else {
            for mail in &doubtful {
                warn!(key = %mail.key, "outbox: an earlier attempt may have been accepted; sending again (smtp.sent_copy is not set)");
            }
            to_send.extend(doubtful);
            return Ok((Vec::new(), to_send));
        };
        let found = match copies.find(&doubtful).await {
            Ok(found) => found,
            Err(e) => {
                let error = format!("in doubt; cannot look for its copy: {e:#}");
                warn!(mails = doubtful.len(), %error, "outbox: not sent");
                let now = self.clock.now();
                for mail in &doubtful {
                    let retry = Retry::At { when: now + DOUBT_RETRY, in_doubt: true };
                    self.store.mark_failed(mail.id, &error, retry, now).await?;
                }
                return Ok((Vec::new(), to_send));
            }
        };
        let mut confirmed = Vec::new();
        for mail in doubtful {
            if found.contains(&mail.id) {
                info!(key = %mail.key, "outbox: accepted before the interruption (its copy is in the Sent folder); not sent again");
                confirmed.push(mail.id);
            } else {
                to_send.push(mail);
            }
        }
        Ok((confirmed, to_send))
    }

    /// Sends one claimed mail; returns its id when the server accepted it
    /// (for the caller to mark), records the failure otherwise.
    async fn send_one(&self, mail: PendingMail) -> anyhow::Result<Option<i64>> {
        let mut recipients = mail.recipients.clone();
        if let Some(copies) = &self.sent_copies {
            recipients.push(copies.address.clone());
        }
        let body = crate::notify::compose::finalize(&mail.body, self.clock.now());
        // Signed last: nothing may change the bytes after this.
        let signed = match &self.signer {
            Some(signer) => signer.sign(&body),
            None => Ok(body),
        };
        let (error, in_doubt, permanent) = match signed {
            // Nothing was sent: retried like a refused submission.
            Err(e) => (e.to_string(), false, false),
            Ok(body) => {
                let sending = self.sender.send(&mail.envelope_from, &recipients, &body);
                match tokio::time::timeout(SEND_TIMEOUT, sending).await {
                    Ok(Ok(())) => {
                        self.metrics.outbox_sent();
                        info!(key = %mail.key, to = ?mail.recipients, "outbox: sent");
                        return Ok(Some(mail.id));
                    }
                    Ok(Err(e)) => (e.to_string(), e.may_have_been_accepted(), e.is_permanent()),
                    Err(_) => (format!("no answer in {SEND_TIMEOUT:?}"), true, false),
                }
            }
        };
        self.metrics.outbox_failed();
        let gave_up = permanent || mail.attempts >= MAX_ATTEMPTS;
        warn!(key = %mail.key, attempts = mail.attempts, gave_up, in_doubt, %error, "outbox: not accepted");
        let now = self.clock.now();
        let retry = if gave_up {
            Retry::GiveUp
        } else {
            // 2, 4, 8 … seconds, up to about half an hour.
            let attempts = u32::try_from(mail.attempts).unwrap_or(u32::MAX).saturating_add(2);
            let mut retry_in = Backoff::after_attempts(attempts, MAX_RETRY_WAIT);
            if in_doubt && self.sent_copies.is_some() {
                retry_in = retry_in.max(DOUBT_RETRY.to_std().unwrap_or_default());
            }
            Retry::At { when: now + chrono::TimeDelta::from_std(retry_in).unwrap_or_default(), in_doubt }
        };
        self.store.mark_failed(mail.id, &error, retry, now).await?;
        Ok(None)
    }
}
