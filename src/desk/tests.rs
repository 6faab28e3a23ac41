//! The desk's decisions, on a temporary SQLite file: each kind of message,
//! each reply action and the permission rules, in seconds and without the lab.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::clock::Clock;
use crate::intake;
use crate::store::{InboundRecord, OutboxEntry, Store, TicketQuery};
use crate::ticket::{Status, TicketKind, Urgency};

const HANDLER: &str = "liujia@hq.example.test";
const BJ01: &str = "station-bj01@stations.example.test";
const DESK: &str = "complaints@hq.example.test";
const FORM: &str = "投诉单号：HC20261116001\n紧急程度：加急\n投诉分类：服务类-服务质量-维修周期\n\
    服务站：BJ01 北京海淀服务站\n客户姓名：马丽\n联系电话：13900002222\n服务单号：SO-2026-110001\n\
    产品型号：超翔 E500\n所在地区：北京市海淀区\n投诉内容：报修后五天无人联系。\n客户诉求：尽快上门。\n受理人：刘嘉\n";

/// Monday 2026-11-16 09:30 in Shanghai: working time.
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 1, 30, 0).single().expect("valid time")
}

/// A desk on the example configuration and a fresh database file.
struct Fixture {
    desk: Desk,
    store: Store,
    /// UIDs of the messages taken, as intake numbers them.
    uid: u32,
}

impl Fixture {
    async fn new() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let settings = Settings::load(&root.join("config/example.toml")).expect("example config");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let dir = std::env::temp_dir().join(format!("complaintd-desk-{}-{nanos}", std::process::id()));
        let store = Store::connect("sqlite://desk.db", &dir).await.expect("store");
        let desk = crate::setup::desk(settings, Clock::manual(monday())).expect("desk");
        Self { desk, store, uid: 0 }
    }

    /// What intake does with one raw message: record, apply, settle, commit.
    async fn take(&mut self, raw: &str) -> Disposition {
        let parsed = intake::parse(raw.as_bytes(), &self.desk.settings);
        self.uid += 1;
        let record = InboundRecord::new("test/INBOX".into(), 1, self.uid, &parsed, self.desk.clock.now());
        let mut tx = self.store.begin().await.expect("begin");
        let inbound = tx.claim_inbound(&record).await.expect("claim").expect("a new message");
        let disposition =
            self.desk.apply(&mut tx, Incoming { msg: &parsed, inbound, auth: None }).await.expect("applied");
        tx.commit().await.expect("commit");
        disposition
    }

    async fn complaint(&mut self) -> TicketNo {
        match self.take(&complaint(HANDLER, "c1@hq.example.test", FORM)).await {
            Disposition::Handled { ticket: Some(t), .. } => t,
            other => panic!("not a ticket: {other:?}"),
        }
    }

    async fn ticket(&self, number: &TicketNo) -> Ticket {
        self.store.ticket(number).await.expect("read").expect("exists")
    }

    /// The outbox keys, in the order queued.
    async fn keys(&self) -> Vec<String> {
        self.outbox().await.into_iter().map(|m| m.key).collect()
    }

    async fn outbox(&self) -> Vec<OutboxEntry> {
        self.store.outbox(None).await.expect("outbox")
    }

    async fn events(&self, number: &TicketNo) -> Vec<String> {
        self.store.events(number).await.expect("events").into_iter().map(|e| e.kind.to_string()).collect()
    }
}

fn complaint(from: &str, message_id: &str, form: &str) -> String {
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: 投诉转出-马丽\r\nMessage-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{form}"
    )
}

/// A reply about `ticket`; without a Message-ID when `message_id` is `None`.
fn reply(from: &str, message_id: Option<&str>, ticket: &TicketNo, text: &str) -> String {
    let id = message_id.map(|m| format!("Message-ID: <{m}>\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: Re: [{ticket}] 投诉转出\r\n{id}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         {text}\r\n\r\n> 原邮件内容\r\n"
    )
}

#[tokio::test]
async fn a_complaint_is_forwarded_to_its_station_and_acknowledged() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let t = f.ticket(&number).await;
    assert_eq!((t.kind, t.status, t.urgency), (TicketKind::Complaint, Status::Open, Urgency::Expedited));
    assert_eq!(t.station.as_deref(), Some("BJ01"));
    assert_eq!(t.handler, HANDLER);
    assert!(t.reply_due.is_some() && t.close_due.is_some());
    let out = f.outbox().await;
    assert_eq!(out[0].key, format!("{number}:forward:"));
    assert_eq!(out[0].recipients, [BJ01, HANDLER]);
    assert_eq!(out[1].key, format!("{number}:ack:c1@hq.example.test"));
    assert_eq!(f.events(&number).await, ["received", "forwarded"]);
}

