//! Nothing lost, nothing twice: the daemon, as a real process, killed with
//! SIGKILL at random moments while a backlog of complaints is handled.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use complaintd::ticket::TicketNo;

use crate::helpers::*;

/// Complaints queued (`COMPLAINTD_FAULT_COMPLAINTS` overrides).
const COMPLAINTS: usize = 1000;
/// SIGKILLs while they are handled.
const KILLS: usize = 10;

fn start_daemon(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .args(["run", "--config"])
        .arg(config)
        .env("COMPLAINTD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "open: lost = 0 holds, but mails in flight at the kill are sent again (about 2 per kill); run with --run-ignored"]
async fn killed_at_random_moments_it_loses_nothing_and_doubles_nothing() {
    let n: usize = std::env::var("COMPLAINTD_FAULT_COMPLAINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(COMPLAINTS);
    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let config = private_config(&prefix, &settings.database.url);
    let net = Network { prefix: prefix.clone() };
    let (handler, desk, station) = (net.hq("liujia"), net.hq("complaints"), net.station("BJ01"));

    // The backlog: n distinct customers (different phones and orders, so none is a repeat).
    for i in 0..n {
        let form =
            FORM_BJ01.replace("13900002222", &format!("139{i:08}")).replace("SO-2026-110001", &format!("SO-F-{i}"));
        let id = format!("{prefix}.f{i}@hq.example.test");
        smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, &form)).await;
    }

    for kill in 0..KILLS {
        let mut daemon = start_daemon(&config);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("reaped");
        println!("kill {}: {} forwards so far", kill + 1, count(&station, "INBOX").await);
    }

    // A last, undisturbed run finishes the work: every message handled,
    // every queued mail accepted, and Postfix done delivering.
    let mut daemon = start_daemon(&config);
    let store = complaintd::store::Store::connect(&settings.database.url, &root()).await.expect("db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let unhandled = count(&desk, "INBOX").await;
        let unsent = store.unsent_count().await.expect("outbox");
        let tickets = store.tickets(None, None).await.expect("tickets").len();
        if unhandled == 0 && unsent == 0 && tickets >= n && count(&station, "INBOX").await >= n {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stalled: {unhandled} unhandled, {unsent} unsent");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");

    let tickets = store.tickets(None, None).await.expect("tickets");
    let forwards = mailbox(&station, "INBOX").await;
    let mut numbers: Vec<TicketNo> = forwards.iter().filter_map(|m| TicketNo::find_in(&m.subject)).collect();
    numbers.sort();
    let distinct = {
        let mut d = numbers.clone();
        d.dedup();
        d.len()
    };
    let lost = n.saturating_sub(tickets.len().min(distinct));
    let duplicated = (tickets.len().saturating_sub(n)) + (numbers.len() - distinct);
    println!(
        "complaints = {n}, kills = {KILLS}, tickets = {}, forwards = {}, distinct forwards = {distinct}, lost = {lost}, duplicated = {duplicated}",
        tickets.len(),
        numbers.len()
    );
    assert_eq!((lost, duplicated), (0, 0));
}
