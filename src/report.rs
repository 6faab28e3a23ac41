//! Reports (PRODUCT.md §11): the monthly assessment (考核) per station for
//! channel management and the weekly digest of open and overdue tickets for
//! each regional manager. The figures are computed here from tickets, with
//! no I/O; the report worker mails them and `complaintd report` prints them,
//! both through [`Assessment::context`] and the `monthly` template.
//!
//! What the assessment counts (seed 004, 投诉相关考核):
//! - the month of a complaint is the month it was closed (确认属于有效投诉),
//!   so each complaint counts once, and the figures of a past month do not
//!   change;
//! - it counts against its station when closed valid, in a counted category
//!   (`reports.counted_categories`), and not exempt;
//! - exempt: linked to the station's pre-report (投诉报备), not major, and
//!   closed by its close deadline;
//! - on-time rates are over the complaints closed in the month; tickets still
//!   open at the end of the month are shown apart, with how many were overdue.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::ticket::{Status, Ticket, TicketKind};

/// A calendar month in the calendar's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Its first day.
    pub first: NaiveDate,
    /// Local midnight of the first day.
    pub start: DateTime<Utc>,
    /// Local midnight of the first day of the next month.
    pub end: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a month: {0:?} (write YYYY-MM, e.g. 2026-10)")]
pub struct BadMonth(pub String);

impl Period {
    pub fn month(first: NaiveDate, tz: Tz) -> Self {
        let first = first.with_day(1).unwrap_or(first);
        let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
        Self { first, start: local_midnight(first, tz), end: local_midnight(next, tz) }
    }

    /// `2026-10`.
    pub fn parse(text: &str, tz: Tz) -> Result<Self, BadMonth> {
        let first = NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
            .map_err(|_| BadMonth(text.to_owned()))?;
        Ok(Self::month(first, tz))
    }

    /// The month before the one `at` falls in: what a report run on the 1st is about.
    pub fn before(at: DateTime<Utc>, tz: Tz) -> Self {
        let local = at.with_timezone(&tz).date_naive();
        let first = local.with_day(1).unwrap_or(local);
        Self::month(first.checked_sub_months(Months::new(1)).unwrap_or(first), tz)
    }

    pub fn label(&self) -> String {
        self.first.format("%Y-%m").to_string()
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone that skips midnight (DST) starts the day at the first instant it has.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// One station's figures for one month.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StationFigures {
    /// The station's code and name as configured (the code alone for a
    /// station no longer configured; "合计" names the total).
    pub code: String,
    pub name: String,
    /// Complaints received in the month (for scale; not assessed).
    pub received: u32,
    /// Pre-reports the station filed in the month.
    pub pre_reports: u32,
    /// Complaints closed in the month: the population of everything below.
    pub closed: u32,
    /// Closed as valid (有效) / invalid (无效).
    pub valid: u32,
    pub invalid: u32,
    /// Valid and in a counted category.
    pub in_scope: u32,
    /// Of those, linked to one of the station's pre-reports.
    pub pre_reported: u32,
    /// Of those, non-major and closed in time: not counted.
    pub exempt: u32,
    /// What counts against the station: `in_scope - exempt`.
    pub counted: u32,
    /// Closed complaints whose first reply, result and close met their deadlines.
    pub reply_on_time: u32,
    pub result_on_time: u32,
    pub close_on_time: u32,
    /// Closed complaints that missed at least one deadline.
    pub overdue: u32,
    /// Complaints still open when the month ended, and how many were overdue then.
    pub open_at_end: u32,
    pub overdue_open_at_end: u32,
    /// Returns (退回) of complaints received in the month that the handler
    /// refused: the station returned what was its own.
    pub returns_refused: u32,
}

impl StationFigures {
    fn add(&mut self, o: &StationFigures) {
        self.received += o.received;
        self.pre_reports += o.pre_reports;
        self.closed += o.closed;
        self.valid += o.valid;
        self.invalid += o.invalid;
        self.in_scope += o.in_scope;
        self.pre_reported += o.pre_reported;
        self.exempt += o.exempt;
        self.counted += o.counted;
        self.reply_on_time += o.reply_on_time;
        self.result_on_time += o.result_on_time;
        self.close_on_time += o.close_on_time;
        self.overdue += o.overdue;
        self.open_at_end += o.open_at_end;
        self.overdue_open_at_end += o.overdue_open_at_end;
        self.returns_refused += o.returns_refused;
    }

