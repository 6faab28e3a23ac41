//! What the templates see: typed contexts with always the same keys, so a
//! strict template fails on a typo at start-up (rendered with
//! [`MailContext::sample`]) rather than on a missing value at run time. The
//! sample and the real context are one type, so they cannot drift apart.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

use crate::config::Station;
use crate::deadline::Milestone;
use crate::ticket::{Action, Ticket, TicketKind};

/// The form fields templates may use, always present ("" when missing).
const FIELD_NAMES: [&str; 18] = [
    "complaint_no",
    "urgency",
    "category",
    "station",
    "customer_name",
    "phone",
    "service_order",
    "product",
    "serial",
    "region",
    "address",
    "description",
    "demand",
    "handler",
    "reporter",
    "actions_taken",
    "major",
    "expected_resolution",
];

/// The context of every mail about a ticket (and of answers about none).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailContext {
    pub ticket: TicketContext,
    pub fields: std::collections::BTreeMap<&'static str, String>,
    pub station: StationContext,
    pub desk: DeskContext,
    /// The incoming message answered (problem and unreadable replies).
    pub message: MessageContext,
    pub problems: Vec<String>,
    pub reply: ReplyContext,
    /// Why something was refused or bounced.
    pub reason: String,
    pub alert: AlertContext,
    pub repeat: RepeatContext,
    /// The pre-report a complaint is linked to ("" when none).
    pub link: LinkContext,
    pub operator: OperatorContext,
    /// Deadlines moved by new holiday data.
    pub reschedule: RescheduleContext,
    /// Whom this mail is to.
    pub recipient: RecipientContext,
    /// A return (退回) or a move between stations.
    pub moved: MovedContext,
    /// The monthly template's figures; only in the start-up sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    /// The digest template's rows; only in the start-up sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TicketContext {
    pub number: String,
    /// In the desk's words (加急).
    pub urgency: String,
    pub status: String,
    pub subject: String,
    /// The handler's address, and name (the address when none is configured).
    pub handler: String,
    pub handler_name: String,
    /// Local times, to the minute ("" when not set).
    pub received_at: String,
    pub reply_due: String,
    pub escalate_at: String,
    pub result_due: String,
    pub close_due: String,
    pub extension_cap: String,
    pub repeats: i64,
    /// The deadlines count through a year whose holiday arrangement is not
    /// published yet, so they may move.
    pub provisional: bool,
    /// Then the line that says so ("" otherwise), see [`caveat`].
    pub caveat: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RecipientContext {
    /// How the mail opens: the station's or handler's name, or the role (投诉组主管).
    pub greeting: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MovedContext {
    /// The station that returned the ticket or had it before (`code name`).
    pub from: String,
    /// The station proposed or moved to (`code name`; "" when none).
    pub to: String,
    /// The code alone, for the handler's answer "转 CODE".
    pub to_code: String,
    /// The station's reason, as it wrote it.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StationContext {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeskContext {
    /// The dispatch mailbox, where replies go.
    pub address: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageContext {
    pub subject: String,
    pub from: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplyContext {
    pub from: String,
    /// The action in the desk's words (已联系客户).
    pub action: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertContext {
    /// `reminder`, `escalation` or `supervisor`.
    pub level: String,
    /// The deadline in the desk's words (首次回复).
    pub milestone: String,
    pub due: String,
    /// Working hours past the deadline, one decimal.
    pub overdue_hours: String,
    /// Whether it is overdue by at least the tenth of an hour it is written in.
    pub overdue: bool,
    /// Other deadlines the same mail is about ("" or "、处理结果").
    pub also: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepeatContext {
    pub description: String,
    pub from: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkContext {
    pub number: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RescheduleContext {
    /// Why, in the desk's words (2027年放假安排已公布).
    pub reason: String,
    /// One line per deadline that moved (处理结果期限：… 调整为 …).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OperatorContext {
    /// What was done, in the desk's words (改派给 SH02 …).
    pub action: String,
    pub note: String,
}

/// The monthly template's context.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyContext {
    pub report: Value,
    pub desk: DeskContext,
    pub recipient: RecipientContext,
}

/// The digest template's context.
#[derive(Debug, Clone, Serialize)]
pub struct DigestContext {
    pub digest: Value,
    pub desk: DeskContext,
    pub recipient: RecipientContext,
}

/// The line a mail adds when its deadlines count through `years` without
/// an official holiday arrangement ("" for none): the State Council's
/// notice may add days off or make-up working days, and the desk then
/// recomputes the deadlines and says so.
pub fn caveat(years: &[i32]) -> String {
    if years.is_empty() {
        return String::new();
    }
    let names: Vec<String> = years.iter().map(|y| y.to_string()).collect();
    format!("注意：{}年放假安排尚未公布，以上期限按法定节假日暂定，可能调整；如有调整将另行通知。", names.join("、"))
}

/// A time as the desk writes it: local, to the minute.
pub fn local_minute(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

impl TicketContext {
    fn of(t: &Ticket, tz: Tz) -> Self {
        let local = |t: Option<DateTime<Utc>>| t.map(|t| local_minute(t, tz)).unwrap_or_default();
        Self {
            number: t.number.to_string(),
            urgency: t.urgency.chinese().to_owned(),
            status: t.status.chinese().to_owned(),
            subject: t.subject.clone(),
            handler: t.handler.clone(),
            handler_name: t.handler.clone(),
            received_at: local(Some(t.received_at)),
            reply_due: local(t.reply_due),
            escalate_at: local(t.escalate_at),
            result_due: local(t.result_due),
            close_due: local(t.close_due),
            extension_cap: local(t.extension_cap),
            repeats: t.repeats,
            // Filled by the notifier, which is told the years.
            provisional: false,
            caveat: String::new(),
        }
    }
}

impl MailContext {
    /// The context of a mail about `ticket` (and its `station`), the rest empty.
    pub fn new(ticket: Option<&Ticket>, station: Option<&Station>, desk_address: &str, tz: Tz) -> Self {
        let fields = FIELD_NAMES
            .into_iter()
            .map(|name| {
                let text = match ticket.and_then(|t| t.fields.get(name)) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Bool(b)) => if *b { "是" } else { "否" }.into(),
                    Some(other) => other.to_string(),
                };
                (name, text)
            })
            .collect();
        let link = ticket
            .filter(|t| t.kind == TicketKind::Complaint && t.pre_reported)
            .and_then(|t| t.linked_to.as_ref())
            .map(|l| l.to_string())
            .unwrap_or_default();
        Self {
            ticket: ticket.map(|t| TicketContext::of(t, tz)).unwrap_or_default(),
            fields,
            station: station.map(|s| StationContext { code: s.code.clone(), name: s.name.clone() }).unwrap_or_default(),
            desk: DeskContext { address: desk_address.to_owned() },
            link: LinkContext { number: link },
            ..Self::default()
        }
    }

    /// Every key filled, for checking templates at start-up.
    pub fn sample() -> Self {
        let (report, digest) = crate::report::sample_context();
        let sample_fields = [
            "HC1",
            "加急",
            "服务类",
            "BJ01",
            "马丽",
            "139",
            "SO-1",
            "E500",
            "S1",
            "北京",
            "海淀",
            "报修后无人联系",
            "上门",
            "刘嘉",
            "林工",
            "致歉",
            "否",
            "",
        ];
        let at = |s: &str| s.to_owned();
        Self {
            ticket: TicketContext {
                number: at("TS-20261120-0001"),
                urgency: at("加急"),
                status: at("待回复"),
                subject: at("投诉转出"),
                handler: at("liujia@hq.example.test"),
                handler_name: at("刘嘉"),
                received_at: at("2026-11-20 09:30"),
                reply_due: at("2026-11-20 17:30"),
                escalate_at: at("2026-11-20 17:30"),
                result_due: at("2026-11-24 09:30"),
                close_due: at("2026-11-25 09:30"),
                extension_cap: at("2026-11-27 09:30"),
                repeats: 0,
                provisional: true,
                caveat: caveat(&[2027]),
            },
            fields: FIELD_NAMES.into_iter().zip(sample_fields.map(str::to_owned)).collect(),
            station: StationContext { code: at("BJ01"), name: at("北京海淀服务站") },
            desk: DeskContext { address: at("complaints@hq.example.test") },
            message: MessageContext { subject: at("投诉转出"), from: at("liujia@hq.example.test") },
            problems: vec![at("missing required field: urgency")],
            reply: ReplyContext {
                from: at("station-bj01@stations.example.test"),
                action: at("已联系客户"),
                text: at("已联系"),
            },
            reason: at("sender not allowed"),
            alert: AlertContext {
                level: at("escalation"),
                milestone: at("首次回复"),
                due: at("2026-11-20 17:30"),
                overdue_hours: at("1.5"),
                overdue: true,
                also: at("、处理结果"),
            },
            repeat: RepeatContext { description: at("客户再次来电"), from: at("chenmin@hq.example.test") },
            link: LinkContext { number: at("TS-20261118-0002") },
            operator: OperatorContext { action: at("结案（无效）"), note: at("客户撤诉") },
            reschedule: RescheduleContext {
                reason: at("2027年放假安排已公布"),
                changes: vec![at("处理结果期限：2027-02-09 09:30 调整为 2027-02-18 09:30")],
            },
            recipient: RecipientContext { greeting: at("北京海淀服务站") },
            moved: MovedContext {
                from: at("BJ01 北京海淀服务站"),
                to: at("SH02 上海浦东服务站"),
                to_code: at("SH02"),
                reason: at("不属于本站，客户在上海"),
            },
            report: Some(report),
            digest: Some(digest),
        }
    }
}

/// How the desk names an action in mail.
pub fn action_words(action: Action) -> &'static str {
    match action {
        Action::Contacted => "已联系客户",
        Action::Result => "处理结果",
        Action::Extension => "申请延期",
        Action::Update => "进展",
        Action::Close => "结案",
        Action::Reopen => "重开",
        Action::Return => "退回",
        Action::Reassign => "转派",
    }
}

/// How the desk names a deadline in mail.
pub fn milestone_words(m: Milestone) -> &'static str {
    match m {
        Milestone::Reply => "首次回复",
        Milestone::Result => "处理结果",
        Milestone::Close => "结案",
    }
}

#[cfg(test)]
mod tests {
    use super::caveat;

    #[test]
    fn the_caveat_names_the_years_or_is_empty() {
        assert_eq!(caveat(&[]), "");
        assert!(caveat(&[2027]).contains("2027年放假安排尚未公布"));
        assert!(caveat(&[2027, 2028]).contains("2027、2028年"));
    }
}
