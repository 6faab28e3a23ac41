//! Intake: what one incoming message is. Classifies it (complaint, pre-report,
//! reply, auto-reply, bounce, unrecognized), reads the form or the reply, and
//! says what is wrong with it. Pure: touches no server and no database; the
//! daemon and `complaintd parse` share this one path.

mod classify;
mod form;
mod forward;
mod limits;
mod reply;
mod text;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

use crate::config::Settings;
use crate::ticket::{Action, TicketNo, Urgency};

pub use limits::{Limits, Refusal, refused, screen};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A complaint form from the call center.
    Complaint,
    /// A pre-report (投诉报备) from a station.
    PreReport,
    /// A reply to a ticket.
    Reply,
    /// An automatic reply (out of office and the like); never answered.
    AutoReply,
    /// A delivery failure report.
    Bounce,
    /// Anything else: bulk, lists, mail with neither a form nor a ticket.
    Unrecognized,
}

impl Kind {
    /// The name in the intake log and the `complaintd parse` JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complaint => "complaint",
            Self::PreReport => "pre_report",
            Self::Reply => "reply",
            Self::AutoReply => "auto_reply",
            Self::Bounce => "bounce",
            Self::Unrecognized => "unrecognized",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Complaint, Self::PreReport, Self::Reply, Self::AutoReply, Self::Bounce, Self::Unrecognized]
            .into_iter()
            .find(|k| k.as_str() == s)
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
    /// The reply's own text, quoted history stripped (sent on to the handler).
    #[serde(skip)]
    pub reply_text: String,
    /// Message-IDs from In-Reply-To and References, newest first.
    #[serde(skip)]
    pub references: Vec<String>,
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

    fn unrecognized(reason: &str) -> Self {
        Self {
            kind: Kind::Unrecognized,
            message_id: None,
            from: String::new(),
            subject: String::new(),
            ticket: None,
            action: None,
            fields: Fields::default(),
            routed_to: None,
            attachments: Vec::new(),
            problems: vec![reason.to_owned()],
            reply_text: String::new(),
            references: Vec::new(),
            recipients: Vec::new(),
            do_not_answer: false,
        }
    }
}

/// How deep forwarded messages inside messages are followed.
const MAX_NESTING: usize = 5;

/// Reads one raw message. Never panics; never takes more than a moment.
pub fn parse(raw: &[u8], settings: &Settings) -> Parsed {
    // The MIME parser recurses: what could exhaust a stack never reaches it.
    if let Err(refusal) = screen(raw, &Limits::default()) {
        return Parsed::unrecognized(&refusal.to_string());
    }
    // Defence in depth: a bug on hostile input must not take the daemon down
    // in a loop over the same message; it becomes an unrecognized message.
    std::panic::catch_unwind(|| parse_message(raw, settings)).unwrap_or_else(|_| Parsed::unrecognized("parser failure"))
}

