//! Nothing lost, nothing twice: the daemon, as a real process, killed with
//! SIGKILL at random moments while a backlog of complaints is handled.

use std::collections::HashSet;
use std::process::Child;
use std::time::Duration;

use complaintd::ticket::TicketNo;

use crate::helpers::*;

/// Complaints queued (`COMPLAINTD_FAULT_COMPLAINTS` overrides).
const COMPLAINTS: usize = 1000;
/// SIGKILLs while they are handled.
const KILLS: usize = 10;

/// A mailbox's messages: (all, tickets named in the subjects, distinct Message-IDs).
async fn messages_in(user: &str) -> (usize, HashSet<TicketNo>, usize) {
    let messages = mailbox(user, "INBOX").await;
    let tickets = messages.iter().filter_map(|m| TicketNo::find_in(&m.subject)).collect();
    let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
    (messages.len(), tickets, ids.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_moments_it_loses_nothing_and_doubles_nothing() {
    let n: usize = std::env::var("COMPLAINTD_FAULT_COMPLAINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(COMPLAINTS);
    let prefix = unique_prefix();
    let db = test_settings(&prefix).await.database.url;
    kill_scenario(&prefix, &db, n, 1, KILLS).await;
}

/// Two daemons on one PostgreSQL database and one mailbox, one of them
/// killed again and again: the other carries on, and nothing is done twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_daemons_on_postgres_share_the_work_and_survive_each_other() {
    let prefix = unique_prefix();
    let db = postgres_database(&prefix).await;
    kill_scenario(&prefix, &db, 300, 2, 6).await;
}

/// Queues `n` complaints, runs `instances` daemons on `db` and SIGKILLs one
/// of them `kills` times (restarting it), then lets them finish and counts
/// tickets in the database and mails in the real inboxes.
async fn kill_scenario(prefix: &str, db: &str, n: usize, instances: usize, kills: usize) {
    let config = private_config(prefix, db);
    let net = Network { prefix: prefix.to_owned() };
    let (handler, desk, station) = (net.hq("liujia"), net.hq("complaints"), net.station("BJ01"));

    // The backlog: n distinct customers (different phones and orders, so none is a repeat).
    for i in 0..n {
        let form = form_for_customer("F", i);
        let id = format!("{prefix}.f{i}@hq.example.test");
        smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, &form)).await;
    }

    let mut daemons: Vec<Child> = (0..instances).map(|_| start_daemon(&config)).collect();
    for kill in 0..kills {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..1500))).await;
        let victim = fastrand::usize(0..instances);
        daemons[victim].kill().expect("SIGKILL");
        daemons[victim].wait().expect("reaped");
        println!(
            "kill {} (daemon {victim} of {instances}): {} forwards so far",
            kill + 1,
            count(&station, "INBOX").await
        );
        daemons[victim] = start_daemon(&config);
    }

    // Undisturbed, they finish the work: every message handled, every
    // queued mail accepted, and Postfix done delivering.
    let store = complaintd::store::Store::connect(db, &root()).await.expect("db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let unhandled = count(&desk, "INBOX").await;
        let unsent = store.unsent_count().await.expect("outbox");
        let tickets = store.tickets(None, None).await.expect("tickets").len();
        let forwards = count(&station, "INBOX").await;
        if unhandled == 0 && unsent == 0 && tickets >= n && forwards >= n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stalled: {unhandled} unhandled, {unsent} unsent, {tickets} tickets, {forwards} forwards, {} quarantined (of {n})",
            count(&desk, "Quarantine").await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for mut daemon in daemons {
        daemon.kill().expect("stop");
        daemon.wait().expect("reaped");
    }

    let tickets = store.tickets(None, None).await.expect("tickets").len();
    let (forwards, forwarded, distinct_forwards) = messages_in(&station).await;
    let (to_handler, acknowledged, distinct_to_handler) = messages_in(&handler).await;
    let lost = n.saturating_sub(tickets.min(forwarded.len()).min(acknowledged.len()));
    let duplicated = tickets.saturating_sub(n) + (forwards - distinct_forwards) + (to_handler - distinct_to_handler);
    // How often a kill left a mail in doubt, and the Sent folder settled it.
    let log = std::fs::read_to_string(config.with_file_name("daemon.log")).unwrap_or_default();
    let settled = log.matches("not sent again").count();
    println!(
        "complaints = {n}, daemons = {instances}, kills = {kills}, tickets = {tickets}, forwards = {forwards}, mails to the handler = {to_handler}, \
         in doubt and found already sent = {settled}, lost = {lost}, duplicated = {duplicated}"
    );
    assert_eq!((lost, duplicated), (0, 0));
    // Kills and a second instance are no fault of the mail's: none is given up as poison.
    assert_eq!(count(&desk, "Quarantine").await, 0, "a good complaint was quarantined");
}
