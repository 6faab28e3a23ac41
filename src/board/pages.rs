//! What each board page shows, as plain data for its template: the "now"
//! overview, one ticket, search results and the month's assessment with
//! its SVG chart. Built from the desk's own pieces (`desk::view`,
//! `report::assess`), only for the tickets the user may see.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{BoardRole, BoardUser};
use crate::desk::Desk;
use crate::desk::view::{self, DeadlineLine, Entry};
use crate::report::Assessment;
use crate::store::{OutboxState, kind_name};
use crate::ticket::{Status, Ticket};

/// "Falls due soon": within this much working time.
const SOON: Duration = Duration::hours(4);

/// How many of the other open complaints the overview lists.
const LATEST: usize = 200;

/// The states an open ticket can be in, as the overview's columns.
const OPEN_STATES: [Status; 5] =
    [Status::Unrouted, Status::Open, Status::Contacted, Status::Resolved, Status::Returned];

/// Whether `user` may see tickets of `station`: managers only their own
/// stations' (and never an unrouted one), everyone else all.
pub fn may_see(desk: &Desk, user: &BoardUser, station: Option<&str>) -> bool {
    match user.role {
        BoardRole::Supervisor | BoardRole::Handler => true,
        BoardRole::Manager => station
            .and_then(|code| desk.settings.station(code))
            .is_some_and(|s| s.manager.eq_ignore_ascii_case(&user.address)),
    }
}

/// One ticket in a list.
#[derive(Serialize)]
pub struct Row {
    number: String,
    station: String,
    status: &'static str,
    urgency: &'static str,
    subject: String,
    received: String,
    /// The next deadline owed: its name, when (local), and whether it may
    /// move when the year's holiday notice comes.
    next: Option<&'static str>,
    due: Option<String>,
    provisional: bool,
    overdue: bool,
}

/// The next deadline `t` owes.
fn next_deadline(desk: &Desk, t: &Ticket) -> Option<DeadlineLine> {
    view::deadline_lines(desk, t).into_iter().filter(|d| d.owed && d.met.is_none()).min_by_key(|d| d.due)
}

fn row(desk: &Desk, t: &Ticket, now: DateTime<Utc>) -> (Row, Option<DateTime<Utc>>) {
    row_with(desk, t, next_deadline(desk, t), now)
}

fn row_with(desk: &Desk, t: &Ticket, next: Option<DeadlineLine>, now: DateTime<Utc>) -> (Row, Option<DateTime<Utc>>) {
    let due = next.as_ref().map(|d| d.due);
    let row = Row {
        number: t.number.to_string(),
        station: t.station.clone().unwrap_or_default(),
        status: t.status.chinese(),
        urgency: t.urgency.chinese(),
        subject: t.subject.clone(),
        received: view::local(desk, t.received_at),
        next: next.as_ref().map(|d| deadline_name(d.name)),
        due: due.map(|d| view::local(desk, d)),
        provisional: next.as_ref().is_some_and(|d| d.provisional),
        overdue: due.is_some_and(|d| d <= now),
    };
    (row, due)
}

/// A list of tickets (search results).
pub fn rows(desk: &Desk, tickets: &[Ticket]) -> Vec<Row> {
    let now = desk.clock.now();
    tickets.iter().map(|t| row(desk, t, now).0).collect()
}

/// The overview: open tickets counted by station and state, the overdue
/// ones, and those falling due in the next four working hours.
#[derive(Serialize)]
pub struct Now {
    now: String,
    states: Vec<&'static str>,
    /// (station code and name, a count per state, their total).
    by_station: Vec<(String, Vec<usize>, usize)>,
    overdue: Vec<Row>,
    soon: Vec<Row>,
    /// Every other open complaint, newest first (at most `LATEST`).
    latest: Vec<Row>,
    open: usize,
}

