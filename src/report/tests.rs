use std::path::Path;

use chrono::{Duration, NaiveDate};
use serde_json::json;

use super::*;
use crate::store::NewTicket;
use crate::ticket::TicketNo;

const TZ: Tz = chrono_tz::Asia::Shanghai;

fn settings() -> Settings {
    Settings::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml")).expect("example config")
}

/// Local time in Shanghai.
fn at(s: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("time");
    TZ.from_local_datetime(&naive).single().expect("unambiguous").with_timezone(&Utc)
}

/// A complaint received at `received`, deadlines a day apart after it.
fn complaint(n: i64, station: &str, category: &str, received: &str) -> Ticket {
    let received = at(received);
    let number = TicketNo::new(received.date_naive(), n);
    Ticket {
        dispatched_at: Some(received),
        reply_due: Some(received + Duration::days(1)),
        escalate_at: Some(received + Duration::days(1)),
        result_due: Some(received + Duration::days(2)),
        close_due: Some(received + Duration::days(3)),
        extension_cap: Some(received + Duration::days(5)),
        ..NewTicket {
            station: Some(station.into()),
            fields: json!({ "category": category }),
            ..NewTicket::example(number, received)
        }
        .into_ticket()
    }
}

/// Replied, resolved and closed `hours` after receipt (`valid` as given).
fn closed(mut t: Ticket, reply_h: i64, result_h: i64, close_h: i64, valid: bool) -> Ticket {
    t.first_reply_at = Some(t.received_at + Duration::hours(reply_h));
    t.result_at = Some(t.received_at + Duration::hours(result_h));
    t.closed_at = Some(t.received_at + Duration::hours(close_h));
    t.status = Status::Closed;
    t.valid = Some(valid);
    t
}

fn pre_reported(mut t: Ticket, major: bool) -> Ticket {
    t.pre_reported = true;
    t.major = major;
    t.linked_to = Some(TicketNo::new(t.received_at.date_naive(), 99));
    t
}

const QUALITY: &str = "服务类-服务质量-维修周期";

#[test]
fn months_are_local_calendar_months() {
    let p = Period::parse("2026-10", TZ).unwrap();
    assert_eq!(p.start, at("2026-10-01 00:00"));
    assert_eq!(p.end, at("2026-11-01 00:00"));
    assert_eq!(p.label(), "2026-10");
    assert!(Period::parse("2026-13", TZ).is_err());
    assert!(Period::parse("October", TZ).is_err());
    // 09:00 on 1 December in Shanghai is still 30 November in UTC.
    assert_eq!(Period::before(at("2026-12-01 09:00"), TZ).label(), "2026-11");
    assert_eq!(Period::before(at("2027-01-01 00:30"), TZ).label(), "2026-12");
    assert_eq!(Period::month(NaiveDate::from_ymd_opt(2026, 12, 15).unwrap(), TZ).end, at("2027-01-01 00:00"));
}