fn parse_message(raw: &[u8], settings: &Settings) -> Parsed {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Parsed::unrecognized("not a mail message");
    };
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .unwrap_or_default();
    let subject = subject(&message);
    let references = header_ids(&message);
    let referenced_ticket =
        references.iter().find_map(|id| TicketNo::find_in(id)).or_else(|| TicketNo::find_in(&subject));

    let mut attachments = Vec::new();
    let mut forwarded_texts = Vec::new();
    collect_attachments(&message, 0, &mut attachments, &mut forwarded_texts);
    let bodies = Bodies::of(&message);

    let do_not_answer = limits::do_not_answer(&message);
    let mut parsed = Parsed {
        do_not_answer,
        kind: Kind::Unrecognized,
        message_id: message.message_id().map(|id| id.trim().trim_matches(['<', '>']).to_owned()),
        from,
        subject,
        ticket: None,
        action: None,
        fields: Fields::default(),
        routed_to: None,
        attachments,
        problems: Vec::new(),
        reply_text: String::new(),
        references,
        recipients: message
            .to()
            .into_iter()
            .chain(message.cc())
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(|a| a.trim().to_lowercase())
            .collect(),
    };

    if classify::is_bounce(&message, &parsed.from) {
        parsed.kind = Kind::Bounce;
        parsed.ticket = classify::bounce_ticket(&message).or(referenced_ticket);
        parsed.attachments.clear();
        return parsed;
    }
    if classify::is_auto_reply(&message, &parsed.subject) {
        parsed.kind = Kind::AutoReply;
        parsed.ticket = referenced_ticket;
        return parsed;
    }
    if classify::has_null_return_path(&message) {
        parsed.kind = Kind::Bounce;
        parsed.ticket = classify::bounce_ticket(&message).or(referenced_ticket);
        parsed.attachments.clear();
        return parsed;
    }
    if classify::is_bulk(&message) && referenced_ticket.is_none() {
        parsed.problems.push("bulk or mailing-list mail".to_owned());
        return parsed;
    }

    let reply_body = if bodies.plain.trim().is_empty() { &bodies.html } else { &bodies.plain };
    let own_text = reply::own_text(reply_body);
    let from_desk_or_station = settings.is_network_member(&parsed.from);

    // With a ticket, a station's or the desk's mail is a reply whatever it
    // quotes; anyone else's counts as a new form only if its own text has one.
    let form_text = match &referenced_ticket {
        Some(_) if from_desk_or_station => None,
        Some(_) => Some(own_text.clone()),
        None => Some(form_text(&bodies, &forwarded_texts)),
    };
    let raw_form = form_text.map(|t| form::read_form(&t)).filter(form::RawForm::is_form);

    match (raw_form, referenced_ticket) {
        (Some(raw_form), _) => {
            let pre_report = is_pre_report(&message, &parsed.subject, settings);
            parsed.kind = if pre_report { Kind::PreReport } else { Kind::Complaint };
            let sender_station = settings.station_by_address(&parsed.from);
            let reading = form::read_fields(&raw_form, pre_report, sender_station, settings);
            parsed.fields = reading.fields;
            parsed.routed_to = reading.routed_to;
            parsed.problems = reading.problems;
            let max = settings.mailbox.max_attachment_bytes;
            for a in parsed.attachments.iter().filter(|a| a.size as u64 > max) {
                parsed
                    .problems
                    .push(format!("attachment {} is {} bytes, over the limit of {max} bytes", a.filename, a.size));
            }
        }
        (None, Some(ticket)) => {
            parsed.kind = Kind::Reply;
            parsed.action = Some(reply::action(&own_text));
            parsed.ticket = Some(ticket);
            parsed.reply_text = own_text;
        }
        (None, None) => {
            parsed.problems.push("no complaint form and no ticket number".to_owned());
        }
    }
    parsed
}

/// The text bodies of one message: text/plain parts, and HTML parts rendered.
struct Bodies {
    /// The text/plain body parts, joined.
    plain: String,
    /// The text/html body parts as text, joined.
    html: String,
}

impl Bodies {
    fn of(message: &Message<'_>) -> Self {
        let mut plain = String::new();
        let mut html = String::new();
        for id in &message.text_body {
            if let Some(part) = message.parts.get(*id as usize)
                && matches!(part.body, PartType::Text(_))
                && let Some(t) = text::part_text(message, part)
            {
                push_paragraph(&mut plain, &t);
            }
        }
        for id in &message.html_body {
            if let Some(part) = message.parts.get(*id as usize)
                && matches!(part.body, PartType::Html(_))
                && let Some(t) = text::part_text(message, part)
            {
                push_paragraph(&mut html, &text::html_to_text(&t));
            }
        }
        Self { plain, html }
    }

    /// The body that carries more of a form: clients render an HTML table
    /// into text/plain in many ways, so the richer reading wins (plain on ties).
    fn best_for_form(&self) -> &str {
        let plain = form::read_form(&self.plain).values.len();
        let html = form::read_form(&self.html).values.len();
        if html > plain { &self.html } else { &self.plain }
    }
}

