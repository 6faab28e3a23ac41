//! Machine-made mail: bounces, auto-replies, bulk and mailing-list mail.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use crate::ticket::TicketNo;

use super::text::{MAX_TEXT_BYTES, part_text};

/// Out-of-office subject markers (compared lowercased).
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "自动回复",
    "自動回覆",
    "自动答复",
    "自動回復",
    "休假",
    "不在办公室",
    "不在辦公室",
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto:",
];

/// Local parts of the addresses mail systems send bounces from.
const BOUNCE_SENDERS: &[&str] = &["mailer-daemon", "postmaster"];

/// The raw (unfolded, trimmed) values of a top-level header, by name.
pub fn raw_header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .root_part()
        .headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| message.raw_message.get(h.offset_start as usize..h.offset_end as usize))
        .map(|bytes| String::from_utf8_lossy(bytes).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn has_header(message: &Message<'_>, name: &str) -> bool {
    message.root_part().headers.iter().any(|h| h.name().eq_ignore_ascii_case(name))
}

/// A delivery-status report, or mail from a mailer daemon / postmaster.
pub fn is_bounce(message: &Message<'_>, from: &str) -> bool {
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    let local = from.split('@').next().unwrap_or("");
    is_report || BOUNCE_SENDERS.contains(&local)
}

/// An empty Return-Path (`<>`): only bounces and auto-replies are sent so.
pub fn has_null_return_path(message: &Message<'_>) -> bool {
    raw_header_values(message, "Return-Path").iter().any(|v| v.trim() == "<>")
}

/// Auto-Submitted other than "no", X-Autoreply/X-Autorespond, Precedence:
/// auto_reply, or an out-of-office subject.
pub fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    let auto_submitted =
        raw_header_values(message, "Auto-Submitted").iter().any(|v| !v.trim().to_ascii_lowercase().starts_with("no"));
    let precedence =
        raw_header_values(message, "Precedence").iter().any(|v| v.trim().eq_ignore_ascii_case("auto_reply"));
    let lower = subject.to_lowercase();
    auto_submitted
        || precedence
        || has_header(message, "X-Autoreply")
        || has_header(message, "X-Autorespond")
        || AUTO_REPLY_SUBJECTS.iter().any(|s| lower.contains(s))
}

/// Bulk or mailing-list mail.
pub fn is_bulk(message: &Message<'_>) -> bool {
    let precedence = raw_header_values(message, "Precedence")
        .iter()
        .any(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "bulk" | "junk" | "list"));
    precedence || has_header(message, "List-Id") || has_header(message, "List-Unsubscribe")
}

/// The ticket a bounce is about: in the returned message's Message-ID,
/// References or Subject, else anywhere in the report's text.
pub fn bounce_ticket(message: &Message<'_>) -> Option<TicketNo> {
    let returned = message.parts.iter().find_map(MessagePart::message);
    if let Some(returned) = returned {
        let ids = returned
            .message_id()
            .into_iter()
            .map(str::to_owned)
            .chain(super::header_ids(returned))
            .chain(returned.subject().map(str::to_owned));
        for id in ids {
            if let Some(ticket) = TicketNo::find_in(&id) {
                return Some(ticket);
            }
        }
    }
    message.parts.iter().find_map(|part| match &part.body {
        PartType::Text(_) | PartType::Html(_) => part_text(message, part).and_then(|t| TicketNo::find_in(&t)),
        PartType::Message(inner) => find_in_bytes(inner.raw_message()),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => find_in_bytes(bytes),
        PartType::Multipart(_) => None,
    })
}

/// A ticket number in the first [`MAX_TEXT_BYTES`] of some bytes.
fn find_in_bytes(bytes: &[u8]) -> Option<TicketNo> {
    let len = bytes.len().min(MAX_TEXT_BYTES);
    TicketNo::find_in(&String::from_utf8_lossy(&bytes[..len]))
}
