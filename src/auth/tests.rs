//! Verdicts over messages signed here, with the DNS answers put in the
//! cache beforehand; the resolver points at a closed port, so anything not
//! cached is a DNS failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::parse::TxtRecordParser as _;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::{ResolverCache as _, Txt};

use super::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Domain {
    signer: Signer,
    record: String,
}

fn key_for(domain: &str) -> Domain {
    let der = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&der).unwrap().public_key();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", B64.encode(&der));
    Domain {
        signer: Signer::from_pem(pem.as_bytes(), domain, "sel").unwrap(),
        record: format!("v=DKIM1; k=ed25519; p={}", B64.encode(public)),
    }
}

fn verifier() -> Verifier {
    let settings = AuthSettings {
        trusted_authserv_ids: vec!["mx.hq.example.test".into()],
        resolver: Some("127.0.0.1:9".into()),
        dns_timeout_seconds: 1,
        ..AuthSettings::default()
    };
    Verifier::new(&settings).unwrap()
}

fn publish_key(v: &Verifier, domain: &str, record: &str) {
    let key = DomainKey::parse(record.as_bytes()).unwrap();
    v.cache.insert(format!("sel._domainkey.{domain}.").into(), Txt::DomainKey(Arc::new(key)), later());
}

fn publish_dmarc(v: &Verifier, domain: &str, record: &str) {
    let dmarc = Dmarc::parse(record.as_bytes()).unwrap();
    v.cache.insert(format!("_dmarc.{domain}.").into(), Txt::Dmarc(Arc::new(dmarc)), later());
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn message(from: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "{extra_headers}From: {from}\r\nTo: complaints@hq.example.test\r\nSubject: =?UTF-8?B?5Zue5aSN?=\r\n\
         Date: Wed, 02 Dec 2026 08:00:00 +0000\r\nMessage-ID: <m1@x.test>\r\n\r\n已处理完毕\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_message_signed_here_passes() {
    let v = verifier();
    let d = key_for("stations.example.test");
    publish_key(&v, "stations.example.test", &d.record);
    let signed = d.signer.sign(&message("station-bj01@stations.example.test", "")).unwrap();
    let verdict = v.verify(&signed).await;
    assert_eq!((verdict.verdict, verdict.method), (Outcome::Pass, Method::Dkim), "{verdict:?}");
    assert_eq!(verdict.domain.as_deref(), Some("stations.example.test"));
    let text = String::from_utf8_lossy(&signed).to_ascii_lowercase();
    let h = &text[text.find("h=").unwrap() + 2..];
    let h = &h[..h.find(';').unwrap()];
    let signed_headers: Vec<&str> = h.split(':').map(str::trim).collect();
    for name in ["from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted"] {
        assert!(signed_headers.contains(&name), "{name} not in h={h}");
    }
    assert_eq!(signed_headers.iter().filter(|n| **n == "from").count(), 2, "From over-signed");
}

#[tokio::test]
async fn a_published_key_is_recognised_and_a_stale_one_is_not() {
    let v = verifier();
    let (current, stale) = (key_for("hq.example.test"), key_for("hq.example.test"));
    publish_key(&v, "hq.example.test", &current.record);
    assert_eq!(v.check_published(&current.signer).await.verdict, Outcome::Pass);
    assert_eq!(v.check_published(&stale.signer).await.verdict, Outcome::Fail);
}

#[tokio::test]
async fn tampering_after_signing_fails() {
    let v = verifier();
    let d = key_for("stations.example.test");
    publish_key(&v, "stations.example.test", &d.record);
    let signed = d.signer.sign(&message("station-bj01@stations.example.test", "")).unwrap();
    let body_changed = String::from_utf8(signed.clone()).unwrap().replace("已处理完毕", "结案 无效");
    let verdict = v.verify(body_changed.as_bytes()).await;
    assert_eq!(verdict.verdict, Outcome::Fail, "{verdict:?}");
    let subject_changed = String::from_utf8(signed).unwrap().replace("=?UTF-8?B?5Zue5aSN?=", "closed");
    assert_eq!(v.verify(subject_changed.as_bytes()).await.verdict, Outcome::Fail);
}

#[tokio::test]
async fn another_domains_signature_is_not_a_pass() {
    let v = verifier();
    let other = key_for("other.example.test");
    publish_key(&v, "other.example.test", &other.record);
    publish_dmarc(&v, "stations.example.test", "v=DMARC1; p=reject; adkim=s");
    let signed = other.signer.sign(&message("station-bj01@stations.example.test", "")).unwrap();
    let verdict = v.verify(&signed).await;
    assert_eq!(verdict.verdict, Outcome::None, "{verdict:?}");
    assert!(verdict.reason.unwrap().contains("other.example.test"));
}

#[tokio::test]
async fn relaxed_alignment_is_the_from_domains_choice() {
    let v = verifier();
    let mail = key_for("mail.station.com.cn");
    publish_key(&v, "mail.station.com.cn", &mail.record);
    let signed = mail.signer.sign(&message("a@station.com.cn", "")).unwrap();
    // No DMARC record: strict, so a subdomain does not speak for it.
    v.cache.insert("_dmarc.station.com.cn.".into(), Txt::Error(mail_auth::Error::ParseError), later());
    assert_eq!(v.verify(&signed).await.verdict, Outcome::None);
    // Its DMARC record says relaxed (the default adkim).
    publish_dmarc(&v, "station.com.cn", "v=DMARC1; p=none");
    assert_eq!(v.verify(&signed).await.verdict, Outcome::Pass);
}

#[tokio::test]
async fn dns_down_is_a_temporary_error() {
    let v = verifier();
    let d = key_for("stations.example.test");
    let signed = d.signer.sign(&message("station-bj01@stations.example.test", "")).unwrap();
    let verdict = v.verify(&signed).await;
    assert_eq!(verdict.verdict, Outcome::TempError, "{verdict:?}");
}

#[tokio::test]
async fn our_servers_pass_counts_only_for_a_signature_the_message_carries() {
    let v = verifier();
    let d = key_for("stations.example.test");
    // Key not published: the in-process check meets a DNS failure, our
    // server's word decides.
    let plain = message("station-bj01@stations.example.test", "");
    let signed = d.signer.sign(&plain).unwrap();
    let b = {
        let text = String::from_utf8_lossy(&signed);
        let at = text.find(" b=").unwrap() + 3;
        text[at..at + 8].to_owned()
    };
    let ar = format!(
        "Authentication-Results: mx.hq.example.test; dkim=pass header.d=stations.example.test header.b={b}\r\n"
    );
    let mut with_ar = ar.clone().into_bytes();
    with_ar.extend_from_slice(&signed);
    let verdict = v.verify(&with_ar).await;
    assert_eq!((verdict.verdict, verdict.method), (Outcome::Pass, Method::AuthservDkim), "{verdict:?}");
    // The same claim on an unsigned message is not believed.
    let unsigned = [ar.as_bytes(), &plain].concat();
    assert_eq!(v.verify(&unsigned).await.verdict, Outcome::None);
    // Our server's dmarc=fail is a failure.
    let failed =
        message("station-bj01@stations.example.test", "Authentication-Results: mx.hq.example.test; dmarc=fail\r\n");
    assert_eq!(v.verify(&failed).await.verdict, Outcome::Fail);
    // A forged pass below our own result is ignored.
    let forged = message(
        "station-bj01@stations.example.test",
        "Authentication-Results: mx.hq.example.test; dkim=none\r\nReceived: from evil by mx.hq.example.test\r\n\
         Authentication-Results: mx.hq.example.test; dmarc=pass header.from=stations.example.test\r\n",
    );
    assert_eq!(v.verify(&forged).await.verdict, Outcome::None);
}

#[tokio::test]
async fn more_than_one_author_is_never_a_pass() {
    let v = verifier();
    let verdict = v.verify(&message("a@stations.example.test, b@hq.example.test", "")).await;
    assert_eq!(verdict.verdict, Outcome::None);
    assert_eq!(v.verify(b"garbage").await.verdict, Outcome::None);
    // A second From slipped above a signed message.
    let d = key_for("stations.example.test");
    publish_key(&v, "stations.example.test", &d.record);
    let signed = d.signer.sign(&message("station-bj01@stations.example.test", "")).unwrap();
    let two = [b"From: station-bj02@stations.example.test\r\n".as_slice(), &signed].concat();
    assert_ne!(v.verify(&two).await.verdict, Outcome::Pass);
}

#[test]
fn the_verdict_serialises_as_parse_shows_it() {
    let v = Verdict {
        verdict: Outcome::TempError,
        method: Method::AuthservDkim,
        domain: Some("x.test".into()),
        reason: None,
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"verdict": "temperror", "method": "authserv-dkim", "domain": "x.test"})
    );
    assert_eq!(v.describe(), "temperror (authserv-dkim, x.test)");
}