#[tokio::test]
async fn only_the_call_center_files_complaints() {
    let mut f = Fixture::new().await;
    let d = f.take(&complaint("someone@elsewhere.test", "x1@elsewhere.test", FORM)).await;
    assert!(matches!(d, Disposition::Quarantined { ticket: None, .. }), "{d:?}");
    let d = f.take(&complaint(BJ01, "x2@stations.example.test", FORM)).await;
    assert!(matches!(&d, Disposition::Quarantined { reason, .. } if reason.contains("is a station")), "{d:?}");
    assert!(f.outbox().await.is_empty(), "strangers get no answer");
}

#[tokio::test]
async fn a_form_with_a_problem_is_answered_not_filed() {
    let mut f = Fixture::new().await;
    let form = FORM.replace("紧急程度：加急\n", "");
    let d = f.take(&complaint(HANDLER, "p1@hq.example.test", &form)).await;
    assert!(matches!(&d, Disposition::Quarantined { reason, .. } if reason.contains("urgency")), "{d:?}");
    let out = f.outbox().await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key, "problem:p1@hq.example.test");
    assert_eq!(out[0].recipients, [HANDLER]);
    assert!(f.store.tickets(None, None).await.expect("tickets").is_empty());
}

#[tokio::test]
async fn the_station_contacts_then_reports_and_each_reply_is_relayed() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(BJ01, Some("r1@s"), &number, "已联系客户\n明天上门。")).await;
    let t = f.ticket(&number).await;
    assert_eq!(t.status, Status::Contacted);
    assert_eq!(t.first_reply_at, Some(monday()));
    f.take(&reply(BJ01, Some("r2@s"), &number, "处理结果\n已更换主板。")).await;
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.result_at), (Status::Resolved, Some(monday())));
    let keys = f.keys().await;
    assert!(keys.contains(&format!("{number}:relay:r1@s")) && keys.contains(&format!("{number}:relay:r2@s")));
    assert_eq!(f.events(&number).await[2..], ["reply:contacted", "reply:result"]);
}

#[tokio::test]
async fn two_replies_without_message_ids_are_both_relayed() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(BJ01, None, &number, "进展\n配件已订。")).await;
    f.take(&reply(BJ01, None, &number, "进展\n配件已到。")).await;
    let relays = f.keys().await.into_iter().filter(|k| k.contains(":relay:")).count();
    assert_eq!(relays, 2, "the second relay must not be dropped as a duplicate");
}

#[tokio::test]
async fn strangers_may_not_act_and_stations_may_not_close() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let d = f.take(&reply("mallory@evil.test", Some("m1@evil"), &number, "结案")).await;
    assert!(matches!(d, Disposition::Quarantined { ticket: Some(_), .. }), "{d:?}");
    assert_eq!(f.events(&number).await.last().map(String::as_str), Some("refused"));
    // Another station is a stranger to this ticket too.
    let d = f.take(&reply("station-sh02@stations.example.test", Some("m2@s"), &number, "结案")).await;
    assert!(matches!(d, Disposition::Quarantined { .. }), "{d:?}");
    // The ticket's own station closing is only an update (首问负责制).
    f.take(&reply(BJ01, Some("m3@s"), &number, "结案")).await;
    let t = f.ticket(&number).await;
    assert_eq!(t.status, Status::Open);
    assert!(t.first_reply_at.is_some(), "an update from the station is still an answer");
    assert_eq!(f.events(&number).await.last().map(String::as_str), Some("reply:update"));
}

#[tokio::test]
async fn the_handler_closes_invalid_and_reopens() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(HANDLER, Some("h1@hq"), &number, "结案 无效")).await;
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.valid), (Status::Closed, Some(false)));
    let followup = f.outbox().await.into_iter().find(|m| m.key.contains(":followup:")).expect("follow-up queued");
    assert_eq!(followup.recipients, [HANDLER]);
    assert!(followup.next_attempt_at > monday(), "the follow-up waits a business day");
    f.take(&reply(HANDLER, Some("h2@hq"), &number, "重开")).await;
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.valid, t.closed_at), (Status::Open, None, None));
    assert!(!f.keys().await.iter().any(|k| k.contains(":followup:")), "the follow-up is withdrawn");
}