pub fn now(desk: &Desk, tickets: &[Ticket]) -> Now {
    let now = desk.clock.now();
    let mut counts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let (mut overdue, mut soon, mut latest) = (Vec::new(), Vec::new(), Vec::new());
    let open: Vec<&Ticket> = tickets.iter().filter(|t| t.status != Status::Closed).collect();
    for t in &open {
        let station = match t.station.as_deref() {
            Some(code) => desk.settings.station(code).map_or(code.to_owned(), |s| format!("{code} {}", s.name)),
            None => "（未分配）".to_owned(),
        };
        let slot = OPEN_STATES.iter().position(|s| *s == t.status).unwrap_or(0);
        counts.entry(station).or_insert_with(|| vec![0; OPEN_STATES.len()])[slot] += 1;
        let next = next_deadline(desk, t);
        match next.as_ref().map(|d| d.due) {
            Some(due) if due <= now => overdue.push((due, row_with(desk, t, next, now).0)),
            Some(due) if due <= desk.ticket_calendar(t).add_working(now, SOON) => {
                soon.push((due, row_with(desk, t, next, now).0))
            }
            // Its row only if it is among the newest shown (most are not).
            _ => latest.push((t.received_at, t, next)),
        }
    }
    overdue.sort_by_key(|(due, _)| *due);
    soon.sort_by_key(|(due, _)| *due);
    latest.sort_by_key(|(received, _, _)| std::cmp::Reverse(*received));
    Now {
        now: view::local(desk, now),
        states: OPEN_STATES.iter().map(|s| s.chinese()).collect(),
        by_station: counts.into_iter().map(|(s, c)| (s, c.clone(), c.iter().sum())).collect(),
        overdue: overdue.into_iter().map(|(_, r)| r).collect(),
        soon: soon.into_iter().map(|(_, r)| r).collect(),
        latest: latest.into_iter().take(LATEST).map(|(_, t, next)| row_with(desk, t, next, now).0).collect(),
        open: open.len(),
    }
}

/// A form field's name as the form writes it (the key for one not listed).
fn field_label(key: &str) -> String {
    let label = match key {
        "complaint_no" => "投诉单号",
        "urgency" => "紧急程度",
        "category" => "投诉分类",
        "station" => "服务站",
        "customer_name" => "客户姓名",
        "phone" => "联系电话",
        "service_order" => "服务单号",
        "product" => "产品型号",
        "serial" => "机身编号",
        "region" => "所在地区",
        "address" => "地址",
        "description" => "投诉内容",
        "demand" => "客户诉求",
        "handler" => "受理人",
        _ => key,
    };
    label.to_owned()
}

fn deadline_name(name: &str) -> &'static str {
    match name {
        "reply" => "首次回复",
        "escalation" => "升级",
        "result" => "处理结果",
        "close" => "结案",
        _ => "延期上限",
    }
}

/// One deadline on a ticket's page.
#[derive(Serialize)]
struct DeadlineView {
    name: &'static str,
    due: String,
    state: String,
    overdue: bool,
    provisional: bool,
}

fn deadline_view(desk: &Desk, d: &DeadlineLine) -> DeadlineView {
    let now = desk.clock.now();
    let overdue = d.owed && d.met.is_none() && d.due <= now;
    let state = match d.met {
        Some(at) if at <= d.due => format!("按时 {}", view::local(desk, at)),
        Some(at) => format!("超时完成 {}", view::local(desk, at)),
        None if overdue => "已超时".into(),
        None if d.owed => "未完成".into(),
        None => String::new(),
    };
    DeadlineView {
        name: deadline_name(d.name),
        due: view::local(desk, d.due),
        state,
        overdue,
        provisional: d.provisional,
    }
}

/// One line of a ticket's timeline.
#[derive(Serialize)]
struct Line {
    at: String,
    /// `in`, `event` or `out`.
    dir: &'static str,
    who: String,
    subject: String,
    what: String,
}

fn line(desk: &Desk, e: &Entry) -> Line {
    let at = view::local(desk, e.at());
    match e {
        Entry::In(m) => Line {
            at,
            dir: "in",
            who: m.sender.clone(),
            subject: m.subject.clone(),
            what: format!("{} · {}{}", kind_name(m.kind), m.outcome.as_str(), suffix(" · ", m.reason.as_deref())),
        },
        Entry::Event(ev) => Line {
            at,
            dir: "event",
            who: ev.actor.clone().unwrap_or_default(),
            subject: String::new(),
            // The line an action was read from is the detail's first line.
            what: format!("{}{}", ev.kind, suffix(": ", ev.detail.as_deref().and_then(|d| d.lines().next()))),
        },
        Entry::Out(m) => Line {
            at,
            dir: "out",
            who: m.recipients.join(", "),
            subject: m.subject.clone(),
            what: match (m.state, m.sent_at) {
                (OutboxState::Sent, Some(t)) => format!("已发送 {}", view::local(desk, t)),
                (OutboxState::Failed, _) => format!("发送失败：{}", m.last_error.as_deref().unwrap_or("")),
                _ => format!("待发送（不早于 {}）", view::local(desk, m.next_attempt_at)),
            },
        },
    }
}

