//! Only the real sender acts (issue 15), against the real lab: genuine mail
//! comes through the lab's signing servers (`smtp_send`), forgeries from
//! "the internet" (`smtp_send_plain`) or signed by a server that does not
//! speak for the From domain.

use complaintd::auth::Mode;
use complaintd::ticket::{Status, TicketNo};

use crate::helpers::*;

struct Case {
    app: TestApp,
    handler: String,
    desk: String,
    station: String,
    forward_id: String,
    number: TicketNo,
}

/// BJ01's complaint, filed by the call center through HQ's submission port.
async fn filed(app: TestApp) -> Case {
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    // The desk's own mail is signed (the tests give it the lab's hq key).
    assert!(forward[0].header("DKIM-Signature").is_some_and(|s| s.contains("d=hq.example.test")));
    let number = TicketNo::find_in(&forward[0].subject).expect("ticket in subject");
    Case { forward_id: forward[0].message_id.clone(), number, app, handler, desk, station }
}

impl Case {
    fn reply(&self, from: &str, n: u32, text: &str, extra_headers: &str) -> Vec<u8> {
        let id = format!("{}.r{n}@stations.example.test", self.app.net.prefix);
        let subject = format!("Re: [{}] 投诉转出-马丽", self.number);
        let mail = reply_mail(from, &self.desk, &id, &self.forward_id, &subject, text);
        [extra_headers.as_bytes(), &mail].concat()
    }

    async fn ticket(&self) -> complaintd::ticket::Ticket {
        self.app.store.ticket(&self.number).await.unwrap().unwrap()
    }

    async fn forged_notices(&self) -> usize {
        mailbox(&self.handler, "INBOX").await.iter().filter(|m| m.subject.contains(FORGED_NOTICE)).count()
    }

    /// Waits for the handler's first notice of a refused forgery: sent is
    /// not yet delivered.
    async fn forged_notice_arrives(&self) {
        wait_for_mail(&self.handler, 1, |m| m.subject.contains(FORGED_NOTICE)).await;
    }
}

/// The subject of the handler's notice of a refused forgery.
const FORGED_NOTICE: &str = "已拒收冒名邮件";

