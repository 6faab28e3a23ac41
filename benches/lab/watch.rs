//! Watching an inbox the two ways a reader can: IDLE (what a mail client
//! sees) and a fast NOOP poll (when the message is first readable).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::rig::{Lab, Session, imap_login};

/// A message that appeared in the watched inbox.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When the watcher learnt of it (wall clock, comparable with the daemon's log).
    pub at: SystemTime,
    /// Its decoded subject (the poll watcher reads it; IDLE leaves it empty).
    pub subject: String,
}

/// A running watcher: its events and its stop switch.
pub struct Watcher {
    pub events: mpsc::UnboundedReceiver<Seen>,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Watcher {
    /// The next new message, or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Seen> {
        tokio::time::timeout(wait, self.events.recv()).await.ok().flatten()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await?
    }
}

async fn uids(session: &mut Session) -> anyhow::Result<HashSet<u32>> {
    Ok(session.uid_search("ALL").await?)
}

/// Selects the INBOX of `user` and notes what is there already.
async fn open(lab: &Lab, user: &str) -> anyhow::Result<(Session, HashSet<u32>)> {
    let mut session = imap_login(lab, user).await?;
    session.select("INBOX").await?;
    let known = uids(&mut session).await?;
    Ok((session, known))
}

/// Reports new messages as IDLE announces them.
pub async fn idle(lab: &Lab, user: &str) -> anyhow::Result<Watcher> {
    let (mut session, mut known) = open(lab, user).await?;
    let (tx, events) = mpsc::unbounded_channel();
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let mut handle = session.idle();
            handle.init().await?;
            let (wait, interrupt) = handle.wait_with_timeout(Duration::from_secs(600));
            let outcome = tokio::select! {
                r = wait => Some(r?),
                _ = stop_rx.wait_for(|s| *s) => None,
            };
            let at = SystemTime::now();
            drop(interrupt);
            session = handle.done().await?;
            match outcome {
                None => break,
                Some(IdleResponse::NewData(_)) => {
                    let now = uids(&mut session).await?;
                    let mut new: Vec<u32> = now.difference(&known).copied().collect();
                    new.sort_unstable();
                    for _ in new {
                        let _ = tx.send(Seen { at, subject: String::new() });
                    }
                    known = now;
                }
                Some(_) => {}
            }
            // Unsolicited responses pile up unread otherwise.
            while session.unsolicited_responses.try_recv().is_ok() {}
        }
        let _ = session.logout().await;
        Ok(())
    });
    Ok(Watcher { events, stop, task })
}

/// Reports new messages by NOOP + UID SEARCH every `every`: the time a
/// message is first readable, to within `every`.
pub async fn poll(lab: &Lab, user: &str, every: Duration) -> anyhow::Result<Watcher> {
    let (mut session, mut known) = open(lab, user).await?;
    let (tx, events) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        while !*stop_rx.borrow() {
            session.noop().await?;
            let now = uids(&mut session).await?;
            let at = SystemTime::now();
            let mut new: Vec<u32> = now.difference(&known).copied().collect();
            new.sort_unstable();
            for uid in new {
                let subject = subject(&mut session, uid).await?;
                let _ = tx.send(Seen { at, subject });
            }
            known = now;
            while session.unsolicited_responses.try_recv().is_ok() {}
            tokio::time::sleep(every).await;
        }
        let _ = session.logout().await;
        Ok(())
    });
    Ok(Watcher { events, stop, task })
}

async fn subject(session: &mut Session, uid: u32) -> anyhow::Result<String> {
    let fetched: Vec<_> = session.uid_fetch(uid.to_string(), "BODY.PEEK[HEADER]").await?.try_collect().await?;
    let header = fetched.iter().find_map(|f| f.header()).unwrap_or_default();
    let parsed = mail_parser::MessageParser::default().parse_headers(header);
    Ok(parsed.and_then(|m| m.subject().map(str::to_owned)).unwrap_or_default())
}
