//! The set-wise writes the sweep relies on, on a real SQLite file: the
//! parameters they generate and what `ON CONFLICT … RETURNING` reports.

use chrono::{NaiveDate, TimeZone};

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::*;
use crate::ticket::TicketNo;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, hour, 0, 0).single().expect("valid time")
}

async fn store() -> Store {
    let dir = std::env::temp_dir().join(format!("complaintd-store-{}-{}", std::process::id(), rand_suffix()));
    Store::connect("sqlite://store.db", &dir).await.expect("store")
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
}

fn ticket(n: i64) -> NewTicket {
    let number = TicketNo::new(NaiveDate::from_ymd_opt(2026, 11, 16).expect("date"), n);
    NewTicket { subject: format!("complaint {n}"), ..NewTicket::example(number, at(1)) }
}

fn mail(ticket: &TicketNo, key: &str) -> OutboxMail {
    OutboxMail {
        key: format!("{ticket}:{key}"),
        ticket: Some(ticket.clone()),
        message_id: format!("{key}@test"),
        envelope_from: "desk@hq.example.test".into(),
        recipients: vec!["bj01@stations.example.test".into()],
        subject: key.into(),
        body: b"body".to_vec(),
        not_before: at(2),
        originals: None,
        priority: Priority::Normal,
    }
}

#[tokio::test]
async fn enqueue_all_reports_only_the_keys_not_queued_before() {
    let store = store().await;
    let (a, b) = (ticket(1), ticket(2));
    let mut tx = store.begin().await.expect("begin");
    tx.insert_ticket(a.clone()).await.expect("ticket a");
    tx.insert_ticket(b.clone()).await.expect("ticket b");
    let first = tx.enqueue_all(&[mail(&a.number, "x"), mail(&b.number, "y")], at(2)).await.expect("first");
    assert_eq!(first.len(), 2);
    let again = [mail(&a.number, "x"), mail(&a.number, "z"), mail(&b.number, "y")];
    let second = tx.enqueue_all(&again, at(3)).await.expect("second");
    assert_eq!(second, HashSet::from([format!("{}:z", a.number)]));
    assert!(!tx.enqueue(&mail(&b.number, "y"), at(3)).await.expect("single"));
    let keys = tx.outbox_keys(std::slice::from_ref(&a.number)).await.expect("keys");
    assert_eq!(keys, HashSet::from([format!("{}:x", a.number), format!("{}:z", a.number)]));
    tx.commit().await.expect("commit");
}

/// An urgent ticket's forward, queued behind a backlog, is claimed first;
/// then expedited, then the rest, each earliest due first; mail queued for
/// later is not claimed, whatever its priority.
#[tokio::test]
async fn the_outbox_claims_the_most_urgent_due_mail_first() {
    let store = store().await;
    let t = ticket(1);
    let mut tx = store.begin().await.expect("begin");
    tx.insert_ticket(t.clone()).await.expect("ticket");
    let queued = |key: &str, priority: Priority, not_before: DateTime<Utc>| OutboxMail {
        priority,
        not_before,
        ..mail(&t.number, key)
    };
    let mails = [
        queued("backlog-1", Priority::Normal, at(2)),
        queued("backlog-2", Priority::Normal, at(2)),
        queued("later-urgent", Priority::Urgent, at(9)),
        queued("expedited", Priority::Expedited, at(3)),
        queued("urgent", Priority::Urgent, at(3)),
        queued("backlog-3", Priority::Normal, at(2)),
    ];
    tx.enqueue_all(&mails, at(2)).await.expect("enqueue");
    tx.commit().await.expect("commit");
    let lease = std::time::Duration::from_secs(60);
    let keys = |claimed: Vec<PendingMail>| claimed.into_iter().map(|m| m.key).collect::<Vec<_>>();
    let key = |k: &str| format!("{}:{k}", t.number);
    let first = keys(store.claim_outbox(at(4), lease, 3).await.expect("claim"));
    assert_eq!(first, vec![key("urgent"), key("expedited"), key("backlog-1")]);
    let rest = keys(store.claim_outbox(at(4), lease, 10).await.expect("claim"));
    assert_eq!(rest, vec![key("backlog-2"), key("backlog-3")]);
}

