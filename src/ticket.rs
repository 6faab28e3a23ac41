//! Tickets: their numbers, kinds, urgencies, states, the actions that move
//! them, and the transitions themselves (`Ticket::contact`, `close`, …), so the
//! invariants between a ticket's fields are kept in one place.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A ticket number, `TS-YYYYMMDD-NNNN`: intake date in the calendar's time
/// zone and a per-day sequence (more than four digits past 9999).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNo(String);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a ticket number: {0:?}")]
pub struct BadTicketNo(pub String);

impl TicketNo {
    /// Builds the number for the `seq`-th ticket of `day`.
    pub fn new(day: NaiveDate, seq: i64) -> Self {
        Self(format!("TS-{}-{seq:04}", day.format("%Y%m%d")))
    }

    /// Accepts exactly `TS-` + a real date + `-` + 4 or more digits.
    pub fn parse(s: &str) -> Result<Self, BadTicketNo> {
        let bad = || BadTicketNo(s.to_owned());
        let rest = s.strip_prefix("TS-").ok_or_else(bad)?;
        let (date, seq) = rest.split_once('-').ok_or_else(bad)?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| bad())?;
        if seq.len() < 4 || seq.len() > 9 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// Finds the first ticket number anywhere in `text` (subjects,
    /// Message-IDs, bodies), in linear time: only the few bytes after each
    /// "TS-" are examined, however long a run of digits hostile input puts there.
    pub fn find_in(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(pos) = text[from..].find("TS-") {
            let start = from + pos;
            let date_end = start + 3 + 8;
            let digits =
                |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
            if digits(start + 3..date_end) && bytes.get(date_end) == Some(&b'-') {
                let seq_len = bytes[date_end + 1..].iter().take(10).take_while(|b| b.is_ascii_digit()).count();
                if let Ok(ticket) = Self::parse(&text[start..date_end + 1 + seq_len]) {
                    return Some(ticket);
                }
            }
            from = start + 3;
        }
        None
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How fast a complaint must be answered (处理时效).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// 一般: ordinary.
    Normal,
    /// 加急: the customer threatens to go further, or may suffer loss.
    Expedited,
    /// 紧急: media or authorities involved, or serious loss.
    Urgent,
}

impl Urgency {
    /// Reads the form's words (Chinese or English).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if s.starts_with("紧急") || lower == "urgent" {
            Some(Self::Urgent)
        } else if s.starts_with("加急") || lower == "expedited" {
            Some(Self::Expedited)
        } else if s.starts_with("一般") || s.starts_with("普通") || lower == "normal" {
            Some(Self::Normal)
        } else {
            None
        }
    }

    /// One level up, for a customer who complains again.
    pub fn raised(self) -> Self {
        match self {
            Self::Normal => Self::Expedited,
            Self::Expedited | Self::Urgent => Self::Urgent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Expedited => "expedited",
            Self::Urgent => "urgent",
        }
    }

    /// The word the desk uses in mail.
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Normal => "一般",
            Self::Expedited => "加急",
            Self::Urgent => "紧急",
        }
    }
}

/// A word that names no urgency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown urgency {0:?} (urgent, expedited, normal)")]
pub struct UnknownUrgency(pub String);

impl FromStr for Urgency {
    type Err = UnknownUrgency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownUrgency(s.to_owned()))
    }
}

/// What a reply says it is (first line of its own text, forms.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Contacted,
    Result,
    Extension,
    Update,
    Close,
    Reopen,
    /// The station says the complaint is not its own (退回: 不属于本站 …).
    Return,
    /// The handler moves the ticket to another station ("转 SH02").
    Reassign,
}

impl Action {
    const ALL: [Self; 8] = [
        Self::Contacted,
        Self::Result,
        Self::Extension,
        Self::Update,
        Self::Close,
        Self::Reopen,
        Self::Return,
        Self::Reassign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contacted => "contacted",
            Self::Result => "result",
            Self::Extension => "extension",
            Self::Update => "update",
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Return => "return",
            Self::Reassign => "reassign",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What a ticket is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// A customer's complaint, filed by the call center.
    Complaint,
    /// A station's own report of a complaint it expects (投诉报备).
    PreReport,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::PreReport => "pre_report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Complaint, Self::PreReport].into_iter().find(|k| k.as_str() == s)
    }
}

/// Which deadline a ticket owes, and an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Milestone {
    /// The station's reply.
    Reply,
    /// The station's result.
    Result,
    /// Closing the ticket.
    Close,
}

