//! Machine mail against the real lab: a bounce forged from "the internet"
//! moves nothing; a real one, written by the lab's Postfix about the
//! desk's own forward, still puts the station's backup on the ticket.

use complaintd::ticket::TicketNo;

use crate::helpers::*;

/// A DSN as a forger writes it: the ticket's number is public (subjects,
/// the customer), the forward's Message-ID is not.
fn forged_bounce(desk: &str, failed: &str, number: &TicketNo, prefix: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@stations.example.test\r\nTo: {desk}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <{prefix}.forged-bounce@stations.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThe mail system: delivery failed\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.stations.example.test\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         Message-ID: <{number}.forward.0123456789abcdef01234567@hq.example.test>\r\nSubject: [{number}] x\r\n\r\n--b1--\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_a_forged_bounce_from_the_internet_leaves_the_ticket_on_its_primary_contact() {
    let mut app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let backup = app.net.station("BJ01-backup");
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket");

    smtp_send_plain("", &[&desk], &forged_bounce(&desk, &station, &number, &app.net.prefix)).await;
    wait_for_folder(&desk, "Quarantine", 1).await;
    wait_for_unsent(&app, 0).await;
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    assert_eq!(t.backup_at, None, "still on its primary contact");
    assert_eq!(count(&backup, "INBOX").await, 0, "nothing to the backup");
    assert!(mailbox(&handler, "INBOX").await.iter().all(|m| !m.subject.contains("无法送达")), "no failure alert");
    let events = app.store.events(&number).await.unwrap();
    let refused = events.iter().find(|e| e.kind == complaintd::store::EventKind::Refused).expect("noted on the ticket");
    assert!(refused.detail.as_deref().is_some_and(|d| d.contains("bounce not believed")), "{refused:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_a_real_bounce_from_the_labs_postfix_still_switches_to_the_backup() {
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        // A station address no server will take: Postfix bounces the forward.
        let bj01 = s.stations.iter_mut().find(|st| st.code == "BJ01").expect("BJ01");
        bj01.emails = vec![format!("{}-station-bj01@nowhere.invalid", unique_prefix())];
    })
    .await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let backup = app.net.station("BJ01-backup");
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    // The backup gets the forward once the bounce is believed; the handler hears why.
    let forward = wait_for_mail(&backup, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket");
    wait_for_mail(&handler, 1, |m| m.subject.contains("无法送达")).await;
    assert!(app.store.ticket(&number).await.unwrap().unwrap().backup_at.is_some());
    let inbound = app.store.inbound_of(&number).await.unwrap();
    let bounce = inbound.iter().find(|m| m.sender.starts_with("mailer-daemon@")).expect("the bounce, taken");
    assert_eq!(bounce.outcome.as_str(), "handled", "{bounce:?}");
    assert!(bounce.auth.as_deref().is_some_and(|a| !a.contains("\"pass\"")), "believed without a signature");
    app.stop().await;
}
