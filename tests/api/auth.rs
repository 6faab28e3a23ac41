//! Verdicts against the real lab: its DNS (dnsmasq) publishes the keys,
//! OpenDKIM signs on the station and submission ports and verifies on the
//! MX (the plain port), which adds `Authentication-Results`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use complaintd::auth::{AuthSettings, DkimSettings, Method, Outcome, Signer, Verdict, Verifier, results};

use crate::helpers::{reply_mail, smtp_send_plain, smtp_send_via, unique_prefix, wait_for_mail};

struct AuthLab {
    station_smtp: String,
    submission: String,
    dns: String,
    dkim_dir: PathBuf,
    authserv_id: String,
}

fn auth_lab() -> AuthLab {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    AuthLab {
        station_smtp: var("COMPLAINTD_LAB_STATION_SMTP", "127.0.0.1:10026"),
        submission: var("COMPLAINTD_LAB_SUBMISSION", "127.0.0.1:10587"),
        dns: var("COMPLAINTD_LAB_DNS", "127.0.0.1:10053"),
        dkim_dir: var("COMPLAINTD_LAB_DKIM_DIR", "/tmp/complaintd-lab/dkim").into(),
        authserv_id: var("COMPLAINTD_LAB_AUTHSERV_ID", "mx.hq.example.test"),
    }
}

fn settings(dns: &str) -> AuthSettings {
    AuthSettings {
        trusted_authserv_ids: vec![auth_lab().authserv_id],
        resolver: Some(dns.to_owned()),
        dns_timeout_seconds: 2,
        ..AuthSettings::default()
    }
}

fn verifier() -> Verifier {
    Verifier::new(&settings(&auth_lab().dns)).expect("verifier")
}

/// The lab's key for `domain` (selector "lab", RSA), or HQ's Ed25519 one.
fn lab_signer(domain: &str, ed25519: bool) -> Signer {
    let (selector, file) =
        if ed25519 { ("ed", format!("{domain}.ed25519.pem")) } else { ("lab", format!("{domain}.private")) };
    let s = DkimSettings { domain: domain.into(), selector: selector.into(), key_file: file.into() };
    Signer::load(&s, &auth_lab().dkim_dir).expect("lab key")
}

/// Delivers `raw` through `server` to a private inbox and returns it as stored.
async fn delivered(server: Option<&str>, login: Option<&str>, from: &str, raw: &[u8]) -> Vec<u8> {
    let inbox = format!("{}-complaints@hq.example.test", unique_prefix());
    match server {
        Some(s) => smtp_send_via(s, login, from, &[&inbox], raw).await,
        None => smtp_send_plain(from, &[&inbox], raw).await,
    }
    wait_for_mail(&inbox, 1, |_| true).await.remove(0).raw
}

fn station_reply(from: &str) -> Vec<u8> {
    let id = format!("{}@stations.example.test", unique_prefix());
    reply_mail(from, "complaints@hq.example.test", &id, "t1@hq.example.test", "Re: 投诉转出", "已联系客户，明日上门。")
}

/// What our MX said about DKIM, topmost results only.
fn mx_says(raw: &[u8]) -> Vec<(String, String, Option<String>)> {
    let m = mail_parser::MessageParser::default().parse(raw).expect("parsable");
    let headers: Vec<(String, String)> = m.headers_raw().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    results::ours(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), &[auth_lab().authserv_id])
        .into_iter()
        .flat_map(|ar| ar.results)
        .filter(|r| r.method == "dkim")
        .map(|r| (r.method.clone(), r.result.clone(), r.prop("header.d").map(str::to_owned)))
        .collect()
}

fn assert_verdict(v: &Verdict, outcome: Outcome, method: Method, domain: &str) {
    assert_eq!((v.verdict, v.method, v.domain.as_deref()), (outcome, method, Some(domain)), "{v:?}");
}

#[tokio::test]
async fn auth_station_server_mail_passes_here_and_at_our_mx() {
    let from = "station-bj01@stations.example.test";
    let raw = delivered(Some(&auth_lab().station_smtp), None, from, &station_reply(from)).await;
    assert_verdict(&verifier().verify(&raw).await, Outcome::Pass, Method::Dkim, "stations.example.test");
    assert_eq!(mx_says(&raw), [("dkim".into(), "pass".into(), Some("stations.example.test".into()))]);
    // With DNS gone, our MX's word still carries it.
    let blind = Verifier::new(&settings("127.0.0.1:9")).unwrap();
    assert_verdict(&blind.verify(&raw).await, Outcome::Pass, Method::AuthservDkim, "stations.example.test");
}

#[tokio::test]
async fn auth_call_center_submission_is_signed_for_hq() {
    let from = "callcenter@hq.example.test";
    let raw = delivered(Some(&auth_lab().submission), Some(from), from, &station_reply(from)).await;
    assert_verdict(&verifier().verify(&raw).await, Outcome::Pass, Method::Dkim, "hq.example.test");
}

#[tokio::test]
async fn auth_plain_port_mail_is_none_even_with_a_forged_pass() {
    let from = "station-bj01@stations.example.test";
    let forged = [
        b"Authentication-Results: mx.hq.example.test; dkim=pass header.d=stations.example.test\r\n\
          Authentication-Results: mx.hq.example.test; dmarc=pass header.from=stations.example.test\r\n"
            .as_slice(),
        &station_reply(from),
    ]
    .concat();
    for raw in [station_reply(from), forged] {
        let stored = delivered(None, None, from, &raw).await;
        let v = verifier().verify(&stored).await;
        assert_eq!((v.verdict, v.method), (Outcome::None, Method::None), "{v:?}");
        assert_eq!(mx_says(&stored), [], "no results for unsigned mail, the forged ones removed");
    }
}

