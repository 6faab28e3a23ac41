//! Backlog: N complaints already in the shared mailbox when the daemon
//! starts, timed until every forward is in a station inbox; beside it the
//! raw lab: the same N mails sent straight to station inboxes through
//! Postfix, and one IMAP FETCH of the whole mailbox.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::daemon_log::Moments;
use crate::rig::{Daemon, Lab, Network, STATIONS, Session, Smtp, count, imap_login, remove_database, write_config};

/// Client connections for filling and for the raw SMTP run: the daemon's
/// own SMTP pool size (config/example.toml), so both sides get the same.
pub(crate) const CONNECTIONS: usize = 4;

#[derive(Debug, Serialize)]
pub struct Backlog {
    /// Complaints in the backlog (and raw mails sent).
    pub mails: usize,
    /// Size of one complaint, bytes.
    pub mail_bytes: usize,
    /// Filling the shared mailbox by IMAP APPEND, seconds.
    pub fill_secs: f64,
    /// One `UID FETCH 1:* (BODY.PEEK[])` of the whole backlog, seconds.
    pub raw_fetch_secs: f64,
    /// The same N mails sent straight to the station inboxes: all accepted by Postfix, seconds.
    pub raw_smtp_accepted_secs: f64,
    /// … and all readable in the inboxes, seconds.
    pub raw_smtp_secs: f64,
    /// The desk's mail for N complaints (2N submissions, 5N deliveries) sent
    /// straight through Postfix, until all delivered, seconds.
    pub raw_desk_pattern_secs: f64,
    /// Daemon start → every forward in a station inbox, seconds.
    pub desk_secs: f64,
    /// Daemon start → every copy and acknowledgement in the handler's inbox too, seconds.
    pub desk_drain_secs: f64,
    /// Daemon start → first forward in a station inbox, seconds.
    pub desk_first_secs: f64,
    /// Complaints per second through the desk.
    pub desk_rate: f64,
    /// Mails per second through raw Postfix.
    pub raw_smtp_rate: f64,
    /// Mails per second of the raw FETCH.
    pub raw_fetch_rate: f64,
    /// desk_rate / raw_smtp_rate.
    pub fraction_of_smtp: f64,
    /// Daemon start → all delivered, against the same mail sent straight
    /// (raw_desk_pattern_secs / desk_drain_secs).
    pub fraction_of_same_mail: f64,
    /// desk_rate / raw_fetch_rate.
    pub fraction_of_fetch: f64,
    /// Peak resident memory of the daemon during the backlog (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// CPU time the daemon used for the whole backlog (user + system), seconds.
    pub desk_cpu_secs: f64,
    /// Resident memory 5 s after the backlog is done, KiB.
    pub idle_rss_after_kib: u64,
    /// Warnings the daemon logged (first few).
    pub warnings: Vec<String>,
}

/// Sessions that count the messages in a set of inboxes.
pub(crate) struct Counter {
    /// One session per account: STATUS is per user on the lab.
    sessions: Vec<Session>,
}

impl Counter {
    pub(crate) async fn new(lab: &Lab, users: &[String]) -> anyhow::Result<Self> {
        let mut sessions = Vec::new();
        for u in users {
            sessions.push(imap_login(lab, u).await?);
        }
        Ok(Self { sessions })
    }

    pub(crate) async fn total(&mut self) -> anyhow::Result<usize> {
        let mut n = 0;
        for s in &mut self.sessions {
            n += count(s, "INBOX").await?;
        }
        Ok(n)
    }
}

pub(crate) fn station_inboxes(net: &Network) -> Vec<String> {
    STATIONS.iter().map(|(code, _)| net.station(code)).collect()
}