#[tokio::test]
async fn next_alerts_and_events_are_written_for_many_tickets_at_once() {
    let store = store().await;
    let tickets: Vec<NewTicket> = (1..=3).map(ticket).collect();
    let numbers: Vec<TicketNo> = tickets.iter().map(|t| t.number.clone()).collect();
    let mut tx = store.begin().await.expect("begin");
    for t in &tickets {
        tx.insert_ticket(t.clone()).await.expect("ticket");
    }
    tx.set_next_alerts(&[(numbers[0].clone(), Some(at(5))), (numbers[2].clone(), Some(at(4)))]).await.expect("set");
    let events: Vec<Event> = numbers
        .iter()
        .map(|n| Event {
            ticket: n.clone(),
            at: at(3),
            kind: EventKind::Alert("reply.escalation".into()),
            actor: None,
            message_id: None,
            detail: None,
        })
        .collect();
    tx.add_events(&events).await.expect("events");
    let read = tx.tickets(&[numbers[2].clone(), numbers[0].clone()]).await.expect("tickets");
    assert_eq!(read.iter().map(|t| &t.number).collect::<Vec<_>>(), vec![&numbers[0], &numbers[2]]);
    tx.commit().await.expect("commit");
    // The earliest is ticket 3's; ticket 2 was left alone (never set).
    assert_eq!(store.due_tickets(at(4), 10).await.expect("due"), vec![numbers[2].clone()]);
    assert_eq!(store.due_tickets(at(6), 10).await.expect("due"), vec![numbers[2].clone(), numbers[0].clone()]);
    tx = store.begin().await.expect("begin");
    tx.set_next_alerts(&[(numbers[2].clone(), None)]).await.expect("clear");
    tx.commit().await.expect("commit");
    assert_eq!(store.due_tickets(at(6), 10).await.expect("due"), vec![numbers[0].clone()]);
    assert_eq!(store.events(&numbers[1]).await.expect("events").len(), 1);
}

#[tokio::test]
async fn a_database_of_the_hand_written_migrator_is_adopted_not_migrated_again() {
    let dir = std::env::temp_dir().join(format!("complaintd-store-{}-{}", std::process::id(), rand_suffix()));
    // The schema as the earlier runner left it: migrations 1-4 and its table.
    let old = Store::open("sqlite://old.db", &dir, true).await.expect("open");
    let Store::Sqlite(pool) = &old else { unreachable!("sqlite") };
    for (_, _, sql) in &SQLITE_MIGRATIONS[..4] {
        sqlx::raw_sql(*sql).execute(pool).await.expect("old migration");
    }
    sqlx::raw_sql("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY); INSERT INTO schema_migrations VALUES (1), (2), (3), (4);")
        .execute(pool)
        .await
        .expect("old history");
    old.close().await;
    let store = Store::connect("sqlite://old.db", &dir).await.expect("adopted and migrated");
    let mut tx = store.begin().await.expect("begin");
    let a = ticket(1);
    tx.insert_ticket(a.clone()).await.expect("ticket");
    tx.enqueue(&mail(&a.number, "x"), at(2)).await.expect("the outbox has migration 5's column");
    tx.commit().await.expect("commit");
    assert_eq!(store.unsent_count().await.expect("count"), 1);
    // Opening again changes nothing.
    store.close().await;
    Store::connect("sqlite://old.db", &dir).await.expect("reopened");
}

/// A hold by `taker` from `at` for a minute.
fn hold(taker: Taker, at: DateTime<Utc>) -> Hold {
    Hold { taker, at, until: at + chrono::Duration::minutes(1) }
}

fn attempts(known: &std::collections::HashMap<u32, Attempted>) -> std::collections::HashMap<u32, u32> {
    known.iter().map(|(uid, a)| (*uid, a.attempts)).collect()
}

#[tokio::test]
async fn attempts_are_counted_per_message_until_forgotten() {
    let store = store().await;
    let (me, at) = (Taker::random(), at(9));
    let first = store.record_attempts("u/INBOX", 7, &[1, 2], hold(me, at)).await.expect("count");
    assert_eq!((first[&1], first[&2]), (1, 1));
    let second = store.record_attempts("u/INBOX", 7, &[2, 3], hold(me, at)).await.expect("count");
    assert_eq!((second[&2], second[&3]), (2, 1));
    let mut tx = store.begin().await.expect("begin");
    tx.forget_attempts(MessageRef { mailbox: "u/INBOX", uidvalidity: 7, uid: 2 }).await.expect("forget");
    tx.commit().await.expect("commit");
    let known = store.attempts_of("u/INBOX", 7, &[1, 2, 3, 4]).await.expect("read");
    assert_eq!(attempts(&known), std::collections::HashMap::from([(1, 1), (3, 1)]));
}