#[tokio::test]
async fn the_handlers_note_reaches_the_station() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(HANDLER, Some("h3@hq"), &number, "请今天联系客户。")).await;
    let note = f.outbox().await.into_iter().find(|m| m.key.contains(":note:")).expect("note queued");
    assert_eq!(note.recipients, [BJ01]);
    assert_eq!(f.ticket(&number).await.first_reply_at, None, "the handler's note is no answer of the station");
}

#[tokio::test]
async fn an_extension_is_granted_once_and_within_the_cap() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let cap = f.ticket(&number).await.extension_cap.expect("cap");
    f.take(&reply(BJ01, Some("e1@s"), &number, "申请延期 2026-11-19 18:00")).await;
    let t = f.ticket(&number).await;
    assert!(t.extended);
    assert!(t.result_due <= Some(cap));
    // A second request is refused, with a reply to the station.
    f.take(&reply(BJ01, Some("e2@s"), &number, "申请延期 2026-11-20")).await;
    let refused = f.outbox().await.into_iter().find(|m| m.key.contains(":refused:")).expect("refusal queued");
    assert_eq!(refused.recipients, [BJ01, HANDLER]);
}

#[tokio::test]
async fn a_repeat_complaint_raises_the_urgency_of_the_open_ticket() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let d = f.take(&complaint("chenmin@hq.example.test", "c2@hq.example.test", FORM)).await;
    assert_eq!(d, Disposition::Handled { ticket: Some(number.clone()), note: "repeat complaint linked".into() });
    let t = f.ticket(&number).await;
    assert_eq!((t.urgency, t.repeats), (Urgency::Urgent, 1));
    let repeat = f.outbox().await.into_iter().find(|m| m.key.contains(":repeat:")).expect("repeat mail");
    assert_eq!(repeat.recipients, [BJ01, HANDLER, "chenmin@hq.example.test"]);
}

#[tokio::test]
async fn the_sweep_and_the_overdue_query_follow_the_same_rule() {
    let mut f = Fixture::new().await;
    let answered = f.complaint().await;
    f.take(&reply(BJ01, Some("a1@s"), &answered, "已联系客户")).await;
    let silent = {
        let form = FORM.replace("SO-2026-110001", "SO-2").replace("13900002222", "139");
        match f.take(&complaint(HANDLER, "c3@hq.example.test", &form)).await {
            Disposition::Handled { ticket: Some(t), .. } => t,
            other => panic!("{other:?}"),
        }
    };
    // Days later, at several instants, the SQL overdue test and
    // `Ticket::overdue_at` pick the same tickets.
    for hours in [1, 8, 30, 80, 200] {
        let now = monday() + chrono::Duration::hours(hours);
        let query = TicketQuery { overdue_at: Some(now), ..TicketQuery::default() };
        let mut by_sql: Vec<_> =
            f.store.find_tickets(&query).await.expect("query").into_iter().map(|t| t.number).collect();
        let mut by_rule: Vec<_> = f
            .store
            .tickets(None, None)
            .await
            .expect("tickets")
            .into_iter()
            .filter(|t| !t.overdue_at(now).is_empty())
            .map(|t| t.number)
            .collect();
        by_sql.sort();
        by_rule.sort();
        assert_eq!(by_sql, by_rule, "at +{hours} h");
    }
    // The silent station's reply escalation is due by then; the answered one's is not.
    let later = monday() + chrono::Duration::hours(80);
    let sweep = |n: &TicketNo| {
        let desk = &f.desk;
        let store = &f.store;
        let n = n.clone();
        async move {
            let t = store.ticket(&n).await.expect("read").expect("exists");
            desk.sweep_ticket(&t, &Default::default(), later).expect("swept")
        }
    };
    let silent_keys: Vec<String> = sweep(&silent).await.alerts.into_iter().map(|(m, _)| m.key).collect();
    assert!(silent_keys.iter().any(|k| k.contains(":escalation:reply.escalation:")), "{silent_keys:?}");
    let answered_keys: Vec<String> = sweep(&answered).await.alerts.into_iter().map(|(m, _)| m.key).collect();
    assert!(!answered_keys.iter().any(|k| k.contains("reply.")), "{answered_keys:?}");
}

