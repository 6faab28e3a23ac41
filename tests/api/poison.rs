//! No mail can stop, stall or silently swallow intake: nesting bombs, huge
//! mail, two From headers and list mail between two complaints, through the
//! real binary (killed while it reads them, too); a message tried too often;
//! and a loop with an auto-responder that ignores RFC 3834.

use std::time::Duration;

use crate::helpers::*;

/// `levels` message/rfc822 parts, each inside the one before.
fn nesting_bomb(from: &str, to: &str, message_id: &str, levels: usize) -> Vec<u8> {
    let mut out = format!("From: {from}\r\nTo: {to}\r\nSubject: bomb\r\nMessage-ID: <{message_id}>\r\n").into_bytes();
    for _ in 0..levels {
        out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    out.extend_from_slice(b"\r\nend\r\n");
    out
}

/// A mail of about `bytes` bytes of base64 text.
fn huge_mail(from: &str, to: &str, message_id: &str, bytes: usize) -> Vec<u8> {
    let line = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: big\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        line.repeat(bytes / line.len())
    )
    .into_bytes()
}

/// The hostile mailbox: two complaints with poison between them. Returns
/// the complaints' Message-IDs and the list mail's.
async fn fill_hostile_mailbox(net: &Network) -> (Vec<String>, String) {
    let (handler, desk) = (net.hq("liujia"), net.hq("complaints"));
    let id = |n: &str| format!("{}.{n}@hq.example.test", net.prefix);
    append(&desk, "INBOX", &hq_signed(&complaint_mail(&handler, &desk, &id("c1"), &form_for_customer("P", 1)))).await;
    let bomb = nesting_bomb(&handler, &desk, &id("bomb"), 35_000);
    assert!(bomb.len() > 1_000_000);
    append(&desk, "INBOX", &bomb).await;
    let deep = nesting_bomb(&handler, &desk, &id("deep"), 150_000);
    assert!(deep.len() > 4_500_000);
    append(&desk, "INBOX", &deep).await;
    append(&desk, "INBOX", &huge_mail(&handler, &desk, &id("huge"), 20 << 20)).await;
    let mut two_from = format!("From: {}\r\n", net.hq("chenmin")).into_bytes();
    two_from.extend(complaint_mail(&handler, &desk, &id("twofrom"), &form_for_customer("P", 3)));
    append(&desk, "INBOX", &two_from).await;
    // A broken form from a list: answering it would mail the whole list.
    let broken = form_for_customer("P", 4).replace("紧急程度：加急\n", "");
    let mut list = b"List-Id: <cc-all.hq.example.test>\r\nPrecedence: list\r\n".to_vec();
    list.extend(complaint_mail(&handler, &desk, &id("list"), &broken));
    append(&desk, "INBOX", &list).await;
    append(&desk, "INBOX", &hq_signed(&complaint_mail(&handler, &desk, &id("c2"), &form_for_customer("P", 2)))).await;
    (vec![id("c1"), id("c2")], id("list"))
}