    /// `on_time` of the closed complaints, in whole percent; `None` without any.
    pub fn rate(&self, on_time: u32) -> Option<u32> {
        (self.closed > 0).then(|| ((f64::from(on_time) * 100.0 / f64::from(self.closed)).round()) as u32)
    }
}

/// The monthly assessment: every configured station (and any other a ticket names).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The month assessed.
    pub period: Period,
    /// Configured stations in configuration order, then any other a ticket names.
    pub stations: Vec<StationFigures>,
    /// The sum over all stations.
    pub total: StationFigures,
}

/// Whether `done` met `due`; a missing milestone did not.
fn on_time(done: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>) -> bool {
    match (done, due) {
        (Some(done), Some(due)) => done <= due,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The milestones of `t` overdue at `at` (none done by then and due before).
fn overdue_at(t: &Ticket, at: DateTime<Utc>) -> Vec<&'static str> {
    let late = |done: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>| {
        due.is_some_and(|due| due < at) && done.is_none_or(|d| d > at)
    };
    let mut out = Vec::new();
    if late(t.first_reply_at, t.reply_due) {
        out.push("首次回复");
    }
    if late(t.result_at, t.result_due) {
        out.push("处理结果");
    }
    if late(t.closed_at, t.close_due) {
        out.push("结案");
    }
    out
}

/// The month's figures from the tickets that may concern it (received before
/// its end and not closed before its start; others are ignored).
pub fn assess(settings: &Settings, period: &Period, tickets: &[Ticket]) -> Assessment {
    let mut stations: Vec<StationFigures> = settings
        .stations
        .iter()
        .map(|s| StationFigures { code: s.code.clone(), name: s.name.clone(), ..StationFigures::default() })
        .collect();
    let mut index: HashMap<String, usize> =
        stations.iter().enumerate().map(|(i, s)| (s.code.to_ascii_uppercase(), i)).collect();
    for t in tickets {
        // A complaint no station has is shown on a row of its own, so it
        // is in the figures without counting against anyone.
        let (code, name) = match &t.station {
            Some(code) => (code.clone(), code.clone()),
            None => (String::new(), "未分派".to_owned()),
        };
        let i = *index.entry(code.to_ascii_uppercase()).or_insert_with(|| {
            stations.push(StationFigures { code, name, ..StationFigures::default() });
            stations.len() - 1
        });
        let f = &mut stations[i];
        if t.kind == TicketKind::PreReport {
            f.pre_reports += u32::from(period.contains(t.received_at));
            continue;
        }
        if t.kind != TicketKind::Complaint {
            continue;
        }
        f.received += u32::from(period.contains(t.received_at));
        if period.contains(t.received_at) {
            f.returns_refused += u32::try_from(t.returns_refused).unwrap_or(0);
        }
        match t.closed_at {
            Some(closed) if period.contains(closed) => {
                f.closed += 1;
                let valid = t.valid != Some(false);
                if valid {
                    f.valid += 1
                } else {
                    f.invalid += 1
                }
                let reply = on_time(t.first_reply_at, t.reply_due);
                let result = on_time(t.result_at, t.result_due);
                let close = on_time(t.closed_at, t.close_due);
                f.reply_on_time += u32::from(reply);
                f.result_on_time += u32::from(result);
                f.close_on_time += u32::from(close);
                f.overdue += u32::from(!(reply && result && close));
                let category = t.fields.get("category").and_then(Value::as_str);
                // Closed while returned: it was never the station's.
                let returned = t.status == Status::Closed && t.returned_at.is_some();
                if valid && !returned && t.station.is_some() && settings.reports.is_counted_category(category) {
                    f.in_scope += 1;
                    if t.pre_reported {
                        f.pre_reported += 1;
                        f.exempt += u32::from(!t.major && close);
                    }
                }
            }
            closed if t.received_at < period.end && closed.is_none_or(|c| c >= period.end) => {
                f.open_at_end += 1;
                f.overdue_open_at_end += u32::from(!overdue_at(t, period.end).is_empty());
            }
            _ => {}
        }
    }
    let mut total = StationFigures { code: String::new(), name: "合计".into(), ..StationFigures::default() };
    for f in &mut stations {
        f.counted = f.in_scope - f.exempt;
        total.add(f);
    }
    Assessment { period: period.clone(), stations, total }
}

/// The CSV columns: header and how to read each from the figures.
type Column = (&'static str, fn(&StationFigures) -> String);

const COLUMNS: &[Column] = &[
    ("服务站代码", |f| f.code.clone()),
    ("服务站", |f| f.name.clone()),
    ("收到投诉", |f| f.received.to_string()),
    ("投诉报备", |f| f.pre_reports.to_string()),
    ("结案", |f| f.closed.to_string()),
    ("有效", |f| f.valid.to_string()),
    ("无效", |f| f.invalid.to_string()),
    ("考核范围内有效", |f| f.in_scope.to_string()),
    ("其中已报备", |f| f.pre_reported.to_string()),
    ("报备免考核", |f| f.exempt.to_string()),
    ("计入考核", |f| f.counted.to_string()),
    ("首次回复及时", |f| f.reply_on_time.to_string()),
    ("首次回复及时率", |f| rate_text(f.rate(f.reply_on_time))),
    ("处理结果及时", |f| f.result_on_time.to_string()),
    ("处理结果及时率", |f| rate_text(f.rate(f.result_on_time))),
    ("结案及时", |f| f.close_on_time.to_string()),
    ("结案及时率", |f| rate_text(f.rate(f.close_on_time))),
    ("超时结案", |f| f.overdue.to_string()),
    ("月末未结", |f| f.open_at_end.to_string()),
    ("月末未结且超时", |f| f.overdue_open_at_end.to_string()),
    ("退回被驳回", |f| f.returns_refused.to_string()),
];

fn rate_text(rate: Option<u32>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{r}%"))
}

/// One CSV field, quoted when it must be; a leading formula character is
/// neutralised, so a spreadsheet never runs a name as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '@']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

impl Assessment {
    /// The figures as CSV (UTF-8 with a byte-order mark, so spreadsheet
    /// programs read the Chinese; CRLF lines), a row per station and a total.
    pub fn csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        let line = |cells: Vec<String>| cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\r\n";
        out.push_str(&line(COLUMNS.iter().map(|(h, _)| (*h).to_owned()).collect()));
        for f in self.stations.iter().chain([&self.total]) {
            out.push_str(&line(COLUMNS.iter().map(|(_, get)| get(f)).collect()));
        }
        out
    }

    /// The CSV file's name.
    pub fn csv_name(&self) -> String {
        format!("assessment-{}.csv", self.period.label())
    }

    /// The `report` key of the `monthly` template: figures, rates as text,
    /// and bar widths in percent for the HTML chart.
    pub fn context(&self, generated_at: &str, categories: &[String]) -> Value {
        let widest = self.stations.iter().map(|f| f.in_scope).max().unwrap_or(0).max(1);
        let row = |f: &StationFigures| {
            let pct = |n: u32| (f64::from(n) * 100.0 / f64::from(widest)).round() as u32;
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Value::Object(m) = &mut v {
                for (key, on_time) in
                    [("reply", f.reply_on_time), ("result", f.result_on_time), ("close", f.close_on_time)]
                {
                    m.insert(format!("{key}_rate"), json!(rate_text(f.rate(on_time))));
                    m.insert(format!("{key}_pct"), json!(f.rate(on_time).unwrap_or(0)));
                }
                m.insert("counted_pct".into(), json!(pct(f.counted)));
                m.insert("exempt_pct".into(), json!(pct(f.in_scope).saturating_sub(pct(f.counted))));
                m.insert("counted_bar".into(), json!("█".repeat(f.counted as usize)));
                m.insert("exempt_bar".into(), json!("░".repeat(f.exempt as usize)));
            }
            v
        };
        json!({
            "period": self.period.label(),
            "generated_at": generated_at,
            "categories": categories.join("、"),
            "stations": self.stations.iter().map(row).collect::<Vec<_>>(),
            "total": row(&self.total),
        })
    }
}

/// One open ticket in a manager's weekly digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestRow {
    /// Ticket number, station (`code name`) and urgency in the desk's words.
    pub number: String,
    pub station: String,
    pub urgency: String,
    /// Where it stands, in the desk's words.
    pub status: String,
    /// Local time of intake.
    pub received_at: String,
    /// The nearest deadline still to be met.
    pub next_due: String,
    /// The milestones already overdue (empty when none).
    pub overdue: String,
}

