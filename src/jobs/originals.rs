//! The original attachments of a forward that carries them (a reassign, a
//! re-send to a station's backup): its outbox row records the Message-ID of
//! the mail the ticket was filed from, and they are read back from that
//! message in the Handled folder (or the inbox, before its move) when the
//! mail is sent. Nothing is stored
//! twice, and the desk (inside the intake transaction) does no IMAP.
//!
//! One IMAP connection per round, opened only when a claimed row needs it.
//! A message no longer there is sent without its files, saying so; an IMAP
//! failure is retried a few times, then the mail goes without them too, so
//! the outbox is never blocked by the mailbox.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tracing::warn;

use crate::clock::Clock;
use crate::config::{MailboxSettings, Settings};
use crate::jobs::Backoff;
use crate::mail::imap::Mailbox;
use crate::notify::compose::{FileAttachment, attach, files_of};
use crate::store::{PendingMail, Retry, Store};

/// Attempts of a mail whose originals cannot be read (IMAP down) before it
/// is sent without them: about a minute of retries.
const TRIES: i64 = 6;
/// Longest wait between those attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Reading a round's originals gets no longer than this: with the send
/// that follows it stays well inside the claim's lease.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Said in the mail when its originals are not attached.
const GONE: &str = "（原投诉邮件已不在邮箱中，原附件未能随本邮件发送；如需附件，请联系受理人。）";
const UNREADABLE: &str = "（邮箱暂时无法读取，原附件未能随本邮件发送；如需附件，请联系受理人。）";

/// Where the originals are read back from.
pub struct Originals {
    /// The shared mailbox's account; its `handled_folder` holds the originals.
    pub mailbox: MailboxSettings,
    pub password: String,
    /// Extra CA to trust for IMAP.
    pub ca: Option<PathBuf>,
    /// Attachments are read as intake read them.
    pub settings: Settings,
}

/// What became of one original.
enum Found {
    Files(Vec<FileAttachment>),
    Gone,
}

impl Originals {
    /// Adds the originals to the claimed mails that carry them; returns the
    /// mails to send now. A mail whose original could not be read (an IMAP
    /// failure) is put back for a later attempt, up to [`TRIES`].
    pub async fn add(&self, store: &Store, clock: &Clock, mails: Vec<PendingMail>) -> anyhow::Result<Vec<PendingMail>> {
        let wanted: HashMap<i64, String> = mails.iter().filter_map(|m| Some((m.id, m.originals.clone()?))).collect();
        if wanted.is_empty() {
            return Ok(mails);
        }
        let found = match tokio::time::timeout(READ_TIMEOUT, self.read(wanted.values())).await {
            Ok(found) => found,
            Err(_) => Err(anyhow::anyhow!("no answer from the mailbox in {READ_TIMEOUT:?}")),
        };
        let mut ready = Vec::with_capacity(mails.len());
        for mut mail in mails {
            let Some(message_id) = wanted.get(&mail.id) else {
                ready.push(mail);
                continue;
            };
            let (files, note) = match &found {
                Ok(found) => match found.get(message_id) {
                    Some(Found::Files(files)) => (files.as_slice(), None),
                    _ => (&[][..], Some(GONE)),
                },
                Err(e) if mail.attempts < TRIES => {
                    let error = format!("reading the original attachments back: {e:#}");
                    warn!(key = %mail.key, %error, "outbox: not sent yet");
                    let attempts = u32::try_from(mail.attempts).unwrap_or(u32::MAX).saturating_add(2);
                    let wait =
                        chrono::TimeDelta::from_std(Backoff::after_attempts(attempts, MAX_WAIT)).unwrap_or_default();
                    let now = clock.now();
                    store
                        .mark_failed(mail.id, &error, Retry::At { when: now + wait, in_doubt: mail.in_doubt }, now)
                        .await?;
                    continue;
                }
                Err(e) => {
                    warn!(key = %mail.key, error = %format!("{e:#}"), "outbox: sending without the original attachments");
                    (&[][..], Some(UNREADABLE))
                }
            };
            match attach(&mail.body, files, note) {
                Ok(body) => mail.body = body,
                // Composed without room for them: sent as it was queued.
                Err(e) => warn!(key = %mail.key, error = %format!("{e:#}"), "outbox: original attachments not added"),
            }
            ready.push(mail);
        }
        Ok(ready)
    }

