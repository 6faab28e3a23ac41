//! Dispatch latency: complaints mailed one at a time to the real daemon,
//! timed from Postfix's acceptance to the forward in the station's inbox,
//! next to the raw floor (a mail sent straight to an inbox), and split into
//! stages from the daemon's own log.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::daemon_log::Moments;
use crate::rig::{Daemon, Dist, Lab, Network, STATIONS, Smtp, remove_database, secs_between, write_config};
use crate::watch::{self, Watcher};

/// How often the poll watcher looks: the resolution of "readable".
const POLL: Duration = Duration::from_millis(10);
/// Longest wait for one mail before it counts as lost.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
pub struct Latency {
    /// Mail sent straight to an inbox: accept → first readable (poll).
    pub floor_readable: Dist,
    /// Mail sent straight to an inbox: accept → IDLE notice.
    pub floor_idle: Dist,
    /// Complaint accepted → its forward first readable in the station inbox.
    pub readable: Dist,
    /// Complaint accepted → the station's IDLE announces the forward.
    pub idle_seen: Dist,
    /// Where the time goes, stage by stage (from the daemon's log).
    pub stages: Vec<Stage>,
    /// Complaints whose forward never appeared within the patience.
    pub lost: usize,
    /// Resident memory of the idle daemon before the run, KiB.
    pub idle_rss_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub dist: Dist,
}

/// One complaint's moments, all wall clock.
struct Trip {
    accepted: SystemTime,
    readable: SystemTime,
    idle_seen: SystemTime,
    ticket: Option<String>,
}

/// Waits for the next message both watchers report.
async fn arrival(idle: &mut Watcher, poll: &mut Watcher) -> Option<(watch::Seen, watch::Seen)> {
    let seen_poll = poll.next(PATIENCE).await?;
    let seen_idle = idle.next(PATIENCE).await?;
    Some((seen_poll, seen_idle))
}

/// A short random pause between mails, so sends do not fall in step with the poll.
async fn jitter() {
    tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(0..100))).await;
}

pub async fn run(lab: &Lab, complaints: usize, floor_mails: usize, work: &Path) -> anyhow::Result<Latency> {
    lab.wait_for_empty_queue(Duration::from_secs(600)).await?;
    let smtp = Smtp::new(lab, 1)?;

    // The floor: the same mail straight to an inbox, watched the same two ways.
    let floor = Network::new("f");
    let inbox = floor.station("BJ01");
    let (mut idle, mut poll) = (watch::idle(lab, &inbox).await?, watch::poll(lab, &inbox, POLL).await?);
    let (mut floor_readable, mut floor_idle) = (Vec::new(), Vec::new());
    for i in 0..floor_mails {
        let accepted = smtp.send(&floor.handler(i).0, &inbox, &floor.complaint(i, STATIONS[0])).await?;
        let (p, d) = arrival(&mut idle, &mut poll).await.context("floor mail never arrived")?;
        floor_readable.push(secs_between(accepted, p.at));
        floor_idle.push(secs_between(accepted, d.at));
        jitter().await;
    }
    idle.stop().await?;
    poll.stop().await?;

    // The desk: the real daemon between the call center and the station.
    let net = Network::new("l");
    let dir = work.join(&net.prefix);
    let config = write_config(lab, &net, &dir)?;
    let db = format!("sqlite://{}", dir.join("complaintd.db").display());
    let daemon = Daemon::start(&config, &db, &dir.join("complaintd.log")).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss_kib, _) = daemon.rss_kib()?;
    let station = net.station("BJ01");
    let (mut idle, mut poll) = (watch::idle(lab, &station).await?, watch::poll(lab, &station, POLL).await?);
    let mut trips = Vec::new();
    let mut lost = 0;
    for i in 0..complaints {
        let accepted = smtp.send(&net.handler(i).0, &net.dispatch(), &net.complaint(i, STATIONS[0])).await?;
        match arrival(&mut idle, &mut poll).await {
            Some((p, d)) => trips.push(Trip {
                accepted,
                readable: p.at,
                idle_seen: d.at,
                ticket: complaintd::ticket::TicketNo::find_in(&p.subject).map(|t| t.to_string()),
            }),
            None => {
                lost += 1;
                if lost > 3 {
                    bail!("forwards stopped arriving (see {})", daemon.log.display());
                }
            }
        }
        jitter().await;
    }
    idle.stop().await?;
    poll.stop().await?;
    let log = daemon.log.clone();
    daemon.stop()?;
    remove_database(&dir);

    let moments = Moments::read(&log)?;
    Ok(Latency {
        floor_readable: Dist::of(&floor_readable),
        floor_idle: Dist::of(&floor_idle),
        readable: Dist::of(&trips.iter().map(|t| secs_between(t.accepted, t.readable)).collect::<Vec<_>>()),
        idle_seen: Dist::of(&trips.iter().map(|t| secs_between(t.accepted, t.idle_seen)).collect::<Vec<_>>()),
        stages: stages(&trips, &moments),
        lost,
        idle_rss_kib,
    })
}

/// Splits each trip at the daemon's logged moments.
fn stages(trips: &[Trip], m: &Moments) -> Vec<Stage> {
    let mut cols: [Vec<f64>; 5] = Default::default();
    for t in trips {
        let Some(ticket) = &t.ticket else { continue };
        let (Some(&committed), Some(&sent)) = (m.committed.get(ticket), m.forward_sent.get(ticket)) else {
            continue;
        };
        let Some(woke) = m.idle_ended_between(t.accepted, committed) else { continue };
        cols[0].push(secs_between(t.accepted, woke));
        cols[1].push(secs_between(woke, committed));
        cols[2].push(secs_between(committed, sent));
        cols[3].push(secs_between(sent, t.readable));
        cols[4].push(secs_between(t.readable, t.idle_seen));
    }
    let names = [
        "accepted → daemon's IDLE wakes (delivery + Dovecot's notify delay)",
        "IDLE wakes → committed (SEARCH, FETCH, parse, DB transaction)",
        "committed → forward accepted by Postfix (outbox wake, claim, SMTP)",
        "forward accepted → readable in station inbox (Postfix → LMTP → Dovecot)",
        "readable → station's IDLE notice (Dovecot's notify delay again)",
    ];
    names.into_iter().zip(cols).map(|(name, v)| Stage { name, dist: Dist::of(&v) }).collect()
}
