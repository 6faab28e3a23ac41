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
    append(&app.net.hq("complaints"), "INBOX", &complaint(&app, 3)).await;
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