#[tokio::test]
async fn a_pre_report_is_filed_for_the_stations_manager() {
    let mut f = Fixture::new().await;
    let form = "报备服务站：BJ01\n客户姓名：王伟\n联系电话：13700001111\n服务单号：SO-9\n投诉内容：客户扬言投诉。\n\
        已采取措施：致歉\n是否重大投诉：否\n报备人：林工\n";
    let raw = format!(
        "From: {BJ01}\r\nTo: baobei@hq.example.test\r\nSubject: 投诉报备\r\nMessage-ID: <pr1@s>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{form}"
    );
    let d = f.take(&raw).await;
    let Disposition::Handled { ticket: Some(number), .. } = d else { panic!("{d:?}") };
    let t = f.ticket(&number).await;
    assert_eq!((t.kind, t.pre_reported), (TicketKind::PreReport, true));
    assert_eq!(t.handler, "manager-north@hq.example.test");
    let ack = f.outbox().await.into_iter().find(|m| m.key.contains(":prereport_ack:")).expect("ack");
    assert_eq!(ack.recipients, [BJ01, "manager-north@hq.example.test"]);
}

#[tokio::test]
async fn an_extension_without_a_date_is_no_extension_and_the_station_is_asked() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    // Explaining a delay asks for nothing.
    f.take(&reply(BJ01, Some("d0@s"), &number, "延期处理的原因：配件未到货")).await;
    assert!(!f.ticket(&number).await.extended);
    assert!(!f.keys().await.iter().any(|k| k.contains(":refused:")));
    f.take(&reply(BJ01, Some("d1@s"), &number, "申请延期，配件未到货")).await;
    let t = f.ticket(&number).await;
    assert!(!t.extended, "nothing granted up to the cap with nobody deciding");
    assert!(t.first_reply_at.is_some(), "it is the station's answer all the same");
    let asked = f.outbox().await.into_iter().find(|m| m.key.contains(":refused:")).expect("asked for a date");
    assert_eq!(asked.recipients, [BJ01, HANDLER]);
}

#[tokio::test]
async fn a_read_receipt_is_recorded_and_stops_no_clock() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let receipt = format!(
        "From: {BJ01}\r\nTo: {DESK}\r\nSubject: 已读: [{number}] 投诉转出\r\nMessage-ID: <rr1@s>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n您发送的邮件已被阅读。\r\n\
         --b\r\nContent-Type: message/disposition-notification\r\n\r\n\
         Final-Recipient: rfc822; {BJ01}\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n"
    );
    f.take(&receipt).await;
    assert_eq!(f.ticket(&number).await.first_reply_at, None);
    assert_eq!(f.events(&number).await.last().map(String::as_str), Some("receipt"));
    assert!(!f.keys().await.iter().any(|k| k.contains(":relay:")), "a receipt is not relayed as a reply");
}

/// The plain text of the queued mail whose key starts with `prefix`.
async fn queued_text(f: &Fixture, prefix: &str) -> String {
    let pending =
        f.store.claim_outbox(f.desk.clock.now(), std::time::Duration::from_secs(300), 100).await.expect("claim");
    let mail = pending.iter().find(|m| m.key.starts_with(prefix)).unwrap_or_else(|| panic!("no mail {prefix}"));
    let message = mail_parser::MessageParser::default().parse(&mail.body).expect("a message");
    message.body_text(0).expect("a text part").into_owned()
}

#[tokio::test]
async fn a_forward_counting_through_an_unpublished_year_says_it_may_move() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    assert!(!queued_text(&f, &format!("{number}:forward:")).await.contains("尚未公布"));
    // Thursday 2026-12-31 16:00: the deadlines reach into 2027, provisional.
    f.desk.clock.set(Utc.with_ymd_and_hms(2026, 12, 31, 8, 0, 0).single().expect("valid"));
    let form = FORM.replace("SO-2026-110001", "SO-2026-123101").replace("13900002222", "13900003333");
    let Disposition::Handled { ticket: Some(late), .. } =
        f.take(&complaint(HANDLER, "c2@hq.example.test", &form)).await
    else {
        panic!("not a ticket")
    };
    assert_eq!(f.desk.provisional_years(&f.ticket(&late).await), [2027]);
    let text = queued_text(&f, &format!("{late}:forward:")).await;
    assert!(text.contains("2027年放假安排尚未公布"), "{text}");
}