/// A regional manager's weekly digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The regional manager's address: the one recipient.
    pub manager: String,
    /// `BJ01 北京海淀服务站` for each of the manager's stations.
    pub stations: Vec<String>,
    /// Overdue first, then oldest first.
    pub rows: Vec<DigestRow>,
}

/// How long ago `due` passed, in the digest's words ("2 天 3 小时").
fn overdue_by(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let hours = (now - due).num_hours();
    match (hours / 24, hours % 24) {
        (0, 0) => "不足 1 小时".to_owned(),
        (0, h) => format!("{h} 小时"),
        (d, 0) => format!("{d} 天"),
        (d, h) => format!("{d} 天 {h} 小时"),
    }
}

/// One open complaint as a digest row: the next deadline still ahead, and
/// how overdue each passed one is (a passed deadline is never "next").
fn digest_row(t: &Ticket, station: String, now: DateTime<Utc>, local: &impl Fn(DateTime<Utc>) -> String) -> DigestRow {
    let owed = [
        ("首次回复", t.first_reply_at, t.reply_due),
        ("处理结果", t.result_at, t.result_due),
        ("结案", t.closed_at, t.close_due),
    ];
    let pending = || owed.iter().filter(|(_, done, _)| done.is_none()).filter_map(|(w, _, due)| Some((*w, (*due)?)));
    let next_due = pending().map(|(_, due)| due).filter(|due| *due > now).min();
    let late: Vec<String> = pending()
        .filter(|(_, due)| *due <= now)
        .map(|(w, due)| format!("{w}（超时 {}）", overdue_by(due, now)))
        .collect();
    DigestRow {
        number: t.number.to_string(),
        station,
        urgency: t.urgency.chinese().to_owned(),
        status: t.status.chinese().to_owned(),
        received_at: local(t.received_at),
        next_due: next_due.map(local).unwrap_or_default(),
        overdue: late.join("、"),
    }
}

