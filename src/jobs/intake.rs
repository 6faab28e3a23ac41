//! The intake worker: takes new mail from the shared mailbox, commits its
//! effects, and only then moves it out of the inbox (handled or quarantine).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, Notify};
use tracing::{Instrument as _, info, info_span, warn};

use crate::auth::{Mode, Verifier};
use crate::desk::{Desk, DeskError, Disposition, Incoming};
use crate::intake::{self, Parsed};
use arc_swap::ArcSwap;

use crate::jobs::intake_plan as plan;
use crate::jobs::{Step, Stop};
use crate::mail::imap::{self, Fetched, Mailbox};
use crate::metrics::{ImapState, MailOutcome, Metrics, Unparsed};
use crate::printable::one_line;
use crate::store::{Hold, InboundOutcome, InboundRecord, MessageRef, Store, Taker};

/// Watches the mailbox and turns mail into effects.
pub struct IntakeWorker {
    /// The running desk: loaded afresh each round, so a reload applies.
    pub desk: Arc<ArcSwap<Desk>>,
    pub store: Store,
    /// IMAP password, resolved once at start.
    pub password: String,
    /// Rung after each commit, so mail goes out at once.
    pub outbox_wake: Arc<Notify>,
    /// Counts mail in and shows the IMAP connection's state.
    pub metrics: Arc<Metrics>,
    /// Who really sent each message (shared: it holds the DNS cache).
    pub verifier: Arc<Verifier>,
    /// The open session; `None` until connected, and again after a failure
    /// (the next round reconnects, after the run loop's backoff).
    mailbox: Mutex<Option<Mailbox>>,
    /// The highest UID seen by the last round: what is above it is fresh.
    last_seen: AtomicU32,
    /// This process, as it holds the messages it tries.
    taker: Taker,
    /// When the first message another instance holds is free again: the
    /// wait ends then, in case that instance died.
    free_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

/// How a message was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Parsed,
    /// Over `max_message_bytes`: only its header was fetched.
    Oversized,
    /// Over the parser's limits, or not exactly one From: never parsed.
    Refused(intake::Refusal),
    /// Its attempts reached the limit: only its header was fetched.
    GivenUp,
}

impl Reading {
    /// Why it was quarantined unparsed, if it was.
    fn unparsed(self) -> Option<Unparsed> {
        match self {
            Self::Parsed => None,
            Self::Oversized => Some(Unparsed::Oversized),
            Self::Refused(r) => Some(r.into()),
            Self::GivenUp => Some(Unparsed::GivenUp),
        }
    }
}

/// Where a message goes after its round.
enum Destination {
    Handled,
    Quarantine,
    /// Left in the inbox: its sender's verdict waits for DNS.
    Inbox,
}

impl IntakeWorker {
    pub fn new(
        desk: Arc<ArcSwap<Desk>>,
        store: Store,
        password: String,
        outbox_wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        verifier: Arc<Verifier>,
    ) -> Self {
        Self {
            desk,
            store,
            password,
            outbox_wake,
            metrics,
            verifier,
            mailbox: Mutex::new(None),
            last_seen: AtomicU32::new(0),
            taker: Taker::random(),
            free_at: std::sync::Mutex::new(None),
        }
    }