#[test]
fn the_assessment_counts_valid_complaints_of_the_counted_categories_closed_in_the_month() {
    let s = settings();
    let p = Period::parse("2026-11", TZ).unwrap();
    let mut pre = complaint(50, "BJ01", "", "2026-11-03 10:00");
    pre.kind = TicketKind::PreReport;
    let tickets = vec![
        // Counted: valid, service quality, everything on time.
        closed(complaint(1, "BJ01", QUALITY, "2026-11-02 10:00"), 1, 20, 30, true),
        // Counted: internal complaint against the station, reply late.
        closed(complaint(2, "BJ01", "服务类-内部投诉-服务站态度", "2026-11-04 10:00"), 30, 40, 70, true),
        // Not counted: invalid.
        closed(complaint(3, "BJ01", QUALITY, "2026-11-05 10:00"), 1, 2, 3, false),
        // Not counted: product category; internal complaint about the call center.
        closed(complaint(4, "BJ01", "产品类-产品质量", "2026-11-06 10:00"), 1, 2, 3, true),
        closed(complaint(5, "BJ01", "服务类-内部投诉-呼叫中心", "2026-11-06 11:00"), 1, 2, 3, true),
        // Pre-reported, not major, closed in time: exempt.
        pre_reported(closed(complaint(6, "BJ01", QUALITY, "2026-11-09 10:00"), 1, 2, 3, true), false),
        // Pre-reported but major: counted.
        pre_reported(closed(complaint(7, "BJ01", QUALITY, "2026-11-10 10:00"), 1, 2, 3, true), true),
        // Pre-reported, closed late: counted.
        pre_reported(closed(complaint(8, "BJ01", QUALITY, "2026-11-11 10:00"), 1, 2, 80, true), false),
        // Received in October, closed in November: November's.
        closed(complaint(9, "SH02", QUALITY, "2026-10-30 10:00"), 1, 2, 60, true),
        // Closed in December: not November's; open at the end, overdue then.
        closed(complaint(10, "SH02", QUALITY, "2026-11-27 10:00"), 1, 200, 210, true),
        // Open at the end, not yet overdue.
        complaint(11, "SH02", QUALITY, "2026-11-30 20:00"),
        // Closed in October: nothing to do with November (in scope by accident).
        closed(complaint(12, "SH02", QUALITY, "2026-10-01 10:00"), 1, 2, 3, true),
        // A station no longer configured still shows.
        closed(complaint(13, "XX09", QUALITY, "2026-11-12 10:00"), 1, 2, 3, true),
        pre,
    ];
    let a = assess(&s, &p, &tickets);
    let bj = &a.stations[0];
    assert_eq!(bj.code, "BJ01");
    assert_eq!((bj.received, bj.pre_reports, bj.closed, bj.valid, bj.invalid), (8, 1, 8, 7, 1));
    assert_eq!((bj.in_scope, bj.pre_reported, bj.exempt, bj.counted), (5, 3, 1, 4));
    assert_eq!((bj.reply_on_time, bj.result_on_time, bj.close_on_time, bj.overdue), (7, 8, 7, 2));
    assert_eq!(bj.rate(bj.reply_on_time), Some(88));
    assert_eq!((bj.open_at_end, bj.overdue_open_at_end), (0, 0));
    let sh = &a.stations[1];
    assert_eq!((sh.received, sh.closed, sh.counted), (2, 1, 1));
    assert_eq!((sh.close_on_time, sh.overdue), (1, 0));
    assert_eq!((sh.open_at_end, sh.overdue_open_at_end), (2, 1));
    let gz = &a.stations[2];
    assert_eq!((gz.closed, gz.rate(gz.close_on_time)), (0, None));
    let xx = a.stations.last().unwrap();
    assert_eq!((xx.code.as_str(), xx.name.as_str(), xx.counted), ("XX09", "XX09", 1));
    assert_eq!(a.stations.len(), 6);
    assert_eq!((a.total.counted, a.total.exempt, a.total.closed, a.total.open_at_end), (6, 1, 10, 2));
}

#[test]
fn unrouted_complaints_are_nobodys_but_in_the_figures() {
    let mut t = closed(complaint(1, "BJ01", QUALITY, "2026-11-02 10:00"), 1, 2, 3, true);
    t.station = None;
    let mut open = complaint(2, "BJ01", QUALITY, "2026-11-03 10:00");
    (open.station, open.status) = (None, Status::Unrouted);
    let a = assess(&settings(), &Period::parse("2026-11", TZ).unwrap(), &[t, open.clone()]);
    let row = a.stations.last().unwrap();
    assert_eq!((row.name.as_str(), row.received, row.closed, row.counted, row.open_at_end), ("未分派", 2, 1, 0, 1));
    assert_eq!((a.total.received, a.total.counted), (2, 0));
    // And the supervisor's digest lists the one still open.
    let d = digests(&settings(), &[open], at("2026-11-05 09:00"), TZ);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].manager.as_str(), d[0].rows[0].station.as_str()), ("supervisor@hq.example.test", "未分派"));
}

#[test]
fn csv_has_a_bom_a_header_a_row_per_station_and_a_total() {
    let s = settings();
    let p = Period::parse("2026-11", TZ).unwrap();
    let mut a = assess(&s, &p, &[closed(complaint(1, "BJ01", QUALITY, "2026-11-02 10:00"), 1, 2, 3, true)]);
    a.stations[1].name = "上海,徐汇 \"站\"".into();
    a.stations[2].name = "=HYPERLINK(\"x\")".into();
    let csv = a.csv();
    assert!(csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 5 + 1);
    assert!(lines[0].starts_with("服务站代码,服务站,收到投诉"));
    assert_eq!(lines[1], "BJ01,北京海淀服务站,1,0,1,1,0,1,0,0,1,1,100%,1,100%,1,100%,0,0,0,0");
    assert!(lines[2].starts_with("SH02,\"上海,徐汇 \"\"站\"\"\","), "{}", lines[2]);
    assert!(lines[3].starts_with("GZ03,\"'=HYPERLINK(\"\"x\"\")\","), "{}", lines[3]);
    assert!(lines[6].starts_with(",合计,1,"));
    assert_eq!(a.csv_name(), "assessment-2026-11.csv");
}