impl Milestone {
    /// The name used in alert keys and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Result => "result",
            Self::Close => "close",
        }
    }
}

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No station could be found: waits for the handler to reassign it.
    Unrouted,
    /// Forwarded, waiting for the station's first reply.
    Open,
    /// The station has contacted the customer.
    Contacted,
    /// The station has reported the result.
    Resolved,
    /// Closed by the handler.
    Closed,
    /// The station returned it as not its own (退回): its clocks are
    /// stopped until the handler moves it on or gives it back.
    Returned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unrouted => "unrouted",
            Self::Open => "open",
            Self::Contacted => "contacted",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
            Self::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unrouted, Self::Open, Self::Contacted, Self::Resolved, Self::Closed, Self::Returned]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// The word the desk uses in mail.
    pub fn chinese(self) -> &'static str {
        match self {
            Self::Unrouted => "未分派",
            Self::Open => "待回复",
            Self::Contacted => "已联系客户",
            Self::Resolved => "已出处理结果",
            Self::Closed => "已结案",
            Self::Returned => "服务站已退回",
        }
    }
}

/// A complaint or pre-report as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub number: TicketNo,
    pub kind: TicketKind,
    pub status: Status,
    pub urgency: Urgency,
    /// Station code; `None` while unrouted.
    pub station: Option<String>,
    /// The call-center handler who owns the ticket (首问负责制).
    pub handler: String,
    /// Subject of the mail that opened it.
    pub subject: String,
    /// The form's fields as JSON, for templates and the CLI.
    pub fields: serde_json::Value,
    pub received_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub reply_due: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub result_due: Option<DateTime<Utc>>,
    pub close_due: Option<DateTime<Utc>>,
    pub extension_cap: Option<DateTime<Utc>>,
    pub first_reply_at: Option<DateTime<Utc>>,
    pub result_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether an extension was granted.
    pub extended: bool,
    /// Assessment verdict given at close.
    pub valid: Option<bool>,
    pub pre_reported: bool,
    pub major: bool,
    /// The earlier ticket (pre-report or open complaint) this one belongs to.
    pub linked_to: Option<TicketNo>,
    /// How many times the customer complained again.
    pub repeats: i64,
    /// When the station returned it (退回); its clocks stopped then.
    pub returned_at: Option<DateTime<Utc>>,
    /// How many of its station's returns the handler refused (the station
    /// returned what was its own): shown in the assessment.
    pub returns_refused: i64,
    /// Since when the station's backup contacts are copied (its address
    /// bounced or said it is away).
    pub backup_at: Option<DateTime<Utc>>,
}

/// Why an extension was not granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionRefused {
    #[error("the ticket has not been forwarded to a station")]
    NotDispatched,
    #[error("the ticket was extended once already")]
    AlreadyExtended,
    #[error("the requested time is past the cap")]
    PastCap { requested: DateTime<Utc>, cap: DateTime<Utc> },
}

impl Ticket {
    /// The milestones still to be met: the one rule of what a ticket owes
    /// (the store's overdue query mirrors it; a test checks they agree).
    pub fn owed(&self) -> Vec<Milestone> {
        if matches!(self.status, Status::Closed | Status::Unrouted | Status::Returned) || self.dispatched_at.is_none() {
            return Vec::new();
        }
        let mut m = Vec::new();
        if self.first_reply_at.is_none() {
            m.push(Milestone::Reply);
        }
        if self.result_at.is_none() {
            m.push(Milestone::Result);
        }
        m.push(Milestone::Close);
        m
    }

    /// The deadline of `milestone` as stored (extensions and repeats included).
    pub fn due(&self, milestone: Milestone) -> Option<DateTime<Utc>> {
        match milestone {
            Milestone::Reply => self.reply_due,
            Milestone::Result => self.result_due,
            Milestone::Close => self.close_due,
        }
    }

    /// The milestones owed whose deadline has passed at `now`.
    pub fn overdue_at(&self, now: DateTime<Utc>) -> Vec<Milestone> {
        self.owed().into_iter().filter(|m| self.due(*m).is_some_and(|due| due <= now)).collect()
    }

    /// The station answered (any answer stops the reply clock).
    pub fn answered(&mut self, now: DateTime<Utc>) {
        self.first_reply_at.get_or_insert(now);
    }

    /// The station contacted the customer (已联系客户).
    pub fn contact(&mut self, now: DateTime<Utc>) {
        self.answered(now);
        if self.status == Status::Open {
            self.status = Status::Contacted;
        }
    }