    fn set_free_at(&self, at: Option<DateTime<Utc>>) {
        *self.free_at.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// How long a wait may last: the poll interval, or until a message held
    /// elsewhere is free.
    fn max_wait(&self) -> Duration {
        let poll = Duration::from_secs(self.desk.load().settings.mailbox.poll_seconds.max(1));
        let free_at = *self.free_at.lock().unwrap_or_else(|e| e.into_inner());
        match free_at.map(|t| (t - Utc::now()).to_std().unwrap_or_default()) {
            Some(left) => poll.min(left.max(Duration::from_millis(100))),
            None => poll,
        }
    }

    async fn connect(&self) -> anyhow::Result<Mailbox> {
        let settings = &self.desk.load().settings;
        let ca = settings.mailbox.ca_file.as_ref().map(|p| settings.resolve(p));
        let mailbox = Mailbox::open(&settings.mailbox, &self.password, ca.as_deref()).await?;
        info!(folder = %mailbox.folder, uidvalidity = mailbox.uidvalidity, idle = mailbox.idle, "intake: mailbox open");
        self.metrics.set_imap(ImapState::Connected);
        Ok(mailbox)
    }

    /// One round on an open mailbox: fresh mail first (urgent first), then
    /// the backlog, up to a round's worth; fetched in batches bounded by
    /// bytes; each batch committed, then moved. Returns how many messages
    /// were taken.
    pub async fn take_round(&self, mailbox: &mut Mailbox) -> anyhow::Result<usize> {
        // Only this round's holds elsewhere may shorten the next wait: a
        // stale one would turn the wait into polling.
        self.set_free_at(None);
        let pending = mailbox.pending_uids().await?;
        let Some(&newest) = pending.last() else { return Ok(0) };
        let last_seen = self.last_seen.load(Ordering::Relaxed);
        let fresh: Vec<u32> = pending.iter().copied().filter(|u| *u > last_seen).take(plan::ROUND).collect();
        let urgent: HashSet<u32> = if fresh.len() < pending.len() {
            // Only worth a peek when a backlog is waiting behind them.
            mailbox
                .peek_subjects(&fresh)
                .await?
                .into_iter()
                .filter(|(_, h)| plan::is_urgent(h))
                .map(|(u, _)| u)
                .collect()
        } else {
            HashSet::new()
        };
        let mut uids = plan::order(&pending, last_seen, &urgent);
        uids.truncate(plan::ROUND);
        self.last_seen.store(newest, Ordering::Relaxed);
        let mut sizes = mailbox.sizes(&uids).await?;
        // Keep the planned order (sizes come in UID order).
        let rank: std::collections::HashMap<u32, usize> = uids.iter().enumerate().map(|(i, u)| (*u, i)).collect();
        sizes.sort_by_key(|(u, _)| rank.get(u).copied().unwrap_or(usize::MAX));
        let settings = &self.desk.load().settings.mailbox;
        let mailbox_name = format!("{}/{}", settings.user, mailbox.folder);
        // A message tried before without settling is fetched alone, so the
        // one that fails cannot take a batch of others down with it.
        let uids: Vec<u32> = sizes.iter().map(|(u, _)| *u).collect();
        let earlier = self.store.attempts_of(&mailbox_name, mailbox.uidvalidity, &uids).await?;
        // Holds are about which process is alive, in real seconds (as the
        // IMAP timeouts are), not the desk's business time.
        let now = Utc::now();
        // What another instance is trying now is its to finish; it is looked
        // at again when its hold runs out, should that instance have died.
        let held_elsewhere: HashMap<u32, DateTime<Utc>> = earlier
            .iter()
            .filter(|(_, a)| a.held_by_another(self.taker, now))
            .map(|(u, a)| (*u, a.held_until))
            .collect();
        self.set_free_at(held_elsewhere.values().min().copied());
        sizes.retain(|(u, _)| !held_elsewhere.contains_key(u));
        let alone: HashSet<u32> = earlier.keys().copied().collect();
        let uidvalidity = mailbox.uidvalidity;
        let mut taken = 0;
        for batch in plan::batches(&sizes, settings.batch_bytes.max(1), &alone) {
            let (mut whole, mut header_only, mut bytes) = (Vec::new(), Vec::new(), 0);
            // Counted (and committed) before the messages are fetched or
            // parsed: a crash or a stall still counts.
            let batch_uids: Vec<u32> = batch.iter().map(|(u, _)| *u).collect();
            let at = Utc::now();
            let until = at + plan::HOLD;
            let hold = Hold { taker: self.taker, at, until };
            let attempts = self.store.record_attempts(&mailbox_name, mailbox.uidvalidity, &batch_uids, hold).await?;
            if attempts.len() < batch.len() {
                // Another instance took some of them since they were looked at.
                self.set_free_at(Some(until));
            }
            let worked = async {
                for (uid, size) in &batch {
                    let Some(&tries) = attempts.get(uid) else { continue };
                    if tries > settings.max_attempts || *size > settings.max_message_bytes {
                        header_only.push(*uid);
                    } else {
                        whole.push(*uid);
                        bytes += size;
                    }
                }
                let mut fetched = mailbox.fetch(&header_only, 0, true).await?;
                fetched.extend(mailbox.fetch(&whole, bytes, false).await?);
                let (mut handled, mut quarantined) = (Vec::new(), Vec::new());
                for message in fetched {
                    let uid = message.uid;
                    let Some(&tries) = attempts.get(&uid) else { continue };
                    let span = info_span!("message", uid);
                    match self.take(mailbox, message, tries).instrument(span).await? {
                        Destination::Handled => handled.push(uid),
                        Destination::Quarantine => quarantined.push(uid),
                        // Not taken: the round does not count it, so a waiting
                        // message alone does not spin the loop.
                        Destination::Inbox => continue,
                    }
                    taken += 1;
                }
                mailbox.move_to(&handled, &settings.handled_folder).await?;
                mailbox.move_to(&quarantined, &settings.quarantine_folder).await?;
                anyhow::Ok(())
            };
            let worked = self.holding(&mailbox_name, uidvalidity, &batch_uids, worked).await;
            if let Err(e) = worked {
                // A command the server refused (another instance moved the
                // message first, say) is no fault of the messages: only
                // stalls and crashes count against them.
                if imap::refused_command(&e) {
                    self.store.release_attempts(&mailbox_name, mailbox.uidvalidity, &batch_uids, self.taker).await?;
                }
                return Err(e);
            }
        }
        Ok(taken)
    }

    /// Runs `work` on the messages of `uids`, renewing their hold while it
    /// lasts. A failed renewal is only logged: the hold then runs out, and
    /// the worst that follows is another instance's attempt besides ours.
    async fn holding<T>(&self, mailbox: &str, uidvalidity: u32, uids: &[u32], work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                () = tokio::time::sleep(plan::HOLD_RENEWAL) => {
                    let until = Utc::now() + plan::HOLD;
                    if let Err(e) = self.store.renew_holds(mailbox, uidvalidity, uids, self.taker, until).await {
                        warn!(error = %e, "intake: hold not renewed");
                    }
                }
            }
        }
    }

    /// Reads a message: refused unparsed when it exceeds the limits (or was
    /// given up on), else parsed on a blocking thread, whose stack (2 MiB,
    /// set by the runtime) the limits are sized for.
    async fn read(&self, message: Fetched, tries: u32) -> anyhow::Result<(Fetched, Parsed, Reading)> {
        let settings = &self.desk.load().settings;
        let max_attempts = settings.mailbox.max_attempts;
        if message.header_only {
            let (reason, reading) = if tries > max_attempts {
                (format!("given up after {max_attempts} attempts to fetch or read it"), Reading::GivenUp)
            } else {
                let max = settings.mailbox.max_message_bytes;
                (format!("message of {} bytes exceeds the limit of {max} bytes", message.size), Reading::Oversized)
            };
            let parsed = intake::refused(&message.raw, &reason);
            return Ok((message, parsed, reading));
        }
        let limits = settings.mailbox.limits;
        let desk = self.desk.load_full();
        // Screened and parsed in one go, off the runtime's threads: a large
        // message's scan must not hold up the outbox's sends.
        let parsing = tokio::task::spawn_blocking(move || {
            let parsed = intake::parse_screened(&message.raw, &desk.settings);
            (message, parsed)
        });
        // The parser catches its own panics; a join error means the runtime
        // is shutting down: the message is tried again later.
        let (message, parsed) = parsing.await.context("parser thread")?;
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(refusal) => {
                let parsed = intake::refused(&message.raw, &refusal.to_string());
                return Ok((message, parsed, Reading::Refused(refusal)));
            }
        };
        let decoded: usize = parsed.attachments.iter().map(|a| a.size).sum::<usize>() + parsed.reply_text.len();
        if decoded > limits.max_decoded_bytes {
            let refusal = intake::Refusal::DecodedTooLarge(limits.max_decoded_bytes);
            let parsed = intake::refused(&message.raw, &refusal.to_string());
            return Ok((message, parsed, Reading::Refused(refusal)));
        }
        Ok((message, parsed, Reading::Parsed))
    }

    /// Commits one message's effects (or finds they were committed before).
    async fn take(&self, mailbox: &Mailbox, message: Fetched, tries: u32) -> anyhow::Result<Destination> {
        let settings = &self.desk.load().settings;
        let (message, parsed, reading) = self.read(message, tries).await?;
        let mailbox_name = format!("{}/{}", settings.mailbox.user, mailbox.folder);
        let now = self.desk.load().clock.now();
        let mut record = InboundRecord::new(mailbox_name, mailbox.uidvalidity, message.uid, &parsed, now);
        if reading != Reading::Parsed {
            // Read from the header alone: only who sent it and why it is refused.
            record.kind = None;
        }
        // Outside the transaction: DNS may take its (bounded) time. Mail
        // read from its header alone cannot be verified (no body to hash).
        let verdict = match reading {
            Reading::Parsed if settings.auth.mode != Mode::Off => Some(self.verifier.verify(&message.raw).await),
            _ => None,
        };
        if let Some(v) = &verdict {
            record.auth = serde_json::to_string(v).ok();
        }
        drop(message);
        let kind = record.kind;
        let mut tx = self.store.begin().await?;
        let Some(inbound) = tx.claim_inbound(&record).await? else {
            // Taken before (a crash between commit and move, or the same
            // Message-ID delivered twice): its effects exist; just move it.
            let earlier = tx.inbound_outcome(&record).await?;
            let m = MessageRef { mailbox: &record.mailbox, uidvalidity: record.uidvalidity, uid: record.uid };
            tx.forget_attempts(m).await?;
            tx.commit().await?;
            self.metrics.mail_in(kind, MailOutcome::Duplicate);
            return Ok(match earlier {
                Some(InboundOutcome::Quarantined) => Destination::Quarantine,
                _ => Destination::Handled,
            });
        };
        let incoming = Incoming { msg: &parsed, inbound, auth: verdict.as_ref() };
        let applied = match reading {
            Reading::Oversized => self.desk.load().unreadable(&mut tx, incoming, "oversized").await,
            Reading::GivenUp => self.desk.load().given_up(&mut tx, incoming).await,
            Reading::Refused(_) => Ok(Disposition::Quarantined {
                ticket: None,
                reason: format!("refused: {}", parsed.problems.join("; ")),
            }),
            Reading::Parsed => self.desk.load().apply(&mut tx, incoming).await,
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
            Disposition::Wait { reason } => {
                // Nothing written; the attempt is not held against it: DNS
                // failing is no fault of the message's, and an outage must not
                // make good mail "poison".
                drop(tx);
                let m = MessageRef { mailbox: &record.mailbox, uidvalidity: record.uidvalidity, uid: record.uid };
                let mut tx = self.store.begin().await?;
                tx.forget_attempts(m).await?;
                tx.commit().await?;
                self.metrics.auth_deferred();
                warn!(from = %one_line(&record.sender), reason = %one_line(reason), "intake: sender not verifiable yet; left in the inbox");
                return Ok(Destination::Inbox);
            }
        };
        tx.settle_inbound(inbound, outcome, Some(reason), ticket).await.context("recording the outcome")?;
        let m = MessageRef { mailbox: &record.mailbox, uidvalidity: record.uidvalidity, uid: record.uid };
        tx.forget_attempts(m).await?;
        tx.commit().await?;
        // Its mail goes out now, not after the rest of the round.
        self.outbox_wake.notify_one();
        self.metrics.mail_in(kind, outcome.into());
        // Counted here, once the outcome is committed, not per attempt.
        if let Some(v) = &verdict {
            self.metrics.auth_verdict(v.verdict);
        }
        if let Some(why) = reading.unparsed() {
            self.metrics.unparsed(why);
        }
        match &disposition {
            Disposition::Handled { ticket, note } => {
                info!(from = %one_line(&record.sender), ticket = ?ticket.as_ref().map(|t| t.as_str()), %note, "intake: handled");
                Ok(Destination::Handled)
            }
            Disposition::Quarantined { reason, .. } => {
                warn!(from = %one_line(&record.sender), subject = %one_line(&record.subject), reason = %one_line(reason), "intake: quarantined");
                Ok(Destination::Quarantine)
            }
            Disposition::Wait { .. } => Ok(Destination::Inbox), // returned above
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
                self.metrics.intake_round(self.desk.load().clock.now());
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
        let max_wait = self.max_wait();
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
        if let Err(e) = self.store.release_holds(self.taker).await {
            warn!(error = %e, "intake: holds not released; they run out by themselves");
        }
    }
}