/// Claims of our MX's, written by the forger.
const FORGED_RESULTS: &str = "Authentication-Results: mx.hq.example.test; dkim=pass header.d=stations.example.test; \
                              dmarc=pass header.from=stations.example.test\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn forgery_station_replies_not_signed_by_the_station_are_refused_and_the_handler_told_once() {
    let c = filed(spawn_app().await).await;
    let submission = lab().submission;

    // Genuine: through the station's server, signed d=stations.example.test.
    smtp_send(&c.station, &[&c.desk], &c.reply(&c.station, 1, "已联系客户，明日上门。", "")).await;
    wait_for_mail(&c.handler, 1, |m| m.subject.contains("回复（已联系客户）")).await;
    assert_eq!(c.ticket().await.status, Status::Contacted);

    // The same station's name from the internet, unsigned.
    let result = "处理结果：已更换主板，客户满意。";
    smtp_send_plain(&c.station, &[&c.desk], &c.reply(&c.station, 2, result, "")).await;
    // Signed, but by HQ's server (not the station's domain), and carrying
    // forged results of our MX's below the ones it adds.
    let forged = c.reply(&c.station, 3, result, FORGED_RESULTS);
    smtp_send_via(&submission, Some(&c.handler), &c.station, &[&c.desk], &forged).await;
    // Unsigned again, with the forged results on top.
    smtp_send_plain(&c.station, &[&c.desk], &c.reply(&c.station, 4, result, FORGED_RESULTS)).await;

    wait_for_folder(&c.desk, "Quarantine", 3).await;
    wait_for_unsent(&c.app, 0).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.result_at), (Status::Contacted, None), "no forgery applied");
    c.forged_notice_arrives().await;
    assert_eq!(c.forged_notices().await, 1, "the handler is told once per ticket and sender");
    let notice = mailbox(&c.handler, "INBOX").await.into_iter().find(|m| m.subject.contains(FORGED_NOTICE)).unwrap();
    assert!(notice.text.contains(&c.station), "{}", notice.text);
    // Nothing reaches the claimed sender about it.
    assert!(mailbox(&c.station, "INBOX").await.iter().all(|m| m.subject.contains("投诉转出")));
    // Each refusal is on the intake log with its verdict.
    let inbound = c.app.store.inbound_of(&c.number).await.unwrap();
    let refused: Vec<_> = inbound.iter().filter(|m| m.outcome.as_str() == "quarantined").collect();
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|m| m.auth.as_deref().is_some_and(|a| !a.contains("\"pass\""))), "{refused:?}");
    assert!(refused.iter().all(|m| m.reason.as_deref().is_some_and(|r| r.contains("not authenticated"))));
    let applied = inbound.iter().find(|m| m.outcome.as_str() == "handled" && m.sender == c.station).unwrap();
    assert!(applied.auth.as_deref().is_some_and(|a| a.contains("\"pass\"")), "{applied:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgery_a_forged_handler_close_leaves_the_ticket_open() {
    let c = filed(spawn_app().await).await;
    // "结案 无效" in the handler's name, from the internet: it would take
    // the complaint out of BJ01's assessment.
    smtp_send_plain(&c.handler, &[&c.desk], &c.reply(&c.handler, 1, "结案 无效", "")).await;
    wait_for_folder(&c.desk, "Quarantine", 1).await;
    wait_for_unsent(&c.app, 0).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.valid), (Status::Open, None), "still open, still counted");
    c.forged_notice_arrives().await;

    // The real handler closes it: applied.
    smtp_send(&c.handler, &[&c.desk], &c.reply(&c.handler, 2, "结案", "")).await;
    wait_for_folder(&c.desk, "Handled", 2).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.valid), (Status::Closed, Some(true)));
    assert_eq!(c.forged_notices().await, 1, "told once");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgery_a_spoofed_call_center_complaint_makes_no_ticket_and_no_forward() {
    let app = spawn_app().await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.spoof@hq.example.test", app.net.prefix);
    smtp_send_plain(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    wait_for_folder(&desk, "Quarantine", 1).await;
    wait_for_unsent(&app, 0).await;
    assert!(app.store.tickets(None, None).await.unwrap().is_empty(), "no ticket");
    assert_eq!(count(&station, "INBOX").await, 0, "no forward under the desk's name");
    assert_eq!(count(&handler, "INBOX").await, 0, "no acknowledgement or problem reply");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgery_in_report_mode_is_applied_and_its_verdict_shown() {
    let now = "2026-11-16T01:30:00Z".parse().unwrap();
    let app = spawn_app_with(now, |s| s.auth.mode = Mode::Report).await;
    let (handler, desk) = (app.net.hq("liujia"), app.net.hq("complaints"));
    let id = format!("{}.spoof@hq.example.test", app.net.prefix);
    smtp_send_plain(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    let forward = wait_for_mail(&app.net.station("BJ01"), 1, |m| m.subject.contains("投诉转出")).await;
    let number = TicketNo::find_in(&forward[0].subject).unwrap();
    let c = Case {
        forward_id: forward[0].message_id.clone(),
        number,
        station: app.net.station("BJ01"),
        handler,
        desk,
        app,
    };
    smtp_send_plain(&c.handler, &[&c.desk], &c.reply(&c.handler, 1, "结案 无效", "")).await;
    wait_for_folder(&c.desk, "Handled", 2).await;
    let t = c.ticket().await;
    assert_eq!((t.status, t.valid), (Status::Closed, Some(false)), "report mode applies");
    let inbound = c.app.store.inbound_of(&c.number).await.unwrap();
    assert_eq!(inbound.len(), 2);
    for m in &inbound {
        let verdict: serde_json::Value = serde_json::from_str(m.auth.as_deref().expect("verdict stored")).unwrap();
        assert_eq!(verdict["verdict"], "none", "{verdict}");
    }
    assert_eq!(c.forged_notices().await, 0, "nothing refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgery_a_dns_outage_delays_genuine_mail_and_never_refuses_it() {
    let now = "2026-11-16T01:30:00Z".parse().unwrap();
    // A resolver that answers nothing, and no MX results to fall back on:
    // the verdict can only be temperror.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let app = spawn_app_with(now, |s| {
        s.auth.resolver = Some(dead);
        s.auth.trusted_authserv_ids.clear();
        s.auth.dns_timeout_seconds = 1;
        s.metrics = Some(complaintd::metrics::MetricsSettings::on("127.0.0.1:0".parse().unwrap()));
    })
    .await;
    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.c1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    // Until intake has tried, and waited, twice.
    let addr = app.metrics_addr.expect("metrics");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if metric(addr, "complaintd_auth_deferred_total").await >= 2.0 {
            // Waiting is not a verdict: nothing is counted until it settles.
            assert_eq!(metric(addr, VERDICT_TEMPERROR).await, 0.0);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "intake never tried");
        // Intake retries a waiting message at its next poll.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(count(&desk, "INBOX").await, 1, "left in the inbox");
    assert_eq!(count(&desk, "Quarantine").await, 0, "never refused");
    assert!(app.store.tickets(None, None).await.unwrap().is_empty());

    // DNS is back: the complaint is filed.
    let lab_dns = lab().dns;
    let mut app = app.restart_with(|s| s.auth.resolver = Some(lab_dns)).await;
    wait_for_mail(&station, 1, |m| m.subject.contains("投诉转出")).await;
    assert_eq!(count(&desk, "Quarantine").await, 0);
    // The retried message is counted once, as what it was settled on.
    let addr = app.metrics_addr.expect("metrics");
    assert_eq!(metric(addr, "complaintd_auth_verdicts_total{verdict=\"pass\"}").await, 1.0);
    assert_eq!(metric(addr, VERDICT_TEMPERROR).await, 0.0);
    app.stop().await;
}

const VERDICT_TEMPERROR: &str = "complaintd_auth_verdicts_total{verdict=\"temperror\"}";

/// The value of the series `name` (with its labels) on the metrics endpoint.
async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (_, body) = crate::operator::http(addr, "GET", "/metrics").await;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}
