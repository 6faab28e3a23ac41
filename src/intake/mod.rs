//! Intake: what one incoming message is. Classifies it (complaint, pre-report,
//! reply, auto-reply, bounce, unrecognized), reads the form or the reply, and
//! says what is wrong with it. Pure: touches no server and no database; the
//! daemon and `complaintd parse` share this one path.

use serde::Serialize;

use crate::config::Settings;
use crate::ticket::{Action, TicketNo, Urgency};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Complaint,
    PreReport,
    Reply,
    AutoReply,
    Bounce,
    Unrecognized,
}

/// The form's fields; `None` when the form does not have them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complaint_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Station code, once resolved against the configured stations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_taken: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_resolution: Option<String>,
}

/// An attachment of the message (or of a forwarded message inside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    /// The decoded bytes, forwarded to the station; not part of the JSON.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// The result of reading one message: the `complaintd parse` JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    pub kind: Kind,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// The sender's bare address, lowercased.
    pub from: String,
    pub subject: String,
    /// The ticket a reply, auto-reply or bounce refers to.
    pub ticket: Option<TicketNo>,
    /// What a reply says it is.
    pub action: Option<Action>,
    pub fields: Fields,
    /// The station code the complaint goes to.
    pub routed_to: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Why the message cannot be acted on as it is, e.g.
    /// "missing required field: urgency".
    pub problems: Vec<String>,
    /// The reply's own text, quoted history stripped (sent on to the handler).
    #[serde(skip)]
    pub reply_text: String,
    /// Message-IDs from In-Reply-To and References, newest first.
    #[serde(skip)]
    pub references: Vec<String>,
}

/// Reads one raw message. Never panics; never takes more than a moment.
pub fn parse(raw: &[u8], settings: &Settings) -> Parsed {
    let _ = (raw, settings);
    todo!("intake::parse")
}