    /// The station reported its result (处理结果).
    pub fn report_result(&mut self, now: DateTime<Utc>) {
        self.answered(now);
        self.result_at.get_or_insert(now);
        self.status = Status::Resolved;
    }

    /// Moves result and close to `requested` (the cap when `None`): once,
    /// and at most to the cap unless `force`d by the operator.
    pub fn extend(&mut self, requested: Option<DateTime<Utc>>, force: bool) -> Result<(), ExtensionRefused> {
        let cap = self.extension_cap.ok_or(ExtensionRefused::NotDispatched)?;
        let requested = requested.unwrap_or(cap);
        if self.extended && !force {
            return Err(ExtensionRefused::AlreadyExtended);
        }
        if requested > cap && !force {
            return Err(ExtensionRefused::PastCap { requested, cap });
        }
        self.extended = true;
        self.result_due = Some(requested.max(self.result_due.unwrap_or(requested)));
        // Within the cap the ticket may stay open until the cap; a forced
        // extension past it moves the close with the result.
        self.close_due = Some(requested.max(cap).max(self.close_due.unwrap_or(cap)));
        Ok(())
    }

    /// Closed by the handler, valid or not for the assessment.
    pub fn close(&mut self, valid: bool, now: DateTime<Utc>) {
        self.status = Status::Closed;
        self.closed_at = Some(now);
        self.valid = Some(valid);
    }

    /// Opened again after a close.
    pub fn reopen(&mut self) {
        self.status = if self.first_reply_at.is_some() { Status::Contacted } else { Status::Open };
        self.closed_at = None;
        self.valid = None;
    }

    /// The station says it is not its own: its clocks stop now.
    pub fn give_back(&mut self, now: DateTime<Utc>) {
        self.status = Status::Returned;
        self.returned_at = Some(now);
    }

    /// The handler refused the return: the station keeps it, and the
    /// refusal is counted against it.
    pub fn refuse_return(&mut self) {
        self.returns_refused += 1;
        self.returned_at = None;
        self.status = if self.first_reply_at.is_some() { Status::Contacted } else { Status::Open };
    }

    /// What the last station did no longer counts: before handing the
    /// ticket to another.
    pub fn forget_station_answers(&mut self) {
        self.first_reply_at = None;
        self.result_at = None;
        self.extended = false;
        self.returned_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_parse_strictly() {
        assert!(TicketNo::parse("TS-20261120-0001").is_ok());
        assert!(TicketNo::parse("TS-20261120-12345").is_ok());
        assert!(TicketNo::parse("TS-20261320-0001").is_err());
        assert!(TicketNo::parse("TS-20261120-01").is_err());
        assert!(TicketNo::parse("XS-20261120-0001").is_err());
    }

    #[test]
    fn ticket_numbers_are_found_in_text() {
        let t = TicketNo::find_in("Re: [TS-20261116-0001] 投诉转出").unwrap();
        assert_eq!(t.as_str(), "TS-20261116-0001");
        let t = TicketNo::find_in("<TS-20261116-0002.forward.x1@hq.example.test>").unwrap();
        assert_eq!(t.as_str(), "TS-20261116-0002");
        assert_eq!(TicketNo::find_in("TS-2026 nothing"), None);
        let found = |t: &str| TicketNo::find_in(t).map(|n| n.as_str().to_owned());
        assert_eq!(found("TS-20261120-0001-x").as_deref(), Some("TS-20261120-0001"));
        assert_eq!(found("TS-20261120-12345").as_deref(), Some("TS-20261120-12345"));
        assert_eq!(found("TS-20261320-0001 TS-20261121-0002").as_deref(), Some("TS-20261121-0002"));
        assert_eq!(found("TS-20261120-0123456789"), None);
        assert_eq!(found("xTS-TS-20261120-0007").as_deref(), Some("TS-20261120-0007"));
        // Linear time: a megabyte of digits and dashes is scanned at once.
        assert_eq!(TicketNo::find_in(&format!("TS-{}", "1-".repeat(1_000_000))), None);
    }

    #[test]
    fn urgency_words() {
        assert_eq!(Urgency::parse("紧急"), Some(Urgency::Urgent));
        assert_eq!(Urgency::parse(" 加急 "), Some(Urgency::Expedited));
        assert_eq!(Urgency::parse("普通"), Some(Urgency::Normal));
        assert_eq!(Urgency::parse("Urgent"), Some(Urgency::Urgent));
        assert_eq!(Urgency::parse("soon"), None);
        assert_eq!(Urgency::Normal.raised(), Urgency::Expedited);
    }
}