/// Waits until the desk's inbox is empty and both complaints reached the
/// station, the daemon alive all along.
async fn wait_until_worked_off(net: &Network, daemon: &mut std::process::Child) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(daemon.try_wait().expect("status").is_none(), "the daemon exited");
        let left = count(&net.hq("complaints"), "INBOX").await;
        if left == 0 && count(&net.station("BJ01"), "INBOX").await >= 2 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{left} messages still in the inbox");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn check_outcome(net: &Network, config: &std::path::Path, list_id: &str) {
    let forwards = mailbox(&net.station("BJ01"), "INBOX").await;
    assert_eq!(forwards.len(), 2, "both complaints forwarded, once");
    let desk = net.hq("complaints");
    assert_eq!(count(&desk, "Quarantine").await, 5, "two bombs, the huge mail, two From, the list mail");
    let log = std::fs::read_to_string(config.with_file_name("daemon.log")).expect("log");
    assert!(log.contains("MIME nesting deeper than"), "the bombs' reason is logged");
    assert!(log.contains("2 From headers"), "the two-From reason is logged");
    assert!(!log.contains("panic"), "no panic");
    let to_handler = mailbox(&net.hq("liujia"), "INBOX").await;
    assert!(
        !to_handler.iter().any(|m| m.header("In-Reply-To").is_some_and(|v| v.contains(list_id))),
        "the list mail is not answered"
    );
    // The huge mail came from the handler, who is told it was unreadable.
    for m in forwards.iter().chain(&to_handler) {
        let expected = if m.subject.starts_with("邮件无法处理") { "auto-replied" } else { "auto-generated" };
        assert_eq!(m.header("Auto-Submitted"), Some(expected), "{}", m.subject);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_between_two_complaints_stops_nothing() {
    let prefix = unique_prefix();
    let db = test_settings(&prefix).await.database.url;
    let config = private_config(&prefix, &db);
    let net = Network { prefix: prefix.clone() };
    let (_, list_id) = fill_hostile_mailbox(&net).await;
    let mut daemon = start_daemon(&config);
    wait_until_worked_off(&net, &mut daemon).await;
    check_outcome(&net, &config, &list_id).await;
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_it_reads_the_bombs_it_still_works_them_off() {
    let prefix = unique_prefix();
    let db = test_settings(&prefix).await.database.url;
    let config = private_config(&prefix, &db);
    let net = Network { prefix: prefix.clone() };
    let (_, list_id) = fill_hostile_mailbox(&net).await;
    for wait_ms in [150, 400, 800] {
        let mut daemon = start_daemon(&config);
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("reaped");
    }
    let mut daemon = start_daemon(&config);
    wait_until_worked_off(&net, &mut daemon).await;
    check_outcome(&net, &config, &list_id).await;
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_tried_too_often_is_quarantined_unparsed_and_its_sender_told() {
    let prefix = unique_prefix();
    let settings = test_settings(&prefix).await;
    let net = Network { prefix: prefix.clone() };
    let (handler, desk) = (net.hq("liujia"), net.hq("complaints"));
    let id = format!("{prefix}.poison@hq.example.test");
    append(&desk, "INBOX", &hq_signed(&complaint_mail(&handler, &desk, &id, &form_for_customer("Q", 1)))).await;
    // Three earlier attempts that never settled (as if each crashed the daemon).
    let uidvalidity = {
        let mailbox = complaintd::mail::imap::Mailbox::open(&settings.mailbox, "lab", None).await.expect("imap");
        let v = mailbox.uidvalidity;
        mailbox.logout().await;
        v
    };
    let store = complaintd::store::Store::connect(&settings.database.url, &root()).await.expect("db");
    let name = format!("{}/INBOX", settings.mailbox.user);
    for _ in 0..3 {
        // Each by a daemon that died: its hold has run out.
        let now = chrono::Utc::now();
        let hold = complaintd::store::Hold { taker: complaintd::store::Taker::random(), at: now, until: now };
        store.record_attempts(&name, uidvalidity, &[1], hold).await.expect("attempt");
    }
    let mut app = spawn_app_on(net.clone(), settings).await;
    wait_for_folder(&desk, "Quarantine", 1).await;
    assert_eq!(count(&net.station("BJ01"), "INBOX").await, 0, "not parsed, not forwarded");
    let told = wait_for_mail(&handler, 1, |m| m.header("In-Reply-To").is_some_and(|v| v.contains(&id))).await;
    assert!(told[0].text.contains("given up after 3 attempts"), "{}", told[0].text);
    assert_eq!(told[0].header("Auto-Submitted"), Some("auto-replied"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_with_an_auto_responder_stops_at_the_cap() {
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| s.desk.replies_per_hour = 3).await;
    let (station, desk) = (app.net.station("BJ01"), app.net.hq("complaints"));
    // A station mail the desk cannot read starts it; the station's
    // auto-responder (no Auto-Submitted, no Precedence) answers everything.
    let mail = |n: usize, subject: &str| {
        use base64::Engine as _;
        let subject = base64::engine::general_purpose::STANDARD.encode(subject.as_bytes());
        format!(
            "From: {station}\r\nTo: {desk}\r\nSubject: =?utf-8?B?{subject}?=\r\nMessage-ID: <{}.loop{n}@stations.example.test>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nThank you for your message. We will get back to you.\r\n",
            app.net.prefix
        )
    };
    smtp_send(&station, &[&desk], mail(0, "hello").as_bytes()).await;
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = mailbox(&station, "INBOX").await;
        if got.len() > answered {
            for m in &got[answered..] {
                answered += 1;
                smtp_send(&station, &[&desk], mail(answered, &format!("Re: {}", m.subject)).as_bytes()).await;
            }
        } else if count(&desk, "Quarantine").await > answered {
            // The desk took the last answer: once what it queued is
            // delivered, nothing new means the loop is over.
            wait_for_unsent(&app, 0).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            if mailbox(&station, "INBOX").await.len() == answered {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "still looping after {answered} answers");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(answered, 3, "the desk answered exactly replies_per_hour times");
    for m in mailbox(&station, "INBOX").await {
        assert_eq!(m.header("Auto-Submitted"), Some("auto-replied"));
    }
    app.stop().await;
}

/// `/metrics` counts what was quarantined unparsed, by reason, and the
/// replies the hourly cap held back.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_and_reply_cap_hits_are_counted_in_metrics() {
    use complaintd::config::MetricsSettings;
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        s.desk.replies_per_hour = 1;
        s.metrics = Some(MetricsSettings::on("127.0.0.1:0".parse().expect("addr")));
    })
    .await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let id = |n: &str| format!("{}.{n}@hq.example.test", app.net.prefix);
    append(&desk, "INBOX", &nesting_bomb(&handler, &desk, &id("bomb"), 35_000)).await;
    let mut two_from = format!("From: {}\r\n", app.net.hq("chenmin")).into_bytes();
    two_from.extend(complaint_mail(&handler, &desk, &id("twofrom"), &form_for_customer("M", 1)));
    append(&desk, "INBOX", &two_from).await;
    // Two broken forms: the first is answered, the second hits the cap of 1.
    for n in 2..4 {
        let broken = form_for_customer("M", n).replace("紧急程度：加急\n", "");
        append(&desk, "INBOX", &hq_signed(&complaint_mail(&handler, &desk, &id(&format!("b{n}")), &broken))).await;
    }
    // Counted, not read: the test's own parser would choke on the bomb.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&desk, "Quarantine").await < 4 {
        assert!(tokio::time::Instant::now() < deadline, "not all quarantined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for_unsent(&app, 0).await;
    let (_, text) = crate::operator::http(app.metrics_addr.expect("endpoint bound"), "GET", "/metrics").await;
    let (types, m) = crate::operator::parse_exposition(&text);
    assert_eq!(types["complaintd_mail_unparsed"], prometheus_parse::SampleType::Counter);
    let unparsed = |reason| crate::operator::value(&m, "complaintd_mail_unparsed_total", &[("reason", reason)]);
    assert_eq!((unparsed("too_deep"), unparsed("several_from")), (1.0, 1.0));
    assert_eq!((unparsed("given_up"), unparsed("oversized"), unparsed("too_many_parts")), (0.0, 0.0, 0.0));
    assert_eq!(crate::operator::value(&m, "complaintd_reply_cap_hits_total", &[]), 1.0);
    app.stop().await;
}
