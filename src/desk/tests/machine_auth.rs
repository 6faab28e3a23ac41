//! Machine mail is not believed on its From alone: bounces must quote a
//! mail the desk sent (or be signed by the failing domain or ours), and
//! auto-replies and receipts must pass their sender's policy.

use super::*;
use crate::auth::{Method, Mode, Outcome, Verdict};

const BACKUP: &str = "station-bj01-backup@stations.example.test";

fn verdict(outcome: Outcome, domain: &str) -> Verdict {
    let method = if outcome == Outcome::Pass { Method::Dkim } else { Method::None };
    Verdict { verdict: outcome, method, domain: Some(domain.into()), reason: None }
}

fn unsigned() -> Verdict {
    verdict(Outcome::None, "lab.example.test")
}

impl Fixture {
    /// [`Fixture::take`] of mail intake verified as `auth`.
    async fn take_verified(&mut self, raw: &str, auth: &Verdict) -> Disposition {
        let parsed = intake::parse(raw.as_bytes(), &self.desk.settings);
        self.uid += 1;
        let record = InboundRecord::new("test/INBOX".into(), 1, self.uid, &parsed, self.desk.clock.now());
        let mut tx = self.store.begin().await.expect("begin");
        let inbound = tx.claim_inbound(&record).await.expect("claim").expect("a new message");
        let incoming = Incoming { msg: &parsed, inbound, auth: Some(auth) };
        let disposition = self.desk.apply(&mut tx, incoming).await.expect("applied");
        tx.commit().await.expect("commit");
        disposition
    }

    /// Sends everything queued (the server accepted it); their Message-IDs.
    async fn send_all(&self) -> Vec<(String, Vec<String>)> {
        let claimed = self.store.claim_outbox(monday(), std::time::Duration::from_secs(60), 100).await.expect("claim");
        let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
        self.store.mark_sent(&ids, monday()).await.expect("sent");
        claimed.into_iter().map(|m| (m.message_id, m.recipients)).collect()
    }
}

/// A DSN: `failed` did not get the mail whose headers it returns (`quoted`).
fn bounce(number: &TicketNo, failed: &str, quoted: &str) -> String {
    dsn(number, failed, quoted, "failed")
}

/// A DSN whose `Action:` is `action` (failed, delayed).
fn dsn(number: &TicketNo, failed: &str, quoted: &str, action: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "From: MAILER-DAEMON@lab.example.test\r\nTo: {DESK}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <bounce{n}@lab.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\ndelivery failed\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lab.example.test\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: {action}\r\nStatus: 5.2.2\r\n\
         Diagnostic-Code: smtp; 552 mailbox full\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{quoted}>\r\nSubject: [{number}] x\r\n\r\n--b1--\r\n"
    )
}

fn away(number: &TicketNo, from: &str, id: &str) -> String {
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: 自动回复: [{number}] 投诉转出\r\nMessage-ID: <{id}>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n本人休假至11月20日。\r\n"
    )
}

fn is_quarantined(d: &Disposition, says: &str) -> bool {
    matches!(d, Disposition::Quarantined { reason, .. } if reason.contains(says))
}

#[tokio::test]
async fn a_forged_bounce_is_noted_never_applied_and_nobody_is_told() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let forward = f.send_all().await.into_iter().find(|(id, _)| id.contains(".forward.")).expect("forward").0;
    let queued = f.keys().await.len();

    // Guessed ID, the ticket's number right: not one the desk sent.
    let guessed = format!("{number}.forward.000000000000000000000000@hq.example.test");
    let d = f.take_verified(&bounce(&number, BJ01, &guessed), &unsigned()).await;
    assert!(is_quarantined(&d, "bounce not believed"), "{d:?}");
    // The real forward's ID, but for an address it was never sent to.
    let d = f.take_verified(&bounce(&number, BACKUP, &forward), &unsigned()).await;
    assert!(is_quarantined(&d, &format!("sent to {BACKUP}")), "{d:?}");
    // Signed, but by a domain that is neither ours nor the failed one's.
    let d = f.take_verified(&bounce(&number, BJ01, &guessed), &verdict(Outcome::Pass, "other.example.test")).await;
    assert!(is_quarantined(&d, "bounce not believed"), "{d:?}");

    assert_eq!(f.ticket(&number).await.backup_at, None, "still on its primary contact");
    assert_eq!(f.keys().await.len(), queued, "no alert, no forward to the backup, no answer");
    let events = f.events(&number).await;
    assert_eq!(events.iter().filter(|e| *e == "refused").count(), 3, "{events:?}");
    assert!(!events.iter().any(|e| e == "bounce"), "{events:?}");
}