/// The digest of every manager whose stations have open complaints at
/// `now`, and the supervisor's of the complaints no station has (never
/// routed, or returned and not moved on).
pub fn digests(settings: &Settings, open: &[Ticket], now: DateTime<Utc>, tz: Tz) -> Vec<Digest> {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let open: Vec<&Ticket> =
        open.iter().filter(|t| t.kind == TicketKind::Complaint && t.status != Status::Closed).collect();
    let mut managers: Vec<&str> = Vec::new();
    for s in &settings.stations {
        if !managers.iter().any(|m| m.eq_ignore_ascii_case(&s.manager)) {
            managers.push(&s.manager);
        }
    }
    let mut out = Vec::new();
    for manager in managers {
        let stations: Vec<_> = settings.stations.iter().filter(|s| s.manager.eq_ignore_ascii_case(manager)).collect();
        let rows: Vec<(DateTime<Utc>, DigestRow)> = open
            .iter()
            .filter(|t| t.status != Status::Returned)
            .filter_map(|t| {
                let station =
                    stations.iter().find(|s| t.station.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(&s.code)))?;
                Some((t.received_at, digest_row(t, format!("{} {}", station.code, station.name), now, &local)))
            })
            .collect();
        let stations = stations.iter().map(|s| format!("{} {}", s.code, s.name)).collect();
        out.extend(Digest::of(manager, stations, rows));
    }
    let nobodys: Vec<(DateTime<Utc>, DigestRow)> = open
        .iter()
        .filter(|t| matches!(t.status, Status::Unrouted | Status::Returned))
        .map(|t| {
            let station = match (&t.station, t.status) {
                (Some(code), Status::Returned) => format!("{code} 已退回"),
                _ => "未分派".to_owned(),
            };
            (t.received_at, digest_row(t, station, now, &local))
        })
        .collect();
    out.extend(Digest::of(&settings.desk.supervisor, vec!["未分派或已退回的投诉".to_owned()], nobodys));
    out
}