    /// Reads each original (by Message-ID) over one connection: from the
    /// Handled folder, else from the inbox, where a message filed a moment
    /// ago waits for its batch's move.
    async fn read(&self, ids: impl Iterator<Item = &String>) -> anyhow::Result<HashMap<String, Found>> {
        let folder = &self.mailbox.handled_folder;
        let mut mailbox = Mailbox::open_folder(&self.mailbox, &self.password, self.ca.as_deref(), folder).await?;
        let mut found = HashMap::new();
        let mut wanted: Vec<&String> = ids.collect();
        wanted.sort();
        wanted.dedup();
        let mut outcome = self.look_up(&mut mailbox, &wanted, &mut found).await;
        let missing: Vec<&String> =
            wanted.into_iter().filter(|id| matches!(found.get(*id), Some(Found::Gone))).collect();
        if outcome.is_ok() && !missing.is_empty() {
            outcome = match mailbox.select(&self.mailbox.folder).await {
                Ok(()) => self.look_up(&mut mailbox, &missing, &mut found).await,
                Err(e) => Err(e),
            };
        }
        mailbox.logout().await;
        outcome.map(|()| found)
    }

    /// Looks each of `ids` up in the selected folder, recording what it finds.
    async fn look_up(
        &self,
        mailbox: &mut Mailbox,
        ids: &[&String],
        found: &mut HashMap<String, Found>,
    ) -> anyhow::Result<()> {
        for id in ids {
            let original = match mailbox.fetch_by_message_id(id).await? {
                Some(raw) => Found::Files(files_of(&crate::intake::parse(&raw, &self.settings).attachments)),
                None => Found::Gone,
            };
            found.insert((*id).clone(), original);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use chrono::{TimeDelta, TimeZone, Utc};

    use super::*;
    use crate::notify::compose::{Draft, compose};
    use crate::store::OutboxMail;

    /// An IMAP server that refuses connections: a failure, not a mock.
    fn unreachable() -> Originals {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut settings = Settings::load(&root.join("config/example.toml")).expect("example config");
        settings.mailbox.server = "127.0.0.1:1".into();
        Originals { mailbox: settings.mailbox.clone(), password: "x".into(), ca: None, settings }
    }

    #[tokio::test]
    async fn an_unreadable_mailbox_delays_the_mail_a_few_times_then_it_goes_without_the_files() {
        let dir =
            std::env::temp_dir().join(format!("complaintd-originals-{}-{}", std::process::id(), fastrand::u64(..)));
        let store = Store::connect("sqlite://outbox.db", &dir).await.expect("store");
        let start = Utc.with_ymd_and_hms(2026, 11, 16, 2, 0, 0).single().expect("time");
        let clock = Clock::manual(start);
        let draft =
            Draft { to: vec!["a@example.test".into()], text: "正文".into(), attach_later: true, ..Draft::default() };
        let from = "d@example.test".parse().expect("address");
        let mail = OutboxMail {
            key: "k".into(),
            ticket: None,
            message_id: "m@x".into(),
            envelope_from: "d@example.test".into(),
            recipients: draft.recipients(),
            subject: "s".into(),
            body: compose(&draft, &from, "m@x", SystemTime::UNIX_EPOCH).expect("composed"),
            not_before: start,
            originals: Some("original@hq.example.test".into()),
            priority: crate::store::Priority::Normal,
        };
        let mut tx = store.begin().await.expect("tx");
        tx.enqueue(&mail, start).await.expect("queued");
        tx.commit().await.expect("commit");
        let originals = unreachable();
        for attempt in 1..=TRIES {
            // Well after any backoff: the row is due again.
            clock.set(start + TimeDelta::hours(attempt));
            let claimed = store.claim_outbox(clock.now(), Duration::from_secs(60), 10).await.expect("claim");
            assert_eq!(claimed.len(), 1, "attempt {attempt}");
            let ready = originals.add(&store, &clock, claimed).await.expect("add");
            if attempt < TRIES {
                assert!(ready.is_empty(), "attempt {attempt}: put back for later");
                let row = &store.outbox(None).await.expect("rows")[0];
                assert!(row.last_error.as_deref().unwrap_or("").contains("original attachments"), "{row:?}");
                continue;
            }
            assert_eq!(ready.len(), 1, "sent at last");
            let message = mail_parser::MessageParser::new().parse(&ready[0].body).expect("a message");
            let says = |p: &mail_parser::MessagePart| p.text_contents().is_some_and(|t| t == UNREADABLE);
            assert!(message.parts.iter().any(says), "the mail says why its files are missing");
        }
    }
}
