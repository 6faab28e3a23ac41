//! Deadline repair on a temporary SQLite file: a provisional 2027 replaced
//! by an imported arrangement moves what has not passed, keeps a granted
//! extension, stands by what has passed, and happens once.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::NewTicket;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

fn settings() -> Settings {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Settings::load(&root.join("config/example.toml")).expect("example config")
}

/// The example desk, with `extra` holiday TOML (an imported 2027) added.
fn desk(extra: Option<&str>, now: DateTime<Utc>) -> Desk {
    let mut s = settings();
    if let Some(text) = extra {
        let path = std::env::temp_dir().join(format!("complaintd-repair-{}-{}.toml", std::process::id(), text.len()));
        std::fs::write(&path, text).expect("holiday file");
        s.calendar.holiday_files.push(path);
    }
    crate::setup::desk(s, Clock::manual(now)).expect("desk")
}

/// 2027 as if its notice said 1-4 January are off (Monday the 4th too).
const IMPORTED_2027: &str = "[[year]]\nyear = 2027\nholidays = [\"2027-01-01..2027-01-04\"]\n";

async fn store() -> Store {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let dir = std::env::temp_dir().join(format!("complaintd-repair-{}-{nanos}", std::process::id()));
    Store::connect("sqlite://repair.db", &dir).await.expect("store")
}

/// A normal complaint forwarded to BJ01 at `at`, as the desk would.
async fn ticket(desk: &Desk, store: &Store, seq: u32, at: DateTime<Utc>) -> Ticket {
    let mut tx = store.begin().await.expect("begin");
    let number = TicketNo::parse(&format!("TS-20261231-{seq:04}")).expect("number");
    let new = NewTicket { fields: serde_json::json!({"urgency": "normal"}), ..NewTicket::example(number, at) };
    let mut t = tx.insert_ticket(new).await.expect("insert");
    deadline::compute(&desk.calendar, &desk.settings.deadlines, at, Urgency::Normal).start(&mut t, "BJ01", at);
    tx.update_ticket(&t, Some(at)).await.expect("update");
    tx.commit().await.expect("commit");
    t
}

#[tokio::test]
async fn an_imported_year_moves_open_deadlines_once_and_keeps_extensions() {
    let now = local(2026, 12, 31, 16, 0);
    let before = desk(None, now);
    let store = store().await;
    let plain = ticket(&before, &store, 1, now).await;
    // Provisional 2027: only 1 January off, so two business days from
    // Thursday 16:00 end on Tuesday 5 January at 16:00.
    assert_eq!(plain.reply_due, Some(local(2027, 1, 5, 16, 0)));
    assert!(before.provisional_years(&plain).contains(&2027));
    let mut extended = ticket(&before, &store, 2, now).await;
    extended.extend(None, false).expect("extension to the cap");
    let mut tx = store.begin().await.expect("begin");
    tx.update_ticket(&extended, Some(now)).await.expect("update");
    tx.commit().await.expect("commit");

    // The first run records the fingerprints and moves nothing.
    assert!(before.repair_deadlines(&store).await.expect("baseline").baseline);
    assert!(before.repair_deadlines(&store).await.expect("again").rescheduled.is_empty());

    let after = desk(Some(IMPORTED_2027), now);
    let repair = after.repair_deadlines(&store).await.expect("repair");
    assert_eq!(repair.rescheduled.len(), 2);
    assert!(repair.changed_years.contains(&2027));
    let moved = store.ticket(&plain.number).await.unwrap().unwrap();
    // Monday is off now: Thursday 2 h, Tuesday 8 h, Wednesday 6 h.
    assert_eq!(moved.reply_due, Some(local(2027, 1, 6, 16, 0)));
    let expected = rules_give(&after.calendar, &after.settings.deadlines, &plain, &[]).unwrap();
    assert_eq!(moved.close_due, Some(expected.close_due));
    assert!(after.provisional_years(&moved).is_empty(), "2027 is official now");
    let events = store.events(&plain.number).await.unwrap();
    let rescheduled = events.iter().find(|e| e.kind == EventKind::Rescheduled).expect("on the timeline");
    let detail = rescheduled.detail.as_deref().unwrap();
    assert!(detail.contains("2027") && detail.contains("reply_due 2027-01-05 16:00 -> 2027-01-06 16:00"), "{detail}");
    let outbox = store.outbox(Some(&plain.number)).await.unwrap();
    assert!(outbox.iter().any(|m| m.key.contains(":rescheduled:")), "the station is told");

    // The extension to the cap follows the new cap.
    let kept = store.ticket(&extended.number).await.unwrap().unwrap();
    assert!(kept.extended);
    assert_eq!(kept.result_due, kept.extension_cap);
    assert!(kept.extension_cap > extended.extension_cap);

    // Once: a second start (or instance) finds the fingerprints stored.
    assert!(after.repair_deadlines(&store).await.expect("again").rescheduled.is_empty());
}

#[test]
fn passed_deadlines_stand_and_past_new_ones_are_not_taken() {
    let now = local(2027, 1, 5, 10, 0);
    let cal = desk(None, now);
    let at = local(2026, 12, 31, 16, 0);
    let mut t = ticket_stub(at);
    let old = deadline::compute(&cal.calendar, &cal.settings.deadlines, at, Urgency::Normal);
    old.start(&mut t, "BJ01", at);
    t.reply_due = Some(local(2027, 1, 5, 9, 0)); // passed at 10:00
    t.result_due = Some(local(2027, 1, 5, 11, 0)); // not yet
    let mut new = old;
    new.reply_due = local(2027, 1, 6, 9, 0);
    new.result_due = local(2027, 1, 5, 9, 30); // would be past already
    let found = changes(&t, &new, now);
    let outcome = |f: Field| found.iter().find(|c| c.field == f).map(|c| c.outcome);
    assert_eq!(outcome(Field::Reply), Some(Outcome::Passed));
    assert_eq!(outcome(Field::Result), Some(Outcome::Kept));
    // A met deadline is the record of how it was met: not recomputed.
    t.first_reply_at = Some(local(2027, 1, 4, 9, 0));
    assert_eq!(changes(&t, &new, now).iter().find(|c| c.field == Field::Reply), None);
}

#[test]
fn repeats_after_dispatch_pull_the_reply_in_again() {
    let at = local(2026, 11, 16, 9, 30);
    let d = desk(None, at);
    let policy = &d.settings.deadlines;
    let mut t = Ticket { fields: serde_json::json!({"urgency": "normal"}), ..ticket_stub(at) };
    deadline::compute(&d.calendar, policy, at, Urgency::Normal).start(&mut t, "BJ01", at);
    let repeat = local(2026, 11, 16, 10, 0);
    t.urgency = Urgency::Expedited;
    t.repeats = 1;
    let given = rules_give(&d.calendar, policy, &t, &[repeat]).unwrap();
    // Expedited from the repeat: one business day, the next morning 10:00.
    assert_eq!(given.reply_due, local(2026, 11, 17, 10, 0));
    let plain = rules_give(&d.calendar, policy, &t, &[]).unwrap();
    assert_eq!(plain.reply_due, local(2026, 11, 18, 9, 30));
}

fn ticket_stub(at: DateTime<Utc>) -> Ticket {
    NewTicket::example(TicketNo::parse("TS-20261116-0001").unwrap(), at).into_ticket()
}
