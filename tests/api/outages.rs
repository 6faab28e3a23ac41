//! The servers go away and come back: Dovecot restarted, Postfix stopped for
//! a while, PostgreSQL briefly down. The daemon reconnects with backoff and
//! everything is delivered, once, when they are back.
//!
//! These tests stop shared servers, so `scripts/test` runs them on their own
//! after the rest of the suite (their names start with `outage_`).

use std::time::Duration;

use complaintd::clock::Clock;

use crate::helpers::*;

/// A complaint about customer `i`, mailed (or appended) to the desk.
fn complaint(app: &TestApp, i: usize) -> Vec<u8> {
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let form = form_for_customer("O", i);
    complaint_mail(&handler, &desk, &format!("{}.o{i}@hq.example.test", app.net.prefix), &form)
}

async fn send(app: &TestApp, i: usize) {
    smtp_send(&app.net.hq("liujia"), &[&app.net.hq("complaints")], &complaint(app, i)).await;
}

/// Brings every server back however the test ends.
struct LabRestored;

impl Drop for LabRestored {
    fn drop(&mut self) {
        lab_script(&["up"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_of_each_server_delays_mail_but_loses_and_doubles_none() {
    let _restore = LabRestored;
    let app = spawn_app_on_postgres_with(Clock::System).await;
    let station = app.net.station("BJ01");
    let forwards = |n| wait_for_mail(&station, n, |m| m.subject.contains("投诉转出"));

    send(&app, 1).await;
    forwards(1).await;

    // Dovecot restarts under the open IDLE session: intake reconnects.
    lab_script(&["restart", "dovecot"]);
    send(&app, 2).await;
    forwards(2).await;

    // Postfix stops: the complaint (appended over IMAP) is taken, its mail
    // waits in the outbox with the error, and goes once Postfix is back.
    lab_script(&["stop", "postfix"]);
    append(&app.net.hq("complaints"), "INBOX", &hq_signed(&complaint(&app, 3))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let failed = app.store.outbox(None).await.unwrap().into_iter().filter(|m| m.last_error.is_some()).count();
        if failed >= 2 {
            break; // the forward and the acknowledgement were tried, and wait
        }
        assert!(tokio::time::Instant::now() < deadline, "complaint 3's mail not tried while Postfix is down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab_script(&["start", "postfix"]);
    forwards(3).await;

    // PostgreSQL goes away: intake waits, nothing is moved out of the inbox
    // unrecorded, and the complaint is taken once the database is back.
    lab_script(&["stop", "postgres"]);
    send(&app, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await; // intake meets the dead database
    assert_eq!(count(&app.net.hq("complaints"), "INBOX").await, 1, "complaint 4 stays in the inbox");
    lab_script(&["start", "postgres"]);
    forwards(4).await;

    wait_for_unsent(&app, 0).await;
    let all = wait_for_mail(&station, 4, |_| true).await;
    let ids: std::collections::HashSet<&str> = all.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!((all.len(), ids.len()), (4, 4), "each forward once");
    assert_eq!(app.store.tickets(None, None).await.unwrap().len(), 4);
}

/// `/health` until `pred` holds for its status and JSON body (or 20 s pass).
async fn health_until(addr: std::net::SocketAddr, pred: impl Fn(u16, &serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = crate::operator::http(addr, "GET", "/health").await;
        let json: serde_json::Value = serde_json::from_str(&body).expect("health is JSON");
        if pred(status, &json) {
            return json;
        }
        assert!(tokio::time::Instant::now() < deadline, "health stayed {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outage_of_dovecot_turns_health_unavailable_until_intake_is_back() {
    let _restore = LabRestored;
    let start = "2026-11-16T01:30:00Z".parse().expect("date");
    let app = spawn_app_with(start, |s| {
        s.metrics = Some(complaintd::metrics::MetricsSettings::on("127.0.0.1:0".parse().expect("addr")));
    })
    .await;
    let addr = app.metrics_addr.expect("endpoint bound");
    let stale = app.settings.metrics.as_ref().expect("metrics").intake_stale_seconds;
    health_until(addr, |status, j| status == 200 && j["intake"]["last_round"].is_string()).await;

    // Dovecot goes away: intake loses its session and finishes no round; once
    // that has lasted intake_stale_seconds (on the daemon's clock), 503.
    lab_script(&["stop", "dovecot"]);
    health_until(addr, |_, j| j["imap"] == "reconnecting").await;
    app.clock.advance(chrono::Duration::seconds(stale as i64 + 1));
    let j = health_until(addr, |status, _| status == 503).await;
    assert_eq!((j["status"].as_str(), j["intake"]["stale"].as_bool()), (Some("unavailable"), Some(true)), "{j}");
    assert_eq!((j["database"].as_str(), j["workers"]["intake"].as_bool()), (Some("ok"), Some(true)), "{j}");

    // Back: intake reconnects, finishes a round, and the daemon is healthy.
    lab_script(&["start", "dovecot"]);
    let j = health_until(addr, |status, _| status == 200).await;
    assert_eq!(j["intake"]["stale"].as_bool(), Some(false), "{j}");
    send(&app, 1).await;
    wait_for_mail(&app.net.station("BJ01"), 1, |m| m.subject.contains("投诉转出")).await;
}
