//! The desk's moves between stations, on the lab and the injected clock: a
//! station's return and the handler's "转 SH02" by reply (fresh deadlines,
//! the first station's clocks stopped and not charged, the original
//! attachments on the new forward), and the 75 % rung copying the manager.

use chrono::{DateTime, Utc};
use complaintd::deadline::{Party, Reminder, RungAt};
use complaintd::report::{Period, assess};
use complaintd::ticket::{Status, TicketNo};
use mail_parser::MimeHeaders as _;

use crate::helpers::*;

/// A local time in Asia/Shanghai as UTC.
fn local(text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("local time");
    naive.and_local_timezone(chrono_tz::Asia::Shanghai).single().expect("unambiguous").with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_return_then_a_reassign_by_reply_restarts_the_clocks_at_the_new_station_with_the_originals() {
    let mut app = spawn_app().await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let (bj01, sh02) = (app.net.station("BJ01"), app.net.station("SH02"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_with_photo(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket in subject");
    wait_for_folder(&desk, "Handled", 1).await;

    // Monday 10:00, BJ01 says it is not theirs: clocks stop, the handler
    // hears why, with SH02 proposed.
    app.set_local_time("2026-11-16 10:00");
    let subject = format!("Re: [{number}] 投诉转出-马丽");
    let back = format!("{}.r1@stations.example.test", app.net.prefix);
    let text = "不属于本站，客户已搬到上海，请转 SH02。";
    smtp_send(&bj01, &[&desk], &reply_mail(&bj01, &desk, &back, &forward[0].message_id, &subject, text)).await;
    let told = wait_for_mail(&handler, 1, |m| m.subject.contains("退回投诉")).await;
    assert!(told[0].text.contains("客户已搬到上海") && told[0].text.contains("SH02"), "{}", told[0].text);
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    assert_eq!((t.status, t.returned_at), (Status::Returned, Some(local("2026-11-16 10:00"))));
    assert_eq!(app.store.next_alert_at().await.unwrap(), None, "no alert is planned while it is returned");

    // Tuesday 10:00, past BJ01's first reply deadline (09:30): the handler
    // answers "转 SH02". SH02 gets the forward with the original photo and
    // a full window of its own; BJ01 was never escalated.
    app.set_local_time("2026-11-17 10:00");
    let move_id = format!("{}.r2@hq.example.test", app.net.prefix);
    let reply = reply_mail(&handler, &desk, &move_id, &told[0].message_id, &subject, "转 SH02");
    smtp_send(&handler, &[&desk], &reply).await;
    let moved = wait_for_mail(&sh02, 1, |m| m.subject.contains("投诉转出")).await;
    assert!(moved[0].subject.contains(number.as_str()), "{}", moved[0].subject);
    assert_carries_the_photo(&moved[0]);
    let t = app.store.ticket(&number).await.unwrap().unwrap();
    assert_eq!((t.station.as_deref(), t.status, t.returned_at), (Some("SH02"), Status::Open, None));
    assert_eq!(t.dispatched_at, Some(local("2026-11-17 10:00")));
    assert_eq!(t.reply_due, Some(local("2026-11-18 10:00")), "one business day from the move");
    assert_eq!(t.result_due, Some(local("2026-11-19 10:00")), "two business days from the move");
    assert!(!mailbox(&bj01, "INBOX").await.iter().any(|m| m.subject.contains("超时")));

    // The month's assessment: the complaint is SH02's; nothing counts against BJ01.
    let tickets = app.store.tickets(None, None).await.unwrap();
    let first = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let month = assess(&app.settings, &Period::month(first, chrono_tz::Asia::Shanghai), &tickets);
    let of = |code: &str| month.stations.iter().find(|s| s.code == code).expect("station in the report").clone();
    let (bj, sh) = (of("BJ01"), of("SH02"));
    assert_eq!((bj.received, bj.overdue, bj.open_at_end, bj.returns_refused), (0, 0, 0, 0), "{bj:?}");
    assert_eq!((sh.received, sh.open_at_end), (1, 1), "{sh:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reassign_whose_original_mail_is_gone_goes_without_its_files_and_says_so() {
    let mut app = spawn_app().await;
    let (handler, desk, sh02) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("SH02"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_with_photo(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&app.net.station("BJ01"), 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket in subject");
    wait_for_folder(&desk, "Handled", 1).await;
    empty_folder(&desk, "Handled").await;

    let subject = format!("Re: [{number}] 投诉转出-马丽");
    let move_id = format!("{}.r1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &reply_mail(&handler, &desk, &move_id, &forward[0].message_id, &subject, "转 SH02"))
        .await;
    let moved = wait_for_mail(&sh02, 1, |m| m.subject.contains("投诉转出")).await;
    let message = mail_parser::MessageParser::default().parse(&moved[0].raw).expect("a message");
    assert!(!message.attachments().any(|p| p.attachment_name() == Some("photo.jpg")));
    let says = |p: &mail_parser::MessagePart| p.text_contents().is_some_and(|t| t.contains("原附件未能随本邮件发送"));
    assert!(message.parts.iter().any(says), "{}", String::from_utf8_lossy(&moved[0].raw));
    assert!(moved[0].text.contains(number.as_str()), "the forward itself is whole: {}", moved[0].text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_75_percent_rung_copies_the_regional_manager() {
    let at = |share| Reminder::at(RungAt::Elapsed(share));
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        s.deadlines.reminders = vec![at(0.5), Reminder { copy: vec![Party::Manager], ..at(0.75) }];
    })
    .await;
    let (handler, desk, bj01) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let manager = app.net.hq("manager-north");
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    wait_for_mail(&bj01, 1, |m| m.subject.contains("投诉转出")).await;

    // Expedited, 8 working hours from Monday 09:30: half at 14:30, to the station alone.
    app.set_local_time("2026-11-16 14:31");
    let half = wait_for_mail(&bj01, 1, |m| m.subject.contains("提醒：首次回复")).await;
    assert!(!half[0].cc.contains(&manager), "{:?}", half[0].cc);

    // Three quarters at 16:30: the station, the regional manager copied.
    app.set_local_time("2026-11-16 16:31");
    let late = wait_for_mail(&manager, 1, |m| m.subject.contains("提醒：首次回复")).await;
    assert_eq!(late[0].to, vec![bj01.clone()]);
    assert!(late[0].cc.contains(&manager), "{:?}", late[0].cc);
    assert_eq!(wait_for_mail(&bj01, 2, |m| m.subject.contains("提醒：首次回复")).await.len(), 2);
    app.stop().await;
}

/// The originals read back as the outbox reads them: from the first copy
/// filed in Handled (a later duplicate of its Message-ID has no say), or
/// from the inbox when the message was filed a moment ago and waits for its
/// batch's move.
#[tokio::test(flavor = "multi_thread")]
async fn originals_come_from_the_first_filed_copy_or_from_the_inbox_before_its_move() {
    use complaintd::jobs::originals::Originals;
    use complaintd::notify::compose::{Draft, compose};
    use complaintd::store::{OutboxMail, Priority, Store};

    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let net = Network { prefix: prefix.clone() };
    let (handler, desk) = (net.hq("liujia"), net.hq("complaints"));
    // Opening the mailbox creates its side folders.
    complaintd::mail::imap::Mailbox::open(&settings.mailbox, "lab", None).await.expect("imap").logout().await;
    let (filed, waiting) = (format!("{prefix}.filed@hq.example.test"), format!("{prefix}.waiting@hq.example.test"));
    append(&desk, "Handled", &complaint_with_photo(&handler, &desk, &filed, FORM_BJ01)).await;
    append(&desk, "Handled", &complaint_mail(&handler, &desk, &filed, FORM_BJ01)).await;
    append(&desk, "INBOX", &complaint_with_photo(&handler, &desk, &waiting, FORM_BJ01)).await;

    let store = Store::connect(&settings.database.url, &root()).await.expect("db");
    let now = chrono::Utc::now();
    let from = desk.parse().expect("address");
    let mut tx = store.begin().await.expect("tx");
    for (n, original) in [&filed, &waiting].into_iter().enumerate() {
        let draft =
            Draft { to: vec![net.station("SH02")], text: "正文".into(), attach_later: true, ..Draft::default() };
        let message_id = format!("{prefix}.out{n}@hq.example.test");
        let mail = OutboxMail {
            key: format!("k{n}"),
            ticket: None,
            message_id: message_id.clone(),
            envelope_from: desk.clone(),
            recipients: draft.recipients(),
            subject: "s".into(),
            body: compose(&draft, &from, &message_id, std::time::SystemTime::now()).expect("composed"),
            not_before: now,
            originals: Some(original.clone()),
            priority: Priority::Normal,
        };
        tx.enqueue(&mail, now).await.expect("queued");
    }
    tx.commit().await.expect("commit");
    let claimed = store.claim_outbox(now, std::time::Duration::from_secs(60), 10).await.expect("claim");
    let originals = Originals { mailbox: settings.mailbox.clone(), password: "lab".into(), ca: None, settings };
    let ready = originals.add(&store, &complaintd::clock::Clock::System, claimed).await.expect("read back");
    assert_eq!(ready.len(), 2);
    for mail in ready {
        let message = mail_parser::MessageParser::default().parse(&mail.body).expect("a message");
        assert!(
            message.attachments().any(|p| p.attachment_name() == Some("photo.jpg")),
            "{}",
            String::from_utf8_lossy(&mail.body)
        );
    }
}
