//! The lifecycle on the injected clock: reminders, escalations, replies,
//! closing; and what must never be applied.

use complaintd::ticket::{Milestone, Status, TicketNo, Urgency};

use crate::helpers::*;

struct Case {
    app: TestApp,
    handler: String,
    desk: String,
    station: String,
    forward_id: String,
    number: TicketNo,
}

/// Files the BJ01 complaint (expedited) at Monday 2026-11-16 09:30 and
/// waits for its forward.
async fn filed() -> Case {
    filed_as(complaint_mail).await
}

/// Like [`filed`], the complaint mail written by `mail` (from, to, Message-ID, form).
async fn filed_as(mail: fn(&str, &str, &str, &str) -> Vec<u8>) -> Case {
    let app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket in subject");
    Case { forward_id: forward[0].message_id.clone(), number, app, handler, desk, station }
}

impl Case {
    async fn reply(&self, from: &str, n: u32, text: &str) {
        let id = format!("{}.r{n}@example.test", self.app.net.prefix);
        let subject = format!("Re: [{}] 投诉转出-马丽", self.number);
        smtp_send(from, &[&self.desk], &reply_mail(from, &self.desk, &id, &self.forward_id, &subject, text)).await;
    }

    async fn ticket(&self) -> complaintd::ticket::Ticket {
        self.app.store.ticket(&self.number).await.unwrap().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unanswered_complaint_is_reminded_escalated_then_answered_and_closed() {
    let mut c = filed().await;
    let manager = c.app.net.hq("manager-north");
    let supervisor = c.app.net.hq("supervisor");

    // Half the reply window (4 working hours from 09:30) → reminder at 14:30.
    c.app.set_local_time("2026-11-16 14:31");
    let reminder = wait_for_mail(&c.station, 1, |m| m.subject.contains("提醒：首次回复")).await;
    assert!(reminder[0].subject.contains("2026-11-17 09:30"), "{}", reminder[0].subject);
    assert_eq!(reminder[0].header("Auto-Submitted"), Some("auto-generated"));

    // Breach at Tuesday 09:30 → escalation to the station, copied to the
    // regional manager and the handler; sent once however often the sweep runs.
    c.app.set_local_time("2026-11-17 10:00");
    let escalation = wait_for_mail(&manager, 1, |m| m.subject.contains("已超时：首次回复")).await;
    assert_eq!(escalation[0].to, vec![c.station.clone()]);
    assert!(escalation[0].cc.contains(&manager) && escalation[0].cc.contains(&c.handler));
    assert!(escalation[0].text.contains("0.5 个工作小时"), "{}", escalation[0].text);
    c.app.set_local_time("2026-11-17 10:05");

    // One business day later → the supervisor.
    c.app.set_local_time("2026-11-18 09:31");
    let up = wait_for_mail(&supervisor, 1, |m| m.subject.contains("升级：")).await;
    assert!(up[0].subject.contains("首次回复"), "{}", up[0].subject);

    // The station answers: contacted, then the result; the handler sees both.
    c.reply(&c.station, 1, "已联系客户，明天上午上门。").await;
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("回复（已联系客户）")).await;
    assert_eq!(c.ticket().await.status, Status::Contacted);
    c.reply(&c.station, 2, "处理结果：已上门更换主板，客户满意。").await;
    let relay = wait_for_mail(&c.handler, 1, |m| m.subject.contains("回复（处理结果）")).await;
    assert!(relay[0].text.contains("已上门更换主板"));
    assert_eq!(c.ticket().await.status, Status::Resolved);

    // The handler closes; a follow-up reminder comes one business day later.
    c.reply(&c.handler, 3, "结案").await;
    wait_for_folder(&c.desk, "Handled", 4).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.valid), (Status::Closed, Some(true)));
    c.app.set_local_time("2026-11-19 09:31");
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("请回访客户")).await;

    // Exactly one of each alert, even though the sweep ran many times.
    let station_mail = mailbox(&c.station, "INBOX").await;
    assert_eq!(station_mail.iter().filter(|m| m.subject.contains("已超时：首次回复")).count(), 1);
    assert_eq!(mailbox(&supervisor, "INBOX").await.iter().filter(|m| m.subject.contains("首次回复")).count(), 1);
    c.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_automatic_replies_are_never_applied() {
    let mut c = filed().await;
    // Another station names BJ01's ticket: quarantined, logged, not applied.
    let other = c.app.net.station("SH02");
    c.reply(&other, 1, "已联系客户").await;
    wait_for_folder(&c.desk, "Quarantine", 1).await;
    assert_eq!(c.ticket().await.status, Status::Open);
    assert!(mailbox(&c.handler, "INBOX").await.iter().all(|m| !m.subject.contains("回复（")));

    // An out-of-office answer from the station is not a response and is not answered.
    let auto = format!(
        "From: {s}\r\nTo: {d}\r\nSubject: =?utf-8?B?6Ieq5Yqo5Zue5aSNOiA=?= [{n}]\r\nAuto-Submitted: auto-replied\r\n\
         Message-ID: <{p}.auto@stations.example.test>\r\nIn-Reply-To: <{f}>\r\n\r\nI am out of the office.\r\n",
        s = c.station,
        d = c.desk,
        n = c.number,
        p = c.app.net.prefix,
        f = c.forward_id
    );
    smtp_send(&c.station, &[&c.desk], auto.as_bytes()).await;
    wait_for_folder(&c.desk, "Handled", 2).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.first_reply_at), (Status::Open, None));

    // A bounce of the forward alerts the handler.
    let bounce = format!(
        "From: MAILER-DAEMON@lab.example.test\r\nTo: {d}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <{p}.bounce@lab.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThe mail system: host said 550 user unknown\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lab.example.test\r\n\r\n\
         Final-Recipient: rfc822; {s}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{f}>\r\nSubject: [{n}] x\r\n\r\n--b1--\r\n",
        d = c.desk,
        p = c.app.net.prefix,
        s = c.station,
        f = c.forward_id,
        n = c.number
    );
    smtp_send("", &[&c.desk], bounce.as_bytes()).await;
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("邮件无法送达")).await;

    // An extension past the cap (5 business days: Monday 23rd 09:30) is refused;
    // one within it moves the result deadline.
    c.reply(&c.station, 2, "申请延期至2026-12-31，配件未到。").await;
    wait_for_mail(&c.station, 1, |m| m.subject.contains("延期申请未获批准")).await;
    assert!(!c.ticket().await.extended);
    c.reply(&c.station, 3, "申请延期至2026-11-20 18:00，等配件。").await;
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("回复（申请延期）") && m.text.contains("2026-11-20 18:00"))
        .await;
    let t = c.ticket().await;
    assert!(t.extended);
    assert_eq!(t.result_due.unwrap().to_rfc3339(), "2026-11-20T10:00:00+00:00");
    c.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeat_complaint_raises_the_open_ticket_instead_of_opening_another() {
    let mut c = filed().await;
    let other_handler = c.app.net.hq("chenmin");
    let again = FORM_BJ01
        .replace("投诉单号：HC20261116001", "投诉单号：HC20261116009")
        .replace("报修后五天无人联系。", "客户再次来电，仍无人联系。");
    let id = format!("{}.c2@hq.example.test", c.app.net.prefix);
    smtp_send(&other_handler, &[&c.desk], &complaint_mail(&other_handler, &c.desk, &id, &again)).await;
    let told = wait_for_mail(&c.station, 1, |m| m.subject.contains("客户再次投诉")).await;
    assert!(told[0].text.contains("仍无人联系"));
    assert!(told[0].cc.contains(&other_handler));
    let t = c.ticket().await;
    assert_eq!((t.urgency, t.repeats), (Urgency::Urgent, 1));
    assert_eq!(c.app.store.tickets(None, None).await.unwrap().len(), 1);
    c.app.stop().await;
}