impl Digest {
    /// The digest of `rows` for `manager`, overdue first then oldest; none
    /// when there are no rows.
    fn of(manager: &str, stations: Vec<String>, mut rows: Vec<(DateTime<Utc>, DigestRow)>) -> Option<Self> {
        if rows.is_empty() {
            return None;
        }
        rows.sort_by(|a, b| a.1.overdue.is_empty().cmp(&b.1.overdue.is_empty()).then(a.0.cmp(&b.0)));
        Some(Self { manager: manager.to_owned(), stations, rows: rows.into_iter().map(|(_, r)| r).collect() })
    }

    /// The `digest` key of the `digest` template.
    pub fn context(&self, date: &str) -> Value {
        json!({
            "manager": self.manager,
            "date": date,
            "stations": self.stations.join("、"),
            "open": self.rows.len(),
            "overdue": self.rows.iter().filter(|r| !r.overdue.is_empty()).count(),
            "rows": self.rows,
        })
    }
}

/// The `report` and `digest` keys with every field filled, for checking the
/// templates at start-up (built by the same code as the real ones).
pub fn sample_context() -> (Value, Value) {
    let figures = StationFigures {
        code: "BJ01".into(),
        name: "北京海淀服务站".into(),
        received: 5,
        pre_reports: 1,
        closed: 4,
        valid: 3,
        invalid: 1,
        in_scope: 3,
        pre_reported: 1,
        exempt: 1,
        counted: 2,
        reply_on_time: 3,
        result_on_time: 2,
        close_on_time: 3,
        overdue: 2,
        open_at_end: 1,
        overdue_open_at_end: 1,
        returns_refused: 1,
    };
    let tz = chrono_tz::Asia::Shanghai;
    let period = Period::month(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default(), tz);
    let report = Assessment { period, stations: vec![figures.clone()], total: figures };
    let digest = Digest {
        manager: "manager-north@hq.example.test".into(),
        stations: vec!["BJ01 北京海淀服务站".into()],
        rows: vec![DigestRow {
            number: "TS-20261120-0001".into(),
            station: "BJ01 北京海淀服务站".into(),
            urgency: "加急".into(),
            status: "待回复".into(),
            received_at: "2026-11-20 09:30".into(),
            next_due: "2026-11-23 09:30".into(),
            overdue: "首次回复".into(),
        }],
    };
    (report.context("2026-11-01 09:00", &["服务质量".into(), "内部投诉".into()]), digest.context("2026-11-23"))
}

#[cfg(test)]
mod tests;
