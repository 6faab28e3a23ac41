//! Several daemons on one PostgreSQL database and one mailbox: the work is
//! shared, never done twice, and survives the loss of an instance.

use std::collections::HashSet;

use crate::helpers::*;

/// Sends `n` complaints about distinct customers, numbered from `first`.
async fn file_complaints(app: &TestApp, first: usize, n: usize) {
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    for i in first..first + n {
        let form = form_for_customer("I", i);
        let id = format!("{}.i{i}@hq.example.test", app.net.prefix);
        smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, &form)).await;
    }
}

/// Waits for `n` messages in the inbox; each must be there once (by Message-ID).
async fn distinct_mails(user: &str, n: usize) -> usize {
    let all = wait_for_mail(user, n, |_| true).await;
    let mut ids = HashSet::new();
    let twice: Vec<(&str, &str)> = all
        .iter()
        .filter(|m| !ids.insert(m.message_id.as_str()))
        .map(|m| (m.subject.as_str(), m.message_id.as_str()))
        .collect();
    assert!(twice.is_empty(), "{user} received mail twice: {twice:?}");
    all.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_send_every_mail_and_every_reminder_once() {
    let first = spawn_app_on_postgres().await;
    let second = first.twin().await;
    let station = first.net.station("BJ01");

    // Complaints arrive while both instances watch the mailbox.
    file_complaints(&first, 0, 20).await;
    wait_for_mail(&station, 20, |m| m.subject.contains("投诉转出")).await;
    assert_eq!(first.store.tickets(None, None).await.unwrap().len(), 20);

    // Both sweeps see the reminders fall due (expedited: at 14:30), then the
    // escalations (Tuesday 09:30); each mail goes out once.
    first.set_local_time("2026-11-16 14:31");
    second.set_local_time("2026-11-16 14:31");
    wait_for_mail(&station, 20, |m| m.subject.contains("提醒：首次回复")).await;
    first.set_local_time("2026-11-17 10:00");
    second.set_local_time("2026-11-17 10:00");
    wait_for_mail(&station, 20, |m| m.subject.contains("已超时：首次回复")).await;
    // Give a would-be second sender every chance before counting.
    first.set_local_time("2026-11-17 10:05");
    second.set_local_time("2026-11-17 10:05");
    wait_for_unsent(&first, 0).await;
    // Per ticket: the forward, two reminders (first reply, result), one escalation.
    assert_eq!(distinct_mails(&station, 80).await, 80);

    // One instance dies mid-work; the other takes the rest alone, and what
    // the dead one had claimed once its leases run out.
    file_complaints(&first, 20, 10).await;
    second.kill();
    // The manual clock lets the dead instance's leases (a minute) run out in
    // no real time; in a minute of real time Postfix has filed the Sent copy
    // of whatever it accepted, which settles a mail in doubt.
    wait_for_postfix_to_deliver(&first.net.prefix).await;
    first.set_local_time("2026-11-17 10:08");
    wait_for_mail(&station, 30, |m| m.subject.contains("投诉转出")).await;
    wait_for_unsent(&first, 0).await;
    assert_eq!(distinct_mails(&station, 90).await, 90);
    // The handler: 30 acknowledgements, 30 forwards copied, 20 escalations copied.
    assert_eq!(distinct_mails(&first.net.hq("liujia"), 80).await, 80);
}