#[tokio::test]
async fn a_message_another_instance_holds_is_not_counted_twice() {
    let store = store().await;
    let (a, b, at) = (Taker::random(), Taker::random(), at(9));
    store.record_attempts("u/INBOX", 7, &[1], hold(a, at)).await.expect("count");
    // B, while A's hold lasts: B takes only what nobody holds.
    let taken = store.record_attempts("u/INBOX", 7, &[1, 2], hold(b, at)).await.expect("count");
    assert_eq!(taken, std::collections::HashMap::from([(2, 1)]));
    let known = store.attempts_of("u/INBOX", 7, &[1]).await.expect("read");
    assert!(known[&1].held_by_another(b, at) && !known[&1].held_by_another(a, at));
    // A died: once its hold ran out, B's attempt is the second.
    let later = at + chrono::Duration::minutes(2);
    let taken = store.record_attempts("u/INBOX", 7, &[1], hold(b, later)).await.expect("count");
    assert_eq!(taken[&1], 2);
    // A taker that stops lets go at once; its attempts stay counted.
    store.release_holds(b).await.expect("release");
    let taken = store.record_attempts("u/INBOX", 7, &[1], hold(a, later)).await.expect("count");
    assert_eq!(taken[&1], 3);
}

#[tokio::test]
async fn a_renewed_hold_keeps_another_instance_off() {
    let store = store().await;
    let (a, b, at) = (Taker::random(), Taker::random(), at(9));
    store.record_attempts("u/INBOX", 7, &[1, 2], hold(a, at)).await.expect("count");
    let later = at + chrono::Duration::minutes(2);
    // B renewing A's hold changes nothing; A renewing keeps it.
    store.renew_holds("u/INBOX", 7, &[1, 2], b, later + chrono::Duration::minutes(1)).await.expect("renew");
    store.renew_holds("u/INBOX", 7, &[1], a, later + chrono::Duration::minutes(1)).await.expect("renew");
    let taken = store.record_attempts("u/INBOX", 7, &[1, 2], hold(b, later)).await.expect("count");
    assert_eq!(taken, std::collections::HashMap::from([(2, 2)]));
}

#[tokio::test]
async fn an_attempt_taken_back_is_as_if_never_made() {
    let store = store().await;
    let (me, other, at) = (Taker::random(), Taker::random(), at(9));
    store.record_attempts("u/INBOX", 7, &[1, 2], hold(me, at)).await.expect("count");
    store.record_attempts("u/INBOX", 7, &[2], hold(me, at)).await.expect("count");
    // Another taker cannot take back what is not its own.
    store.release_attempts("u/INBOX", 7, &[1, 2], other).await.expect("release");
    store.release_attempts("u/INBOX", 7, &[1, 2, 5], me).await.expect("release");
    // 1 was tried once: no longer "tried before"; 2 keeps its first try, and is free.
    let known = store.attempts_of("u/INBOX", 7, &[1, 2, 5]).await.expect("read");
    assert_eq!(attempts(&known), std::collections::HashMap::from([(2, 1)]));
    assert!(!known[&2].held_by_another(other, at));
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("complaintd-private-{}", rand_suffix()));
    let store = Store::connect("sqlite://p.db", &dir).await.expect("store");
    store.begin().await.expect("begin").commit().await.expect("commit");
    // The WAL exists while the pool is open.
    for file in ["p.db", "p.db-wal", "p.db-shm"] {
        let meta = std::fs::metadata(dir.join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
}

#[test]
fn passwords_never_reach_output() {
    assert_eq!(redact("postgres://app:s3cret@db:5432/x"), "postgres://app:***@db:5432/x");
    assert_eq!(
        redact("error connecting to postgres://u:p%40ss@h/db?sslmode=require, and postgresql://h/db?password=abc&x=1"),
        "error connecting to postgres://u:***@h/db?sslmode=require, and postgresql://h/db?password=***&x=1"
    );
    assert_eq!(redact("sqlite://data/desk.db"), "sqlite://data/desk.db");
}
