//! A context for every board page, built by the same code as the real pages
//! from a sample ticket with mail in, an event and mail out: check-config,
//! start-up and reload render each page with them (undefined values are
//! errors), so a broken page is found before a user opens it.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::pages;
use crate::desk::Desk;
use crate::desk::view::Entry;
use crate::report::{Period, assess};
use crate::store::{Event, EventKind, InboundOutcome, InboundRecord, OutboxEntry, OutboxState};
use crate::ticket::{Status, Ticket, TicketKind, TicketNo, Urgency};

/// A dispatched complaint of the first station, received at `at`.
fn ticket(desk: &Desk, seq: i64, at: DateTime<Utc>, status: Status) -> Ticket {
    let station = desk.settings.stations.first().map(|s| s.code.clone());
    let d = crate::deadline::compute(&desk.calendar, &desk.settings.deadlines, at, Urgency::Expedited);
    Ticket {
        number: TicketNo::new(at.date_naive(), seq),
        kind: TicketKind::Complaint,
        status,
        urgency: Urgency::Expedited,
        station,
        handler: "liujia@hq.example.test".into(),
        subject: "投诉转出-马丽".into(),
        fields: json!({ "complaint_no": "HC1", "customer_name": "马丽", "phone": "139" }),
        received_at: at,
        dispatched_at: Some(at),
        reply_due: Some(d.reply_due),
        escalate_at: Some(d.escalate_at),
        result_due: Some(d.result_due),
        close_due: Some(d.close_due),
        extension_cap: Some(d.extension_cap),
        first_reply_at: (status == Status::Closed).then_some(at + Duration::hours(1)),
        result_at: (status == Status::Closed).then_some(at + Duration::hours(2)),
        closed_at: (status == Status::Closed).then_some(at + Duration::hours(3)),
        extended: false,
        valid: (status == Status::Closed).then_some(true),
        pre_reported: false,
        major: false,
        linked_to: None,
        repeats: 0,
        returned_at: None,
        returns_refused: 0,
        backup_at: None,
    }
}

/// The ticket's timeline: its complaint in, its forward, the mail out.
fn timeline(t: &Ticket) -> Vec<Entry> {
    let message_id = "sample@hq.example.test".to_owned();
    let inbound = InboundRecord {
        mailbox: "INBOX".into(),
        uidvalidity: 1,
        uid: 1,
        message_id: Some(message_id.clone()),
        sender: t.handler.clone(),
        subject: t.subject.clone(),
        kind: Some(crate::intake::Kind::Complaint),
        ticket: Some(t.number.clone()),
        outcome: InboundOutcome::Handled,
        reason: Some("已派发".into()),
        received_at: t.received_at,
        auth: None,
    };
    let event =
        Event::new(&t.number, t.received_at, EventKind::Forwarded).message(Some(&message_id)).detail("BJ01\n第二行");
    let out = |state, sent_at| OutboxEntry {
        key: format!("{}:forward:{message_id}", t.number),
        ticket: Some(t.number.to_string()),
        recipients: vec!["station@example.com".into()],
        subject: format!("[{}] {}", t.number, t.subject),
        state,
        created_at: t.received_at,
        sent_at,
        next_attempt_at: t.received_at,
        attempts: 1,
        last_error: Some("451".into()),
    };
    vec![
        Entry::In(inbound),
        Entry::Event(event),
        Entry::Out(out(OutboxState::Sent, Some(t.received_at))),
        Entry::Out(out(OutboxState::Failed, None)),
        Entry::Out(out(OutboxState::Queued, None)),
    ]
}

/// Every page's whole context (`user` and `page`), by page name.
pub fn contexts(desk: &Desk) -> Vec<(&'static str, Value)> {
    let now = desk.clock.now();
    // One long overdue, one just in: both lists of the overview have a row.
    let overdue = ticket(desk, 1, now - Duration::days(10), Status::Open);
    let fresh = ticket(desk, 2, now, Status::Contacted);
    let closed = ticket(desk, 3, now - Duration::days(20), Status::Closed);
    let all = [overdue.clone(), fresh, closed.clone()];
    let period = Period::before(now, desk.calendar.tz());
    let assessment = assess(&desk.settings, &period, &all);
    let page = |p: Value| json!({ "user": "sample", "page": p });
    vec![
        ("base.html", page(json!({}))),
        ("login.html", json!({ "user": null, "page": { "error": true } })),
        ("now.html", page(json!(pages::now(desk, &all)))),
        ("ticket.html", page(json!(pages::ticket(desk, &overdue, &timeline(&overdue))))),
        ("ticket.html", page(json!(pages::ticket(desk, &closed, &timeline(&closed))))),
        ("search.html", page(json!({ "q": "139", "searched": true, "rows": pages::rows(desk, &all) }))),
        ("assessment.html", page(json!(pages::assessment(&assessment)))),
        ("missing.html", page(json!({ "number": "TS-20261120-0001" }))),
    ]
}
