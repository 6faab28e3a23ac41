//! A complaint travels from the shared mailbox to the station's inbox.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn complaint_is_forwarded_to_the_station_and_acknowledged() {
    let mut app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;

    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("[TS-20261116-0001]")).await;
    let forward = &forward[0];
    assert!(forward.message_id.starts_with("TS-20261116-0001."), "{}", forward.message_id);
    assert_eq!(forward.to, vec![station.clone()]);
    assert_eq!(forward.cc, vec![handler.clone()], "the handler is copied");
    assert!(forward.text.contains("马丽") && forward.text.contains("报修后五天无人联系"));
    // Expedited: one business day from 09:30 Monday.
    assert!(forward.text.contains("请于 2026-11-17 09:30 前回复"), "{}", forward.text);

    let ack = wait_for_mail(&handler, 1, |m| m.subject.contains("已受理")).await;
    assert!(ack[0].text.contains("TS-20261116-0001"));
    assert_eq!(ack[0].header("Auto-Submitted"), Some("auto-generated"));

    // Marked handled on the server only after commit: the inbox is empty.
    assert!(mailbox(&desk, "INBOX").await.is_empty());
    assert_eq!(mailbox(&desk, "Handled").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_daemon_does_not_handle_a_message_twice() {
    let app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.1@hq.example.test", app.net.prefix);
    let raw = complaint_mail(&handler, &desk, &id, FORM_BJ01);
    smtp_send(&handler, &[&desk], &raw).await;
    wait_for_mail(&station, 1, |m| m.subject.contains("[TS-")).await;

    // The same message back in the inbox (as after a crash between commit
    // and move, or a second delivery), then a restart.
    let mut app = app.restart().await;
    smtp_send(&handler, &[&desk], &raw).await;
    // The daemon moves the copy out of the inbox once it has seen it was
    // handled before.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while mailbox(&desk, "Handled").await.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "copy never handled");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tickets = app.store.tickets(None, None).await.unwrap();
    assert_eq!(tickets.len(), 1, "one ticket");
    app.stop().await;
    let forwards = mailbox(&station, "INBOX").await;
    assert_eq!(forwards.len(), 1, "one forward");
    assert!(mailbox(&desk, "INBOX").await.is_empty());
}
