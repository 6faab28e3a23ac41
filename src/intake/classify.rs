//! Machine-made mail: bounces, auto-replies, bulk and mailing-list mail.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use serde::Serialize;

use crate::ticket::TicketNo;

use super::text::{MAX_TEXT_BYTES, part_text};
use crate::words::fold;

/// Subject prefixes auto-responders write (compared folded, followed by a
/// colon): Exchange/Outlook, Coremail, QQ Mail, 163, Foxmail, Lotus Notes.
/// A loose word (休假, "auto") anywhere in a subject is not one.
const AUTO_REPLY_PREFIXES: &[&str] = &[
    "自动回复",
    "自动答复",
    "自动回覆",
    "自动答覆",
    "自动应答",
    "自动响应",
    "自動回覆",
    "自動回復",
    "自動答覆",
    "自動答复",
    "休假自动回复",
    "外出自动回复",
    "不在办公室",
    "不在辦公室",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "auto-response",
    "autoresponse",
    "out of office autoreply",
    "out of office reply",
    "out of office",
    "out of the office",
];

/// Subject prefixes of read receipts (followed by a colon).
const RECEIPT_PREFIXES: &[&str] = &[
    "已读",
    "已讀",
    "已阅",
    "已閱",
    "已读回执",
    "阅读回执",
    "已讀回條",
    "read",
    "read receipt",
    "return receipt",
    "未读",
    "未讀",
    "not read",
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

/// A delivery-status report, or mail from a mailer daemon / postmaster:
/// its text is read as a delivery report even without a status part.
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

/// Why a message is taken as automatic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "value")]
pub enum AutoReason {
    /// RFC 3834 `Auto-Submitted` (its value).
    AutoSubmitted(String),
    /// `X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply`,
    /// `X-Auto-Response-Suppress` or Exchange's auto-response header (its name).
    Header(String),
    /// An auto-reply subject form (the prefix).
    Subject(String),
    /// An acknowledgement text without any header (the text found).
    Acknowledgement(String),
}

/// Why `message` is an automatic reply, if it is one: its headers, or a
/// subject that opens with an auto-reply form.
pub fn auto_reply_reason(message: &Message<'_>, subject: &str) -> Option<AutoReason> {
    if let Some(v) = raw_header_values(message, "Auto-Submitted")
        .into_iter()
        .find(|v| !v.trim().to_ascii_lowercase().starts_with("no"))
    {
        return Some(AutoReason::AutoSubmitted(v));
    }
    if raw_header_values(message, "Precedence").iter().any(|v| v.trim().eq_ignore_ascii_case("auto_reply")) {
        return Some(AutoReason::Header("Precedence".into()));
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-MS-Exchange-Organization-AutoResponse"]
    {
        if has_header(message, name) {
            return Some(AutoReason::Header(name.into()));
        }
    }
    subject_prefix(subject, AUTO_REPLY_PREFIXES).map(AutoReason::Subject)
}

/// A read receipt: a disposition-notification report or part, or a subject
/// that opens with a receipt form (已读:, Read:).
pub fn is_read_receipt(message: &Message<'_>, subject: &str) -> bool {
    let report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("disposition-notification"))
    });
    let part = message.parts.iter().any(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("disposition-notification"))
        })
    });
    report || part || subject_prefix(subject, RECEIPT_PREFIXES).is_some()
}

/// A receipt that says the mail was deleted unread (MDN disposition
/// "deleted", or 未读: / Not read:).
pub fn is_not_read(message: &Message<'_>, subject: &str) -> bool {
    let deleted = message.parts.iter().any(|p| {
        p.content_type()
            .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("disposition-notification")))
            && super::text::decoded_bytes(message, p).split(|b| *b == b'\n').any(|l| {
                l.to_ascii_lowercase().starts_with(b"disposition:") && l.to_ascii_lowercase().ends_with(b"deleted")
            })
    });
    deleted || subject_prefix(subject, &["未读", "未讀", "not read"]).is_some()
}

/// The form of `forms` that opens `subject` (after reply/forward prefixes
/// and brackets), followed by a colon, a bracket or the end.
fn subject_prefix(subject: &str, forms: &[&str]) -> Option<String> {
    let folded = fold(subject);
    let mut rest = folded.trim_start_matches(|c: char| c.is_whitespace() || "[【(（".contains(c));
    for _ in 0..3 {
        let before = rest;
        for p in ["re", "fw", "fwd", "回复", "答复", "转发"] {
            if let Some(after) = rest.strip_prefix(p)
                && let Some(after) = after.trim_start().strip_prefix(':')
            {
                rest = after.trim_start();
            }
        }
        if rest == before {
            break;
        }
    }
    let mut forms: Vec<&str> = forms.to_vec();
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.into_iter().find_map(|form| {
        let after = rest.strip_prefix(form)?.trim_start();
        (after.is_empty() || after.starts_with([':', ']', '】', ')', '）'])).then(|| form.to_owned())
    })
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

/// At most this many Message-IDs are read from a bounce.
const MAX_QUOTED_IDS: usize = 32;

/// The Message-IDs a bounce quotes (its returned message's, and any
/// `<id@domain>` its parts write out), without brackets: the desk believes
/// a bounce that names a mail it really sent.
pub fn quoted_ids(message: &Message<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        let id = id.trim().trim_matches(['<', '>']);
        if ids.len() < MAX_QUOTED_IDS && !id.is_empty() && !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    };
    for part in &message.parts {
        let text = match &part.body {
            PartType::Message(inner) => {
                inner.message_id().into_iter().for_each(&mut add);
                String::from_utf8_lossy(&inner.raw_message()[..inner.raw_message().len().min(MAX_TEXT_BYTES)])
                    .into_owned()
            }
            PartType::Text(_) | PartType::Html(_) => part_text(message, part).unwrap_or_default(),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT_BYTES)]).into_owned()
            }
            PartType::Multipart(_) => continue,
        };
        for token in text.split('<').skip(1).filter_map(|t| t.split_once('>')).map(|(id, _)| id) {
            if token.len() <= 250 && token.contains('@') && !token.contains(char::is_whitespace) {
                add(token);
            }
        }
    }
    ids
}

/// A ticket number in the first [`MAX_TEXT_BYTES`] of some bytes.
fn find_in_bytes(bytes: &[u8]) -> Option<TicketNo> {
    let len = bytes.len().min(MAX_TEXT_BYTES);
    TicketNo::find_in(&String::from_utf8_lossy(&bytes[..len]))
}