#[tokio::test]
async fn a_station_that_works_saturdays_gets_deadlines_on_its_calendar() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut settings = Settings::load(&root.join("config/example.toml")).expect("example config");
    settings.stations[0].calendar = Some(crate::calendar::StationCalendarSettings {
        working_days: Some(["MON", "TUE", "WED", "THU", "FRI", "SAT"].map(String::from).to_vec()),
        ..Default::default()
    });
    // Friday 2026-11-20 14:00: one business day (加急) ends Saturday 14:00 at BJ01.
    let friday = Utc.with_ymd_and_hms(2026, 11, 20, 6, 0, 0).single().expect("valid");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let dir = std::env::temp_dir().join(format!("complaintd-desk-sat-{}-{nanos}", std::process::id()));
    let store = Store::connect("sqlite://desk.db", &dir).await.expect("store");
    let desk = crate::setup::desk(settings, Clock::manual(friday)).expect("desk");
    let mut f = Fixture { desk, store, uid: 0 };
    let number = f.complaint().await;
    let t = f.ticket(&number).await;
    assert_eq!(t.reply_due, Some(Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).single().expect("valid")));
    // The desk's own calendar (reports) still has Saturday off.
    assert!(!f.desk.calendar.is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")));
    // Its alerts are planned on it: the hour-before reminder is due on
    // Saturday 13:00 (on the desk's calendar it would be Monday).
    let saturday = Utc.with_ymd_and_hms(2026, 11, 21, 5, 30, 0).single().expect("valid");
    let sweep = f.desk.sweep_ticket(&t, &Default::default(), saturday).expect("sweep");
    assert!(sweep.alerts.iter().any(|(m, _)| m.key.contains("reply.reminder")), "reminders planned");
}

const SH02: &str = "station-sh02@stations.example.test";

#[tokio::test]
async fn a_return_stops_the_clocks_and_the_handlers_answer_moves_it() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let before = f.ticket(&number).await;
    f.desk.clock.advance(chrono::Duration::hours(1));
    f.take(&reply(BJ01, Some("r1@s"), &number, "您好：\n非本站服务范围，应由SH02处理")).await;
    let t = f.ticket(&number).await;
    assert_eq!(t.status, Status::Returned);
    assert!(t.returned_at.is_some() && t.owed().is_empty(), "the station's clocks stop");
    let told = f.outbox().await.into_iter().find(|m| m.key.contains(":returned:")).expect("handler told");
    assert_eq!(told.recipients, [HANDLER]);
    assert!(!f.keys().await.iter().any(|k| k.contains(":relay:")), "the return is its own mail");

    f.desk.clock.advance(chrono::Duration::hours(1));
    f.take(&reply(HANDLER, Some("r2@hq"), &number, "转 SH02")).await;
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.station.as_deref(), t.returns_refused), (Status::Open, Some("SH02"), 0));
    assert!(t.reply_due > before.reply_due, "fresh deadlines for the new station");
    let forward = f.outbox().await.into_iter().find(|m| m.key.contains(":forward:SH02:")).expect("forwarded");
    assert_eq!(forward.recipients, [SH02, HANDLER]);
    assert!(f.events(&number).await.contains(&"reply:return".to_owned()));
}

#[tokio::test]
async fn a_return_the_handler_refuses_counts_against_the_station() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(BJ01, Some("r1@s"), &number, "不属于本站")).await;
    f.take(&reply(HANDLER, Some("r2@hq"), &number, "转 BJ01 客户确在海淀")).await;
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.station.as_deref(), t.returns_refused), (Status::Open, Some("BJ01"), 1));
    assert!(!t.owed().is_empty(), "its clocks run again");
    assert!(f.events(&number).await.contains(&"return_refused".to_owned()));
    let note = f.outbox().await.into_iter().find(|m| m.key.contains(":note:")).expect("station told");
    assert_eq!(note.recipients, [BJ01]);
    // Negated words are no return.
    f.take(&reply(BJ01, Some("r3@s"), &number, "不退回，我站处理")).await;
    assert_eq!(f.ticket(&number).await.status, Status::Open);
}

#[tokio::test]
async fn the_station_learns_a_granted_extension_and_the_close() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(BJ01, Some("e1@s"), &number, "申请延期 2026-11-19 18:00")).await;
    let granted = f.outbox().await.into_iter().find(|m| m.key.contains(":extended:")).expect("station told");
    assert_eq!(granted.recipients, [BJ01, HANDLER]);
    assert!(granted.subject.contains("2026-11-19 18:00"), "{}", granted.subject);
    f.take(&reply(HANDLER, Some("c1@hq"), &number, "结案")).await;
    let closed = f.outbox().await.into_iter().find(|m| m.key.contains(":closed:")).expect("station told");
    assert_eq!(closed.recipients, [BJ01]);
}