fn suffix(prefix: &str, v: Option<&str>) -> String {
    v.map(|v| format!("{prefix}{v}")).unwrap_or_default()
}

/// A ticket's page.
#[derive(Serialize)]
pub struct TicketPage {
    row: Row,
    kind: &'static str,
    handler: String,
    station_name: String,
    fields: Vec<(String, String)>,
    provisional_years: Vec<i32>,
    deadlines: Vec<DeadlineView>,
    alerts: Vec<(String, &'static str, String)>,
    timeline: Vec<Line>,
}

pub fn ticket(desk: &Desk, t: &Ticket, timeline: &[Entry]) -> TicketPage {
    let now = desk.clock.now();
    let fields = match &t.fields {
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| v.as_str().filter(|v| !v.is_empty()).map(|v| (field_label(k), v.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    TicketPage {
        row: row(desk, t, now).0,
        kind: t.kind.as_str(),
        handler: t.handler.clone(),
        station_name: t
            .station
            .as_deref()
            .and_then(|c| desk.settings.station(c))
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        fields,
        provisional_years: desk.provisional_years(t),
        deadlines: view::deadline_lines(desk, t).iter().map(|d| deadline_view(desk, d)).collect(),
        alerts: view::planned_alerts(desk, t).into_iter().map(|(k, l, at)| (view::local(desk, at), l, k)).collect(),
        timeline: timeline.iter().map(|e| line(desk, e)).collect(),
    }
}

/// The assessment page: the figures and the chart of on-time rates.
#[derive(Serialize)]
pub struct AssessmentPage {
    month: String,
    stations: Vec<crate::report::StationFigures>,
    total: crate::report::StationFigures,
    svg: String,
}

pub fn assessment(a: &Assessment) -> AssessmentPage {
    AssessmentPage { month: a.period.label(), stations: a.stations.clone(), total: a.total.clone(), svg: chart(a) }
}

/// Horizontal bars: per station, the share of closed complaints whose first
/// reply, result and close were on time. Text is escaped: names come from
/// the config.
fn chart(a: &Assessment) -> String {
    const BAR: u32 = 12;
    const LABEL: u32 = 130;
    const WIDTH: u32 = 300;
    let series = [("首次回复", "#4e79a7"), ("处理结果", "#f28e2b"), ("结案", "#59a14f")];
    let group = BAR * 3 + 14;
    let height = 30 + group * a.stations.len() as u32;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="按时率" viewBox="0 0 {} {height}" width="100%">"#,
        LABEL + WIDTH + 50
    );
    for (i, (name, color)) in series.iter().enumerate() {
        let x = LABEL + i as u32 * 100;
        svg.push_str(&format!(
            r#"<rect x="{x}" y="4" width="10" height="10" fill="{color}"/><text x="{}" y="13" font-size="11">{name}</text>"#,
            x + 14
        ));
    }
    for (i, s) in a.stations.iter().enumerate() {
        let y = 24 + group * i as u32;
        svg.push_str(&format!(
            r#"<text x="0" y="{}" font-size="12">{}</text>"#,
            y + BAR * 2,
            escape(&format!("{} {}", s.code, s.name))
        ));
        for (j, on_time) in [s.reply_on_time, s.result_on_time, s.close_on_time].into_iter().enumerate() {
            let rate = s.rate(on_time);
            let w = rate.unwrap_or(0) * WIDTH / 100;
            let by = y + BAR * j as u32;
            let label = rate.map_or("—".to_owned(), |r| format!("{r}%"));
            svg.push_str(&format!(
                r#"<rect x="{LABEL}" y="{by}" width="{w}" height="{}" fill="{}"/><text x="{}" y="{}" font-size="10">{label}</text>"#,
                BAR - 2,
                series[j].1,
                LABEL + w + 4,
                by + BAR - 3
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