fn push_paragraph(text: &mut String, more: &str) {
    if text.len() >= text::MAX_TEXT_BYTES {
        return;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(more);
}

/// The text a form is read from: the message's own body, then the bodies of
/// messages forwarded as attachments.
fn form_text(bodies: &Bodies, forwarded_texts: &[String]) -> String {
    let mut text = bodies.best_for_form().to_owned();
    for forwarded in forwarded_texts {
        push_paragraph(&mut text, forwarded);
    }
    text
}

/// Lists the attachments of `message` and, for message/rfc822 parts, the
/// attachments and body text of the forwarded message.
fn collect_attachments(
    message: &Message<'_>,
    depth: usize,
    attachments: &mut Vec<Attachment>,
    forwarded_texts: &mut Vec<String>,
) {
    for id in &message.attachments {
        let Some(part) = message.parts.get(*id as usize) else {
            continue;
        };
        let filename = part.attachment_name().map(str::trim).filter(|n| !n.is_empty());
        let content_type = part.content_type().map_or_else(
            || "application/octet-stream".to_owned(),
            |ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
                None => ct.ctype().to_ascii_lowercase(),
            },
        );
        let data = match &part.body {
            PartType::Message(inner) => {
                if depth < MAX_NESTING {
                    let bodies = Bodies::of(inner);
                    forwarded_texts.push(bodies.best_for_form().to_owned());
                    collect_attachments(inner, depth + 1, attachments, forwarded_texts);
                }
                continue;
            }
            PartType::Multipart(_) => continue,
            // Unnamed text parts are stray bodies or report machinery, not files.
            PartType::Text(_) | PartType::Html(_) if filename.is_none() => continue,
            PartType::Text(_) | PartType::Html(_) => text::decoded_bytes(message, part),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.to_vec(),
        };
        attachments.push(Attachment {
            filename: filename.unwrap_or("attachment").to_owned(),
            content_type,
            size: data.len(),
            data,
        });
    }
}

