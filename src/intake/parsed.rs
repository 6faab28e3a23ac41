//! What intake reads a message into: its kind, the form's fields, its
//! attachments, and the `complaintd parse` JSON contract ([`Parsed`]).

use serde::Serialize;

use super::{AutoReason, Delivery, Requested};
use crate::ticket::{Action, TicketNo, Urgency};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A complaint form from the call center.
    Complaint,
    /// A pre-report (投诉报备) from a station.
    PreReport,
    /// A reply to a ticket.
    Reply,
    /// An automatic reply (out of office, an acknowledgement); never
    /// answered, never a response (`auto_reason` says why it is one).
    AutoReply,
    /// A read receipt or a success notice (`receipt` says which); never a response.
    Receipt,
    /// A delivery failure report (`delivery`: the recipient and the reason).
    Bounce,
    /// A delayed-delivery notice: the server keeps trying; alerts nobody.
    DelayNotice,
    /// Anything else: bulk, lists, mail with neither a form nor a ticket.
    Unrecognized,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Self::Complaint,
        Self::PreReport,
        Self::Reply,
        Self::AutoReply,
        Self::Receipt,
        Self::Bounce,
        Self::DelayNotice,
        Self::Unrecognized,
    ];

    /// The name in the intake log and the `complaintd parse` JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::PreReport => "pre_report",
            Self::Reply => "reply",
            Self::AutoReply => "auto_reply",
            Self::Receipt => "receipt",
            Self::Bounce => "bounce",
            Self::DelayNotice => "delay_notice",
            Self::Unrecognized => "unrecognized",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The form's fields; `None` when the form does not have them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fields {
    /// The call center's own number (投诉单号).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint_no: Option<String>,
    /// 紧急程度 / 处理时效.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    /// 投诉分类, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Station code, once resolved against the configured stations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    /// 客户姓名.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// 联系电话, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// 服务单号 / 报修单号.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_order: Option<String>,
    /// 产品型号.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// 序列号.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// 所在地区, used for routing when no station is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// 地址, the second routing hint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 投诉内容 / 问题描述; lines joined with '\n'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 客户诉求.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<String>,
    /// 受理人 as written; absent means the sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// 报备人 (pre-reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    /// 已采取措施 (pre-reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_taken: Option<String>,
    /// 是否重大投诉 (pre-reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<bool>,
    /// 预计解决时间 as written (pre-reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_resolution: Option<String>,
}

/// What a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// The recipient opened the mail (MDN displayed, 已读).
    Read,
    /// The recipient deleted it unread, or the MDN says so (未读).
    NotRead,
    /// A delivery status notice of success.
    Delivered,
}

/// An attachment of the message (or of a forwarded message inside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// Decoded file name (RFC 2231 / RFC 2047), or "attachment" when unnamed.
    pub filename: String,
    /// `type/subtype`, lowercased.
    pub content_type: String,
    /// Size of the decoded bytes.
    pub size: usize,
    /// The decoded bytes, forwarded to the station; not part of the JSON.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// The result of reading one message: the `complaintd parse` JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// What the message is.
    pub kind: Kind,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// The sender's bare address, lowercased ("" when there is none).
    pub from: String,
    /// The decoded subject.
    pub subject: String,
    /// The ticket a reply, auto-reply or bounce refers to.
    pub ticket: Option<TicketNo>,
    /// What a reply says it is.
    pub action: Option<Action>,
    /// The reply's line the action was read from (its first own line after
    /// greetings), as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_line: Option<String>,
    /// What an extension asks for (local time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<Requested>,
    /// The reply asks for an extension without a date or duration: read as
    /// an update; the station is to be asked for the date it needs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extension_needs_date: bool,
    /// A close's verdict: valid, or invalid (无效).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_valid: Option<bool>,
    /// Why an auto-reply is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_reason: Option<AutoReason>,
    /// What a receipt says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The recipient and reason of a bounce or delay notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// The form of a complaint or pre-report; empty for other kinds.
    pub fields: Fields,
    /// The station code the complaint goes to.
    pub routed_to: Option<String>,
    /// Attachments, those of forwarded (message/rfc822) messages included;
    /// none for bounces, whose parts are the report.
    pub attachments: Vec<Attachment>,
    /// Why the message cannot be acted on as it is, e.g.
    /// "missing required field: urgency".
    pub problems: Vec<String>,
    /// The reply's own text, quoted history stripped (sent on to the handler);
    /// an auto-reply's text (whether it says the station is away).
    #[serde(skip)]
    pub reply_text: String,
    /// Message-IDs from In-Reply-To and References, newest first.
    #[serde(skip)]
    pub references: Vec<String>,
    /// The Message-IDs a delivery report (bounce, delay, success) quotes.
    #[serde(skip)]
    pub quoted_ids: Vec<String>,
    /// To and Cc addresses, lowercased: whether a pre-report copied its
    /// regional manager.
    #[serde(skip)]
    pub recipients: Vec<String>,
    /// Sent by a machine or a list (RFC 3834 `Auto-Submitted`, `List-Id`,
    /// `Precedence: list/bulk/junk`): never answered, whatever it is.
    #[serde(skip)]
    pub do_not_answer: bool,
}

impl Parsed {
    /// The `complaintd parse` JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub(super) fn unrecognized(reason: &str) -> Self {
        Self {
            kind: Kind::Unrecognized,
            message_id: None,
            from: String::new(),
            subject: String::new(),
            ticket: None,
            action: None,
            action_line: None,
            requested: None,
            extension_needs_date: false,
            close_valid: None,
            auto_reason: None,
            receipt: None,
            delivery: None,
            fields: Fields::default(),
            routed_to: None,
            attachments: Vec::new(),
            problems: vec![reason.to_owned()],
            reply_text: String::new(),
            references: Vec::new(),
            quoted_ids: Vec::new(),
            recipients: Vec::new(),
            do_not_answer: false,
        }
    }
}