#[tokio::test]
async fn a_bounce_quoting_a_sent_mail_or_signed_by_the_failing_domain_is_believed() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    // Being sent, not yet accepted: no bounce can be about it.
    let claimed = f.store.claim_outbox(monday(), std::time::Duration::from_secs(60), 100).await.expect("claim");
    let forward = claimed.iter().find(|m| m.key.contains(":forward:")).expect("forward").message_id.clone();
    let d = f.take_verified(&bounce(&number, BJ01, &forward), &unsigned()).await;
    assert!(is_quarantined(&d, "bounce not believed"), "{d:?}");

    let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
    f.store.mark_sent(&ids, monday()).await.expect("sent");
    let d = f.take_verified(&bounce(&number, BJ01, &forward), &unsigned()).await;
    assert!(matches!(d, Disposition::Handled { .. }), "{d:?}");
    assert!(f.ticket(&number).await.backup_at.is_some(), "the backup takes over");

    // The station's own mail system, signing for its domain, needs no quote.
    let form = FORM.replace("13900002222", "13900003333").replace("SO-2026-110001", "SO-2");
    let other = f.take(&complaint(HANDLER, "c2@hq.example.test", &form)).await;
    let Disposition::Handled { ticket: Some(second), .. } = other else { panic!("{other:?}") };
    let d =
        f.take_verified(&bounce(&second, BJ01, "unknown@x"), &verdict(Outcome::Pass, "stations.example.test")).await;
    assert!(matches!(d, Disposition::Handled { .. }), "{d:?}");
    // DNS failed on an unquoted bounce: it waits.
    let d =
        f.take_verified(&bounce(&second, BJ01, "unknown@x"), &verdict(Outcome::TempError, "lab.example.test")).await;
    assert!(matches!(d, Disposition::Wait { .. }), "{d:?}");
}

#[tokio::test]
async fn auto_replies_and_receipts_must_pass_the_senders_policy() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let d = f.take_verified(&away(&number, BJ01, "a1@s"), &unsigned()).await;
    assert!(is_quarantined(&d, "auto_reply not applied: sender not authenticated"), "{d:?}");
    let receipt = format!(
        "From: {BJ01}\r\nTo: {DESK}\r\nSubject: 已读: [{number}] 投诉转出\r\nMessage-ID: <m1@s>\r\n\
         Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n"
    );
    let d = f.take_verified(&receipt, &unsigned()).await;
    assert!(is_quarantined(&d, "receipt not applied"), "{d:?}");
    assert_eq!(f.ticket(&number).await.backup_at, None);
    let events = f.events(&number).await;
    assert!(!events.iter().any(|e| e == "receipt" || e == "auto_reply"), "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "refused").count(), 2, "{events:?}");
    assert!(!f.keys().await.iter().any(|k| k.contains(":forged:")), "machine mail tells nobody");

    // Signed by the station's domain: the backup takes over.
    let d = f.take_verified(&away(&number, BJ01, "a2@s"), &verdict(Outcome::Pass, "stations.example.test")).await;
    assert!(matches!(d, Disposition::Handled { .. }), "{d:?}");
    assert!(f.ticket(&number).await.backup_at.is_some());
}

#[tokio::test]
async fn in_report_mode_unproven_machine_mail_is_applied() {
    let mut f = Fixture::new().await;
    f.desk.settings.auth.mode = Mode::Report;
    let number = f.complaint().await;
    let d = f.take_verified(&bounce(&number, BJ01, "guess@hq.example.test"), &unsigned()).await;
    assert!(matches!(d, Disposition::Handled { .. }), "{d:?}");
    assert!(f.ticket(&number).await.backup_at.is_some());
}

#[tokio::test]
async fn a_delay_notice_is_held_to_a_bounces_proof() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let forward = f.send_all().await.into_iter().find(|(id, _)| id.contains(".forward.")).expect("forward").0;
    let d = f.take_verified(&dsn(&number, BJ01, "guess@hq.example.test", "delayed"), &unsigned()).await;
    assert!(is_quarantined(&d, "delay_notice not believed"), "{d:?}");
    let d = f.take_verified(&dsn(&number, BJ01, &forward, "delayed"), &unsigned()).await;
    assert!(matches!(d, Disposition::Handled { .. }), "{d:?}");
    let events = f.events(&number).await;
    assert_eq!(events.iter().filter(|e| *e == "delay_notice").count(), 1, "{events:?}");
}