#[tokio::test]
async fn auth_tampered_after_signing_fails() {
    let from = "station-bj01@stations.example.test";
    let signed = delivered(Some(&auth_lab().station_smtp), None, from, &station_reply(from)).await;
    let text = String::from_utf8(signed).unwrap();
    // The body said "contacted the customer"; now it says "closed, invalid".
    let (head, _) = text.split_once("\r\n\r\n").unwrap();
    let tampered = format!("{head}\r\n\r\n{}", mail_b64("结案 无效"));
    let v = verifier().verify(tampered.as_bytes()).await;
    assert_verdict(&v, Outcome::Fail, Method::Dkim, "stations.example.test");
    // Replayed from the internet, our MX finds it broken too.
    let replayed = delivered(None, None, from, tampered.as_bytes()).await;
    assert_verdict(&verifier().verify(&replayed).await, Outcome::Fail, Method::Dkim, "stations.example.test");
    assert!(mx_says(&replayed).iter().any(|(m, r, _)| m == "dkim" && r == "fail"));
}

fn mail_b64(s: &str) -> String {
    use base64::Engine as _;
    format!("{}\r\n", base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
}

#[tokio::test]
async fn auth_signed_by_another_domain_is_not_a_pass() {
    let from = "station-bj01@stations.example.test";
    let signed = lab_signer("other.example.test", false).sign(&station_reply(from)).unwrap();
    let stored = delivered(None, None, from, &signed).await;
    assert_eq!(mx_says(&stored), [("dkim".into(), "pass".into(), Some("other.example.test".into()))]);
    let v = verifier().verify(&stored).await;
    assert_eq!(v.verdict, Outcome::None, "{v:?}");
    // The stations' own server signing a handler's From is no better.
    let handler = "liujia@hq.example.test";
    let stored = delivered(Some(&auth_lab().station_smtp), None, handler, &station_reply(handler)).await;
    assert_eq!(verifier().verify(&stored).await.verdict, Outcome::None);
}

#[tokio::test]
async fn auth_the_desks_own_signature_verifies_rsa_and_ed25519() {
    let from = "complaints@hq.example.test";
    for ed25519 in [false, true] {
        let signed = lab_signer("hq.example.test", ed25519).sign(&station_reply(from)).unwrap();
        assert_verdict(&verifier().verify(&signed).await, Outcome::Pass, Method::Dkim, "hq.example.test");
        // OpenDKIM, as a station's server would, agrees.
        let stored = delivered(None, None, from, &signed).await;
        assert!(mx_says(&stored).iter().any(|(m, r, _)| m == "dkim" && r == "pass"), "{:?}", mx_says(&stored));
    }
}

/// A private DNS server with the lab's zone, to stop without disturbing
/// the other tests.
struct Dns {
    child: std::process::Child,
    addr: String,
}

impl Dns {
    fn start() -> Dns {
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let zone = auth_lab().dkim_dir.parent().unwrap().join("dns/zone.conf");
        let child = std::process::Command::new("dnsmasq")
            .arg(format!("--conf-file={}", zone.display()))
            .args(["--keep-in-foreground", "--listen-address=127.0.0.1", "--bind-interfaces", "--user=root"])
            .arg(format!("--port={port}"))
            .arg("--pid-file=")
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dnsmasq runs (scripts/lab up installs it)");
        Dns { child, addr: format!("127.0.0.1:{port}") }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn auth_a_dns_outage_is_a_temporary_error_and_the_cache_outlives_it() {
    let from = "station-bj01@stations.example.test";
    let raw = delivered(Some(&auth_lab().station_smtp), None, from, &station_reply(from)).await;
    // Only the in-process check: our MX's results would carry it.
    let no_mx = |dns: &str| Verifier::new(&AuthSettings { trusted_authserv_ids: vec![], ..settings(dns) }).unwrap();
    let dns = Dns::start();
    let cached = no_mx(&dns.addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cached.verify(&raw).await.verdict != Outcome::Pass {
        assert!(Instant::now() < deadline, "private DNS never answered");
    }
    let stopped = dns.addr.clone();
    drop(dns);
    let v = no_mx(&stopped).verify(&raw).await;
    assert_eq!(v.verdict, Outcome::TempError, "{v:?}");
    assert_eq!(cached.verify(&raw).await.verdict, Outcome::Pass, "the key stays cached for its TTL");
}

/// Not a check: the cost of verification per mail, for BENCHMARKS.md
/// (`--no-capture` shows it).
#[tokio::test]
async fn auth_verification_cost_per_mail() {
    let from = "station-bj01@stations.example.test";
    let raw = delivered(Some(&auth_lab().station_smtp), None, from, &station_reply(from)).await;
    let v = verifier();
    let start = Instant::now();
    assert_eq!(v.verify(&raw).await.verdict, Outcome::Pass);
    let cold = start.elapsed();
    let n = 1000;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(v.verify(&raw).await.verdict, Outcome::Pass);
    }
    let warm = start.elapsed() / n;
    let unsigned = delivered(None, None, from, &station_reply(from)).await;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(v.verify(&unsigned).await.verdict, Outcome::None);
    }
    let none = start.elapsed() / n;
    eprintln!("auth verification: cold (DNS) {cold:?}, warm (cached key) {warm:?}/mail, unsigned {none:?}/mail");
}