#[test]
fn policy_per_role_with_a_station_override() {
    let settings: AuthSettings = toml::from_str(
        "mode = \"enforce\"\ntrusted_authserv_ids = [\"mx.hq.example.test\"]\n\
         [require]\npre_report = \"any\"\n[stations]\nbj07 = \"any\"\n",
    )
    .unwrap();
    let verdict = |o| Verdict { verdict: o, method: Method::None, domain: None, reason: None };
    let none = verdict(Outcome::None);
    assert!(matches!(settings.decide(&none, Role::Station, Some("BJ01")), Decision::Refuse { .. }));
    assert_eq!(settings.decide(&none, Role::Station, Some("BJ07")), Decision::Apply);
    assert_eq!(settings.decide(&none, Role::PreReport, None), Decision::Apply);
    assert!(matches!(settings.decide(&verdict(Outcome::Fail), Role::Handler, None), Decision::Refuse { .. }));
    assert_eq!(settings.decide(&verdict(Outcome::TempError), Role::CallCenter, None), Decision::Wait);
    assert_eq!(settings.decide(&verdict(Outcome::Pass), Role::CallCenter, None), Decision::Apply);
    let report = AuthSettings { mode: Mode::Report, ..settings.clone() };
    assert!(matches!(report.decide(&none, Role::Handler, None), Decision::ApplyReported { .. }));
    assert_eq!(settings.problems(&["BJ07"]), vec![]);
    let bad = AuthSettings { resolver: Some("localhost".into()), ..settings };
    let keys: Vec<String> = bad.problems(&[]).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["auth.resolver", "auth.stations.bj07"]);
}

#[test]
fn stations_sharing_a_domain_they_must_prove_are_warned_of() {
    let mut auth = AuthSettings::default();
    let (bj01, sh02, gz03) = (
        vec!["station-bj01@Stations.example.test".to_owned(), "bj01-boss@bj01.example.test".to_owned()],
        vec!["station-sh02@stations.example.test".to_owned()],
        vec!["station-gz03@stations.example.test".to_owned()],
    );
    let stations = || [("BJ01", bj01.as_slice()), ("SH02", sh02.as_slice()), ("GZ03", gz03.as_slice())];
    let warned = auth.warnings(stations());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].0, "auth.require.station");
    assert!(warned[0].1.starts_with("BJ01, SH02, GZ03 share the mail domain stations.example.test"), "{warned:?}");
    // A station that must show nothing proves nothing: not counted.
    auth.stations.insert("SH02".into(), Requirement::Any);
    auth.stations.insert("GZ03".into(), Requirement::Any);
    assert!(auth.warnings(stations()).is_empty());
    auth.mode = Mode::Off;
    assert_eq!(auth.warnings(stations())[0].0, "auth.mode");
}
