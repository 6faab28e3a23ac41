//! Hostile and broken input: size limits, strangers, header injection, the
//! desk's own mail; and TLS to both servers.

use complaintd::config::TlsMode;

use crate::helpers::*;

/// A complaint form with a `size`-byte attachment.
fn complaint_with_attachment(from: &str, to: &str, message_id: &str, size: usize) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(b);
        s.as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).expect("ascii").to_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{}?=\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1\r\nContent-Type: image/jpeg\r\n\
         Content-Disposition: attachment; filename=photo.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64("投诉转出".as_bytes()),
        b64(FORM_BJ01.as_bytes()),
        b64(&vec![0xA5u8; size]),
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_mail_and_attachments_are_quarantined_and_our_senders_told() {
    let app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        s.mailbox.max_message_bytes = 64 * 1024;
        s.mailbox.max_attachment_bytes = 16 * 1024;
    })
    .await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let stranger = app.net.addr("nobody", "stations.example.test");
    let id = |n: &str| format!("{}.{n}@example.test", app.net.prefix);

    // An attachment over the limit: the form is refused, the handler told.
    smtp_send(&handler, &[&desk], &complaint_with_attachment(&handler, &desk, &id("a1"), 32 * 1024)).await;
    let told = wait_for_mail(&handler, 1, |m| m.text.contains("photo.jpg")).await;
    assert!(told[0].text.contains("over the limit of 16384 bytes"), "{}", told[0].text);

    // A message over the limit is read by its header only; the handler is told.
    smtp_send(&handler, &[&desk], &complaint_with_attachment(&handler, &desk, &id("a2"), 100 * 1024)).await;
    let told = wait_for_mail(&handler, 1, |m| m.text.contains("exceeds the limit of 65536 bytes")).await;
    assert!(told[0].subject.contains("邮件无法处理"), "{}", told[0].subject);

    // The same from a stranger: quarantined, and no reply (no backscatter).
    smtp_send(&stranger, &[&desk], &complaint_with_attachment(&stranger, &desk, &id("a3"), 100 * 1024)).await;
    wait_for_folder(&desk, "Quarantine", 3).await;
    wait_for_unsent(&app, 0).await;
    assert_eq!(count(&stranger, "INBOX").await, 0);
    assert!(app.store.tickets(None, None).await.unwrap().is_empty());
    assert_eq!(count(&desk, "INBOX").await, 0, "nothing left behind, nothing deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn header_injection_own_mail_and_unreadable_mail_go_nowhere_they_should_not() {
    let app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let evil = app.net.addr("evil", "stations.example.test");
    let id = |n: &str| format!("{}.{n}@example.test", app.net.prefix);

    // A customer name carrying a line break and a Bcc header.
    let form = FORM_BJ01.replace("客户姓名：马丽", &format!("客户姓名：马丽\rBcc: {evil}"));
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id("c1"), &form)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    assert!(forward[0].header("Bcc").is_none() && !forward[0].subject.contains('\r'));

    // A reply whose (encoded) subject smuggles a header into the relay.
    let subject = format!("Re: {}\r\nBcc: {evil}", forward[0].subject);
    let reply = reply_mail(&station, &desk, &id("r1"), &forward[0].message_id, &subject, "已联系客户。");
    smtp_send(&station, &[&desk], &reply).await;
    let relay = wait_for_mail(&handler, 1, |m| m.subject.contains("已联系客户")).await;
    assert!(relay[0].header("Bcc").is_none() && !relay[0].subject.contains('\n'));

    // Mail from the desk's own address (a copy of its own sending) is never
    // acted on: no ticket, no answer, no loop.
    smtp_send(
        &desk,
        &[&desk],
        &complaint_mail(&desk, &desk, &id("own"), &FORM_BJ01.replace("13900002222", "13900009999")),
    )
    .await;
    // Unreadable mail: a station is told how to reply; a stranger is not.
    let unreadable =
        |from: &str, n: &str| reply_mail(from, &desk, &id(n), "nothing@example.test", "你好", "请问这个怎么处理？");
    smtp_send(&station, &[&desk], &unreadable(&station, "u1")).await;
    smtp_send(&evil, &[&desk], &unreadable(&evil, "u2")).await;
    let told = wait_for_mail(&station, 1, |m| m.subject.contains("邮件无法处理")).await;
    assert!(told[0].text.contains("no complaint form and no ticket number"), "{}", told[0].text);
    wait_for_folder(&desk, "Quarantine", 2).await;
    wait_for_folder(&desk, "Handled", 3).await;
    wait_for_unsent(&app, 0).await;
    assert_eq!(count(&evil, "INBOX").await, 0, "the injected Bcc and the stranger got nothing");
    assert_eq!(app.store.tickets(None, None).await.unwrap().len(), 1);
}

/// Without `tls` in the config both servers are spoken to over TLS; the
/// lab offers IMAPS and SMTP STARTTLS with its own CA.
#[tokio::test(flavor = "multi_thread")]
async fn tls_to_both_servers() {
    let lab = lab();
    let app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        s.mailbox.server = lab.imaps.clone();
        s.mailbox.tls = TlsMode::Imaps;
        s.mailbox.ca_file = Some(lab.ca.clone());
        s.smtp.tls = TlsMode::Starttls;
        s.smtp.ca_file = Some(lab.ca.clone());
    })
    .await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.tls@example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    wait_for_mail(&handler, 1, |m| m.subject.contains("已受理")).await;
}