#[tokio::test]
async fn replies_to_one_sender_are_capped_per_hour() {
    let mut f = Fixture::new().await;
    let form = FORM.replace("紧急程度：加急\n", "");
    for i in 0..12 {
        f.take(&complaint(HANDLER, &format!("cap{i}@hq.example.test"), &form)).await;
    }
    assert_eq!(f.outbox().await.len(), 10, "the cap of desk.replies_per_hour");
    // The next hour has a cap of its own.
    f.desk.clock.advance(chrono::TimeDelta::hours(1));
    f.take(&complaint(HANDLER, "cap-next@hq.example.test", &form)).await;
    assert_eq!(f.outbox().await.len(), 11);
}

#[tokio::test]
async fn list_and_automatic_mail_is_never_answered() {
    let mut f = Fixture::new().await;
    let form = FORM.replace("紧急程度：加急\n", "");
    for (i, header) in
        ["List-Id: <cc.hq.example.test>", "Precedence: bulk", "Auto-Submitted: auto-generated"].iter().enumerate()
    {
        let raw = complaint(HANDLER, &format!("list{i}@hq.example.test"), &form).replacen(
            "MIME-Version",
            &format!("{header}\r\nMIME-Version"),
            1,
        );
        // Whatever it is classified as, it is not filed as it is.
        let d = f.take(&raw).await;
        assert!(!matches!(d, Disposition::Handled { ticket: Some(_), .. }), "{header}: {d:?}");
    }
    assert!(f.outbox().await.is_empty(), "no reply to a list or a machine");
}

#[tokio::test]
async fn every_mail_says_it_is_automatic() {
    let mut f = Fixture::new().await;
    f.complaint().await;
    let form = FORM.replace("紧急程度：加急\n", "");
    f.take(&complaint(HANDLER, "p9@hq.example.test", &form)).await;
    let claimed = f.store.claim_outbox(monday(), std::time::Duration::from_secs(60), 10).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    for mail in claimed {
        let body = String::from_utf8_lossy(&mail.body);
        let expected = if mail.key.starts_with("problem:") { "auto-replied" } else { "auto-generated" };
        assert!(body.contains(&format!("Auto-Submitted: {expected}\r\n")), "{}: {body}", mail.key);
    }
}

#[tokio::test]
async fn an_away_auto_reply_puts_the_backup_on_the_ticket_once_and_an_acknowledgement_does_not() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    let auto = |id: &str, text: &str| {
        format!(
            "From: {BJ01}\r\nTo: {DESK}\r\nSubject: 自动回复: [{number}] 投诉转出\r\nMessage-ID: <{id}>\r\n\
             Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"
        )
    };
    f.take(&auto("a0@s", "您的来信已收到，我们会尽快处理。")).await;
    assert_eq!(f.ticket(&number).await.backup_at, None, "an acknowledgement says nothing about being away");
    f.take(&auto("a1@s", "本人休假至11月20日，急事请联系备用邮箱。")).await;
    f.take(&auto("a2@s", "本人休假至11月20日。")).await;
    assert!(f.ticket(&number).await.backup_at.is_some());
    let keys = f.keys().await;
    assert_eq!(keys.iter().filter(|k| k.contains(":backup:")).count(), 1, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.contains(":forward:")).count(), 2, "{keys:?}");
    assert!(queued_text(&f, &format!("{number}:backup:")).await.contains("休假"));
    assert_eq!(f.events(&number).await.iter().filter(|e| *e == "backup_in_use").count(), 1);
}

#[tokio::test]
async fn the_operator_reassigning_to_the_returning_station_refuses_the_return() {
    let mut f = Fixture::new().await;
    let number = f.complaint().await;
    f.take(&reply(BJ01, Some("r1@s"), &number, "不属于本站")).await;
    let action = OperatorAction::Reassign { station: "bj01".into() };
    let mut tx = f.store.begin().await.expect("begin");
    let done = f.desk.operate(&mut tx, &number, &action, "operator:root", Some("客户确在海淀")).await.expect("done");
    tx.commit().await.expect("commit");
    assert_eq!(done, "return refused: back to BJ01");
    let t = f.ticket(&number).await;
    assert_eq!((t.status, t.station.as_deref(), t.returns_refused), (Status::Open, Some("BJ01"), 1));
    let note = f.outbox().await.into_iter().find(|m| m.key.contains("return_refused")).expect("station told");
    assert_eq!(note.recipients, [BJ01]);
    // Not returned, it is "already with" the station.
    let mut tx = f.store.begin().await.expect("begin");
    assert!(f.desk.operate(&mut tx, &number, &action, "operator:root", None).await.is_err());
}

mod machine_auth;