/// The decoded subject; raw 8-bit bytes (no RFC 2047) read as GB18030 when
/// they are not UTF-8, as Chinese clients send them.
fn subject(message: &Message<'_>) -> String {
    let decoded = message.subject().unwrap_or("").trim();
    if decoded.contains('\u{FFFD}')
        && let Some(header) =
            message.root_part().headers.iter().rev().find(|h| h.name().eq_ignore_ascii_case("Subject"))
        && let Some(raw) = message.raw_message.get(header.offset_start as usize..header.offset_end as usize)
        && std::str::from_utf8(raw).is_err()
    {
        let (text, _, _) = encoding_rs::GB18030.decode(raw);
        return text.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    decoded.to_owned()
}

/// Message-IDs from In-Reply-To, then References newest first; no brackets,
/// no duplicates.
fn header_ids(message: &Message<'_>) -> Vec<String> {
    let list = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        match value {
            mail_parser::HeaderValue::Text(id) => vec![id.to_string()],
            mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|i| i.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut ids = list(message.in_reply_to());
    ids.extend(list(message.references()).into_iter().rev());
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .map(|id| id.trim().trim_matches(['<', '>']).to_owned())
        .filter(|id| !id.is_empty() && seen.insert(id.clone()))
        .collect()
}

/// Sent to a pre-report address (To, Cc, Delivered-To, X-Original-To), or
/// "投诉报备" / "Pre-report" in the subject.
fn is_pre_report(message: &Message<'_>, subject: &str, settings: &Settings) -> bool {
    let lower = subject.to_lowercase();
    if ["投诉报备", "投訴報備", "pre-report", "prereport", "pre report"].iter().any(|w| lower.contains(w)) {
        return true;
    }
    let listed = message
        .to()
        .into_iter()
        .chain(message.cc())
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(str::to_owned);
    let delivered = ["Delivered-To", "X-Original-To"]
        .iter()
        .flat_map(|name| classify::raw_header_values(message, name))
        .flat_map(|v| v.split([',', ' ', ';']).map(|t| t.trim_matches(['<', '>', '"']).to_owned()).collect::<Vec<_>>());
    listed.chain(delivered).any(|a| settings.is_pre_report_address(a.trim()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn settings() -> Settings {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        Settings::load(&path).expect("example config")
    }

    fn fixture(n: u32) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/corpus/{n:03}.eml"));
        std::fs::read(path).expect("fixture")
    }

    #[test]
    fn reply_text_is_the_replys_own_text() {
        let settings = settings();
        let foxmail = parse(&fixture(35), &settings);
        assert_eq!(foxmail.reply_text, "处理结果：已更换主板，客户确认正常。\n费用全免。");
        let qq_html = parse(&fixture(41), &settings);
        assert_eq!(qq_html.reply_text, "已联系用户，今天下午上门处理漏水。\n\n成都武侯服务站");
        let thunderbird_html = parse(&fixture(59), &settings);
        assert_eq!(thunderbird_html.reply_text, "已解决：已更换工程师重新上门并道歉。");
        let gmail = parse(&fixture(44), &settings);
        assert_eq!(gmail.reply_text, "Contacted the customer, laptop will be returned on Friday.");
    }

    #[test]
    fn references_are_newest_first_without_brackets() {
        let parsed = parse(&fixture(39), &settings());
        assert_eq!(
            parsed.references,
            [
                "TS-20261117-0003.result.m4n5b6@hq.example.test",
                "reply.035@stations.example.test",
                "TS-20261117-0003.forward.k3j9x2@hq.example.test",
            ]
        );
    }

    #[test]
    fn attachments_keep_their_bytes() {
        let parsed = parse(&fixture(21), &settings());
        assert_eq!(parsed.attachments.len(), 1);
        assert!(parsed.attachments[0].data.starts_with(b"\xff\xd8\xff\xe0JFIF"));
        assert_eq!(parsed.attachments[0].size, parsed.attachments[0].data.len());
    }

    #[test]
    fn json_has_exactly_the_contract_keys() {
        let json = parse(&fixture(4), &settings()).to_json();
        let mut keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "action",
                "attachments",
                "fields",
                "from",
                "kind",
                "message_id",
                "problems",
                "routed_to",
                "subject",
                "ticket"
            ]
        );
    }

    /// Deterministic pseudo-random bytes, so a failure reproduces.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect()
    }

    /// Calls the parser without its panic guard, so a panic fails the test.
    fn parse_unguarded(raw: &[u8], settings: &Settings) {
        let parsed = parse_message(raw, settings);
        assert!(parsed.reply_text.len() <= text::MAX_TEXT_BYTES * 2);
    }

    #[test]
    fn garbage_truncated_and_huge_inputs_do_not_panic() {
        let settings = settings();
        for seed in 0..200 {
            parse_unguarded(&noise(seed, (seed as usize * 37) % 3000), &settings);
        }
        for n in [4, 8, 11, 12, 21, 22, 41, 48, 49] {
            let raw = fixture(n);
            for cut in (0..raw.len()).step_by(7) {
                parse_unguarded(&raw[..cut], &settings);
            }
        }

        let mut deep = String::new();
        for i in 0..2000 {
            deep.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
        }
        parse_unguarded(deep.as_bytes(), &settings);

        let mut nested = "Subject: x\r\n\r\n紧急程度：一般\r\n".as_bytes().to_vec();
        for _ in 0..50 {
            let mut outer = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
            outer.extend_from_slice(&nested);
            nested = outer;
        }
        parse_unguarded(&nested, &settings);

        let mut huge = b"Content-Type: text/html\r\n\r\n".to_vec();
        huge.extend("<style><tr><td>紧急程度<td>".repeat(200_000).as_bytes());
        huge.extend("<".repeat(1_000_000).as_bytes());
        parse_unguarded(&huge, &settings);

        let mut lines = b"Subject: Re: [TS-20261116-0001]\r\n\r\n".to_vec();
        lines.extend("投诉内容：".repeat(1_000_000).as_bytes());
        lines.extend("\n>".repeat(500_000).as_bytes());
        lines.extend("发件人: x\n".repeat(100_000).as_bytes());
        parse_unguarded(&lines, &settings);
        parse_unguarded(&[], &settings);
        parse_unguarded(b"\r\n\r\n", &settings);
    }
}