impl Case {
    /// A delivery report: the mail `quoted` to `failed` bounced with `status` and `diagnostic`.
    fn bounce(&self, quoted: &str, failed: &str, status: &str, diagnostic: &str) -> Vec<u8> {
        format!(
            "From: MAILER-DAEMON@lab.example.test\r\nTo: {d}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
             Message-ID: <{p}.bounce@lab.example.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain\r\n\r\nThe mail system: delivery failed\r\n\
             --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lab.example.test\r\n\r\n\
             Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n\
             Diagnostic-Code: smtp; {diagnostic}\r\n\r\n\
             --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{f}>\r\nSubject: [{n}] x\r\n\r\n--b1--\r\n",
            d = self.desk,
            p = self.app.net.prefix,
            f = quoted,
            n = self.number
        )
        .into_bytes()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bounced_forward_reaches_the_stations_backup_and_the_handler_hears_why() {
    let mut c = filed_as(complaint_with_photo).await;
    let backup = c.app.net.station("BJ01-backup");
    // The original is in the Handled folder, where the re-sent forward's files are read back from.
    wait_for_folder(&c.desk, "Handled", 1).await;
    smtp_send("", &[&c.desk], &c.bounce(&c.forward_id, &c.station, "5.2.2", "552 5.2.2 mailbox full")).await;

    // The backup gets the forward, with the original attachments; the
    // handler is told which address failed and why.
    let forward = wait_for_mail(&backup, 1, |m| m.subject.contains("投诉转出")).await;
    assert!(forward[0].subject.contains(c.number.as_str()), "{}", forward[0].subject);
    assert_carries_the_photo(&forward[0]);
    let alert = wait_for_mail(&c.handler, 1, |m| m.subject.contains("邮件无法送达")).await;
    assert!(alert[0].text.contains(&c.station), "{}", alert[0].text);
    assert!(alert[0].text.contains("mailbox full") && alert[0].text.contains(&backup), "{}", alert[0].text);
    assert!(c.ticket().await.backup_at.is_some());

    // From now on the ticket's mail to the station also goes to the backup.
    c.app.set_local_time("2026-11-16 14:31");
    let reminder = wait_for_mail(&backup, 1, |m| m.subject.contains("提醒：首次回复")).await;
    assert!(reminder[0].to.contains(&c.station) && reminder[0].to.contains(&backup), "{:?}", reminder[0].to);

    // A second bounce (of the backup's copy) does not tell the handler again.
    smtp_send("", &[&c.desk], &c.bounce(&forward[0].message_id, &backup, "5.1.1", "550 5.1.1 user unknown")).await;
    wait_for_folder(&c.desk, "Handled", 3).await;
    assert_eq!(mailbox(&c.handler, "INBOX").await.iter().filter(|m| m.subject.contains("无法送达")).count(), 1);
    c.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_and_an_acknowledgement_do_not_stop_the_escalation_but_a_greeting_first_answer_does() {
    let mut c = filed().await;
    let manager = c.app.net.hq("manager-north");
    // A read receipt and an acknowledgement without RFC 3834 headers, before the reply deadline.
    let receipt = format!(
        "From: {s}\r\nTo: {d}\r\nSubject: =?utf-8?B?5bey6K+7Og==?= [{n}] 投诉转出-马丽\r\n\
         Message-ID: <{p}.mdn@stations.example.test>\r\nIn-Reply-To: <{f}>\r\n\r\n您的邮件已被阅读。\r\n",
        s = c.station,
        d = c.desk,
        n = c.number,
        p = c.app.net.prefix,
        f = c.forward_id
    );
    smtp_send(&c.station, &[&c.desk], receipt.as_bytes()).await;
    c.reply(&c.station, 1, "您的来信已收到，我们会尽快处理。").await;
    wait_for_folder(&c.desk, "Handled", 3).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.first_reply_at), (Status::Open, None));

    // The reply deadline (Tuesday 09:30) passes: the escalation still goes out.
    c.app.set_local_time("2026-11-17 10:00");
    wait_for_mail(&manager, 1, |m| m.subject.contains("已超时：首次回复")).await;

    // A greeting-first answer is a response: the ladder stops there.
    c.reply(&c.station, 2, "投诉组您好：\n已联系客户，明天上午上门。").await;
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("回复（已联系客户）")).await;
    let t = c.ticket().await;
    assert_eq!(t.status, Status::Contacted);
    assert!(t.first_reply_at.is_some());
    assert!(!t.owed().contains(&Milestone::Reply), "{:?}", t.owed());
    c.app.stop().await;
}