#[test]
fn the_html_report_escapes_names_and_draws_bars() {
    let s = settings();
    // Rendered the way the report worker renders it (notify sits above
    // report; only this test reaches up, to check the two together).
    let templates = crate::notify::Templates::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        &crate::notify::MailContext::sample(),
    )
    .unwrap();
    let notify = crate::notify::Notifier::new(&s, templates, TZ).unwrap();
    let p = Period::parse("2026-11", TZ).unwrap();
    let tickets = [
        closed(complaint(1, "BJ01", QUALITY, "2026-11-02 10:00"), 1, 2, 3, true),
        closed(complaint(2, "BJ01", QUALITY, "2026-11-03 10:00"), 30, 2, 3, true),
        pre_reported(closed(complaint(3, "SH02", QUALITY, "2026-11-03 10:00"), 1, 2, 3, true), false),
    ];
    let mut a = assess(&s, &p, &tickets);
    a.stations[0].name = "<script>alert(1)</script>".into();
    let r = notify.monthly(&a, &s.reports.counted_categories, "2026-12-01 09:00").unwrap();
    assert_eq!(r.subject, "服务站投诉考核月报 2026-11");
    let html = r.html.unwrap();
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    // BJ01: 2 counted, the widest bar; SH02: one exempt, grey, as wide.
    assert!(html.contains(r##"<td width="100%" bgcolor="#c62828""##), "{html}");
    assert!(html.contains(r##"<td width="50%" bgcolor="#c62828""##), "{html}");
    assert!(html.contains(r##"<td width="50%" bgcolor="#9e9e9e""##), "{html}");
    assert!(r.text.contains("计入考核 2 ██（考核范围内有效 2"), "{}", r.text);
    assert!(r.text.contains("首次回复 50%"), "{}", r.text);
}

#[test]
fn digests_go_to_managers_with_open_tickets_overdue_first() {
    let s = settings();
    let now = at("2026-11-23 09:00");
    let late = complaint(1, "GZ03", QUALITY, "2026-11-19 10:00");
    let fresh = complaint(2, "HK05", QUALITY, "2026-11-23 08:00");
    let mut answered = complaint(3, "GZ03", QUALITY, "2026-11-16 10:00");
    answered.first_reply_at = Some(answered.received_at + Duration::hours(1));
    answered.status = Status::Contacted;
    let done = closed(complaint(4, "BJ01", QUALITY, "2026-11-16 10:00"), 1, 2, 3, true);
    let digests = digests(&s, &[fresh, late, answered, done], now, TZ);
    assert_eq!(digests.len(), 1, "only manager-south has open tickets");
    let d = &digests[0];
    assert_eq!(d.manager, "manager-south@hq.example.test");
    assert_eq!(d.stations, ["GZ03 广州天河服务站", "HK05 香港九龍服務站"]);
    let order: Vec<&str> = d.rows.iter().map(|r| r.number.as_str()).collect();
    assert_eq!(order, ["TS-20261116-0003", "TS-20261119-0001", "TS-20261123-0002"]);
    // How overdue, never a passed deadline as the next one.
    assert_eq!(d.rows[0].overdue, "处理结果（超时 4 天 23 小时）、结案（超时 3 天 23 小时）");
    assert_eq!(d.rows[0].next_due, "");
    assert_eq!(d.rows[0].status, "已联系客户");
    assert!(d.rows[1].overdue.starts_with("首次回复（超时 "), "{}", d.rows[1].overdue);
    assert_eq!((d.rows[2].overdue.as_str(), d.rows[2].next_due.as_str()), ("", "2026-11-24 08:00"));
    let ctx = d.context("2026-11-23");
    assert_eq!((ctx["open"].as_u64(), ctx["overdue"].as_u64()), (Some(3), Some(2)));
}

#[test]
fn reports_settings_default_and_bad_cron_names_the_key() {
    let s = settings();
    assert_eq!((s.reports.monthly.as_str(), s.reports.link_days), ("0 0 9 1 * *", 30));
    assert!(s.reports.is_counted_category(Some("服务类-服务质量-维修质量")));
    assert!(!s.reports.is_counted_category(Some("服务类-内部投诉-呼叫中心")));
    assert!(!s.reports.is_counted_category(None));
    let dir = std::env::temp_dir().join(format!("complaintd-cron-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml")).unwrap();
    let path = dir.join("bad.toml");
    let bad = example.replace("weekly = \"0 0 9 * * Mon\"", "weekly = \"0 0 9 * * Someday\"");
    assert_ne!(bad, example, "the example config sets reports.weekly");
    std::fs::write(&path, bad).unwrap();
    let err = Settings::load(&path).unwrap_err().to_string();
    assert!(err.contains("bad.toml: reports.weekly:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