/// Puts N complaints into the shared mailbox with APPEND over several connections.
pub(crate) async fn fill(lab: &Lab, net: &Network, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..CONNECTIONS {
        let (lab, net) = (lab.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = imap_login(&lab, &net.dispatch()).await?;
            for i in (k..n).step_by(CONNECTIONS) {
                s.append("INBOX", None, None, net.complaint(i, STATIONS[i % STATIONS.len()])).await?;
            }
            s.logout().await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// One FETCH of every message body in the shared mailbox.
async fn raw_fetch(lab: &Lab, net: &Network, n: usize) -> anyhow::Result<f64> {
    let mut s = imap_login(lab, &net.dispatch()).await?;
    s.examine("INBOX").await?;
    let started = Instant::now();
    let fetched: Vec<_> = s.uid_fetch("1:*", "(UID RFC822.SIZE BODY.PEEK[])").await?.try_collect().await?;
    let secs = started.elapsed().as_secs_f64();
    let bodies = fetched.iter().filter(|f| f.body().is_some()).count();
    if bodies != n {
        bail!("raw FETCH read {bodies} messages, expected {n}");
    }
    s.logout().await?;
    Ok(secs)
}

/// What the raw SMTP run sends for each complaint.
#[derive(Clone, Copy, PartialEq)]
enum Pattern {
    /// One mail to the station: the issue's "same number of mails".
    Station,
    /// What the desk sends: a mail to the station copied to the handler, and
    /// one to the handler, each with the Bcc that files a copy into the
    /// desk's Sent folder (two submissions, five deliveries; the copies are
    /// not waited for, as they are not for the daemon).
    Desk,
}

/// N complaints' worth of mail straight through Postfix; returns the seconds
/// until all were accepted and until all were in their inboxes.
async fn raw_smtp(lab: &Lab, n: usize, pattern: Pattern, patience: Duration) -> anyhow::Result<(f64, f64)> {
    let net = Network::new("r");
    let mut inboxes = station_inboxes(&net);
    let mut expect = n;
    if pattern == Pattern::Desk {
        inboxes.extend(net.handlers());
        expect = 3 * n;
    }
    let mut counter = Counter::new(lab, &inboxes).await?;
    let smtp = Smtp::new(lab, CONNECTIONS as u32)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..CONNECTIONS {
        let (smtp, net) = (smtp.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            for i in (k..n).step_by(CONNECTIONS) {
                let (code, name) = STATIONS[i % STATIONS.len()];
                let mail = net.complaint(i, (code, name));
                let (handler, _) = net.handler(i);
                match pattern {
                    Pattern::Station => {
                        smtp.send(&handler, &net.station(code), &mail).await?;
                    }
                    Pattern::Desk => {
                        let sent = net.hq("complaints+Sent");
                        smtp.send_to(&handler, &[net.station(code), handler.clone(), sent.clone()], &mail).await?;
                        smtp.send_to(&handler, &[handler.clone(), sent], &mail).await?;
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let accepted = started.elapsed().as_secs_f64();
    while counter.total().await? < expect {
        if started.elapsed() > patience {
            bail!("raw SMTP: not all {expect} deliveries done in {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((accepted, started.elapsed().as_secs_f64()))
}

/// What one daemon run through a filled mailbox took.
pub(crate) struct Drained {
    /// Start → first forward in a station inbox, seconds.
    pub first: f64,
    /// Start → every forward in the station inboxes, seconds.
    pub forwarded: f64,
    /// Start → every copy and acknowledgement in the handler's inbox too, seconds.
    pub drained: f64,
    pub cpu_secs: f64,
    pub peak_rss_kib: u64,
    pub idle_rss_after_kib: u64,
    pub log: PathBuf,
}

/// Starts the daemon on `config` and times it through `n` complaints
/// waiting in `net`'s shared mailbox; stops it and removes its database.
pub(crate) async fn drain(
    lab: &Lab,
    net: &Network,
    config: &Path,
    db: &str,
    dir: &Path,
    n: usize,
    patience: Duration,
) -> anyhow::Result<Drained> {
    let mut stations = Counter::new(lab, &station_inboxes(net)).await?;
    let mut handler = Counter::new(lab, &net.handlers()).await?;
    let started = Instant::now();
    let daemon = Daemon::start(config, db, &dir.join("complaintd.log")).await?;
    let (mut first, mut forwarded) = (None, None);
    let drained = loop {
        let at = started.elapsed().as_secs_f64();
        if at > patience.as_secs_f64() {
            bail!("backlog not done in {patience:?} (see {})", daemon.log.display());
        }
        if forwarded.is_none() {
            let done = stations.total().await?;
            if done > 0 && first.is_none() {
                first = Some(at);
            }
            if done >= n {
                forwarded = Some(at);
            }
        } else if handler.total().await? >= 2 * n {
            // The handler gets a copy of each forward and an acknowledgement.
            break at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_secs = daemon.cpu_secs()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle_rss_after_kib, peak_rss_kib) = daemon.rss_kib()?;
    let log = daemon.log.clone();
    daemon.stop()?;
    remove_database(dir);
    Ok(Drained {
        first: first.unwrap_or(f64::NAN),
        forwarded: forwarded.unwrap_or(f64::NAN),
        drained,
        cpu_secs,
        peak_rss_kib,
        idle_rss_after_kib,
        log,
    })
}

pub async fn run(lab: &Lab, n: usize, work: &Path) -> anyhow::Result<Backlog> {
    let patience = Duration::from_secs(if n > 1000 { 600 } else { 180 });
    let net = Network::new("k");
    let mail_bytes = net.complaint(0, STATIONS[0]).len();
    let fill_secs = fill(lab, &net, n).await.context("filling the shared mailbox")?;
    let raw_fetch_secs = raw_fetch(lab, &net, n).await?;
    lab.wait_for_empty_queue(patience).await?;
    let (raw_smtp_accepted_secs, raw_smtp_secs) = raw_smtp(lab, n, Pattern::Station, patience).await?;
    lab.wait_for_empty_queue(patience).await?;
    let (_, raw_desk_pattern_secs) = raw_smtp(lab, n, Pattern::Desk, patience).await?;
    lab.wait_for_empty_queue(patience).await?;

    let dir = work.join(&net.prefix);
    let config = write_config(lab, &net, &dir)?;
    let db = format!("sqlite://{}", dir.join("complaintd.db").display());
    let d = drain(lab, &net, &config, &db, &dir, n, patience).await?;
    let rate = |secs: f64| n as f64 / secs;
    Ok(Backlog {
        mails: n,
        mail_bytes,
        fill_secs,
        raw_fetch_secs,
        raw_smtp_accepted_secs,
        raw_smtp_secs,
        raw_desk_pattern_secs,
        desk_secs: d.forwarded,
        desk_drain_secs: d.drained,
        desk_first_secs: d.first,
        desk_rate: rate(d.forwarded),
        raw_smtp_rate: rate(raw_smtp_secs),
        raw_fetch_rate: rate(raw_fetch_secs),
        fraction_of_smtp: rate(d.forwarded) / rate(raw_smtp_secs),
        fraction_of_fetch: rate(d.forwarded) / rate(raw_fetch_secs),
        fraction_of_same_mail: raw_desk_pattern_secs / d.drained,
        peak_rss_kib: d.peak_rss_kib,
        desk_cpu_secs: d.cpu_secs,
        idle_rss_after_kib: d.idle_rss_after_kib,
        warnings: Moments::read(&d.log)?.warnings,
    })
}
