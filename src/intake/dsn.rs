//! Delivery reports: a `message/delivery-status` part anywhere in the mail
//! (RFC 3464, whatever the outer multipart), or the texts Postfix, Exchange,
//! Coremail, QQ Mail and Gmail write; the failed (or delayed) recipient and
//! the reason.

use mail_parser::{Message, MimeHeaders, PartType};
use serde::Serialize;

use super::text::{decoded_bytes, part_text};

/// What a delivery report says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not delivered, and no more attempts.
    Failed,
    /// Not delivered yet; the server keeps trying.
    Delayed,
    /// Delivered or relayed (a success notice someone asked for).
    Delivered,
}

/// The recipient a report is about, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The recipient's address, lowercased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The RFC 3463 status (5.1.1), when the report gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The server's words (Diagnostic-Code, 退信原因, …), one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Subject openings of delivery failures sent without a machine-readable part.
const FAILURE_SUBJECTS: &[&str] = &[
    "undelivered mail",
    "undelivered",
    "undeliverable",
    "delivery status notification (failure)",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "returned mail",
    "failure notice",
    "message not delivered",
    "delivery has failed",
    "无法传递",
    "无法送达",
    "未能传递",
    "无法投递",
    "投递失败",
    "发送失败",
    "退信",
    "系統退信",
    "無法傳遞",
];
/// Subject openings of delayed-delivery notices.
const DELAY_SUBJECTS: &[&str] = &[
    "delayed mail",
    "delivery delayed",
    "delivery status notification (delay)",
    "warning: could not send message",
    "message delayed",
    "延迟传递",
    "延迟投递",
    "延迟发送",
    "邮件延迟",
    "延遲傳遞",
];
/// Labels of the reason in human-readable reports.
const REASON_LABELS: &[&str] = &[
    "diagnostic-code:",
    "失败原因",
    "退信原因",
    "错误原因",
    "退回原因",
    "失敗原因",
    "原因：",
    "原因:",
    "reason:",
    "remote server returned",
    "the error that the other server returned was:",
    "technical details of permanent failure:",
    "诊断信息",
];
/// Local parts that are never the failed recipient.
const DAEMONS: &[&str] = &["mailer-daemon", "postmaster", "mail-daemon", "noreply", "no-reply"];

/// The report of `message`: from its delivery-status part, or from its text
/// when `text_report` (the sender or subject says it is one). `ours` tells
/// the desk's own addresses, which are never the failed recipient.
pub fn report(
    message: &Message<'_>,
    subject: &str,
    text_report: bool,
    ours: &dyn Fn(&str) -> bool,
) -> Option<(Outcome, Delivery)> {
    // Report subjects open with their form ("Undeliverable: …", "系统退信");
    // a person's subject that mentions 退信 is not one.
    let lower = subject.trim().to_lowercase();
    let delayed_subject = DELAY_SUBJECTS.iter().any(|s| lower.starts_with(s));
    let text = human_text(message);
    if let Some((outcome, mut delivery)) = status_part(message) {
        if delivery.reason.is_none() {
            delivery.reason = text_reason(&text);
        }
        return Some((outcome, delivery));
    }
    if !text_report && !delayed_subject && !FAILURE_SUBJECTS.iter().any(|s| lower.starts_with(s)) {
        return None;
    }
    let outcome = if delayed_subject { Outcome::Delayed } else { Outcome::Failed };
    let recipient = addresses(&text).into_iter().find(|a| {
        let local = a.split('@').next().unwrap_or("");
        !ours(a) && !DAEMONS.contains(&local)
    });
    let delivery = Delivery { recipient, status: enhanced_status(&text), reason: text_reason(&text) };
    Some((outcome, delivery))
}

/// The readable parts of the report, joined (the returned message's text
/// parts are inside a message/rfc822 part and not among these).
fn human_text(message: &Message<'_>) -> String {
    let mut text = String::new();
    for part in &message.parts {
        if matches!(part.body, PartType::Text(_) | PartType::Html(_))
            && !is_status_type(part)
            && let Some(t) = part_text(message, part)
        {
            let t = if matches!(part.body, PartType::Html(_)) { super::text::html_to_text(&t) } else { t };
            text.push_str(&t);
            text.push('\n');
            if text.len() > 64 * 1024 {
                break;
            }
        }
    }
    text
}

fn is_status_type(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|s| {
                s.eq_ignore_ascii_case("delivery-status") || s.eq_ignore_ascii_case("global-delivery-status")
            })
    })
}

/// The first message/delivery-status part anywhere, read per recipient.
fn status_part(message: &Message<'_>) -> Option<(Outcome, Delivery)> {
    let part = message.parts.iter().find(|p| is_status_type(p))?;
    let bytes = decoded_bytes(message, part);
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).replace("\r\n", "\n");
    let mut recipients: Vec<(Option<String>, Delivery)> = Vec::new();
    // The first block is about the message; the others one recipient each.
    for block in text.split("\n\n").skip(1) {
        let mut action = None;
        let mut delivery = Delivery::default();
        for line in unfold(block) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "final-recipient" | "original-recipient" if delivery.recipient.is_none() => {
                    delivery.recipient = Some(strip_type(value).trim_matches(['<', '>']).to_lowercase());
                }
                "action" => action = Some(value.to_ascii_lowercase()),
                "status" => delivery.status = Some(value.split_whitespace().next().unwrap_or("").to_owned()),
                "diagnostic-code" => delivery.reason = Some(one_line(strip_type(value))),
                _ => {}
            }
        }
        if delivery.recipient.is_some() || action.is_some() {
            recipients.push((action, delivery));
        }
    }
    let with = |want: &[&str]| {
        recipients.iter().find(|(a, _)| a.as_deref().is_some_and(|a| want.iter().any(|w| a.starts_with(w))))
    };
    if let Some((_, d)) = with(&["failed"]) {
        return Some((Outcome::Failed, d.clone()));
    }
    if let Some((_, d)) = with(&["delayed"]) {
        return Some((Outcome::Delayed, d.clone()));
    }
    if let Some((_, d)) = with(&["delivered", "relayed", "expanded"]) {
        return Some((Outcome::Delivered, d.clone()));
    }
    // A report without a usable Action is a failure: that is what they mostly are.
    Some((Outcome::Failed, recipients.into_iter().next().map(|(_, d)| d).unwrap_or_default()))
}

/// Header-style lines with their continuation lines joined.
fn unfold(block: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in block.lines() {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

/// "rfc822; a@b" → "a@b", "smtp; 550 …" → "550 …".
fn strip_type(value: &str) -> &str {
    value.split_once(';').map_or(value, |(_, v)| v).trim()
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(300).collect()
}

/// The reason written in the report's text: a labelled line (or the line
/// after a label alone on its line), else the first line with an SMTP code.
fn text_reason(text: &str) -> Option<String> {
    // Postfix indents the continuation of a long reason: one logical line.
    let mut logical: Vec<String> = Vec::new();
    for line in text.lines() {
        match logical.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) && !line.trim().is_empty() && !last.trim().is_empty() => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => logical.push(line.trim().to_owned()),
        }
    }
    let lines: Vec<&str> = logical.iter().map(String::as_str).collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        for label in REASON_LABELS {
            if let Some(at) = lower.find(label) {
                let after = line[at + label.len()..].trim_start_matches([':', '：', ' ']).trim();
                let value = if after.is_empty() {
                    lines.iter().skip(i + 1).find(|l| !l.is_empty()).copied().unwrap_or("")
                } else {
                    after
                };
                if !value.is_empty() {
                    return Some(one_line(value.trim_matches(['\'', '"'])));
                }
            }
        }
    }
    lines.iter().find(|l| enhanced_status(l).is_some() || smtp_code(l)).map(|l| one_line(l))
}

/// A line with an SMTP reply code: "550 …", "said: 554 …".
fn smtp_code(line: &str) -> bool {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w.len() == 3 && (w.starts_with('5') || w.starts_with('4')) && w.bytes().all(|b| b.is_ascii_digit()))
        && line.chars().any(char::is_alphabetic)
}

/// The first RFC 3463 code (5.1.1, 4.4.7) in `text`.
fn enhanced_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        (parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && (1..=3).contains(&parts[1].len())
            && (1..=3).contains(&parts[2].len())
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())))
        .then(|| w.to_owned())
    })
}

/// Mail addresses in `text`, lowercased, in order.
fn addresses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "<>\"'()[]{},;:：；，（）【】".contains(c)) {
        let word = word.trim_matches(['.', '。']);
        if let Some((local, domain)) = word.split_once('@')
            && !local.is_empty()
            && domain.contains('.')
            && !domain.contains('@')
            && word.is_ascii()
        {
            found.push(word.to_ascii_lowercase());
        }
        if found.len() > 50 {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_texts() {
        assert_eq!(
            text_reason("很抱歉您的邮件没有发送成功。\n收件人：a@b.test\n退信原因：收件人邮箱不存在\n").as_deref(),
            Some("收件人邮箱不存在")
        );
        assert_eq!(
            text_reason("Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found'").as_deref(),
            Some("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found")
        );
        assert_eq!(
            text_reason("<x@y.test>: host mx.y.test[10.0.0.1] said: 550 5.1.1 User unknown").as_deref(),
            Some("<x@y.test>: host mx.y.test[10.0.0.1] said: 550 5.1.1 User unknown")
        );
        assert_eq!(enhanced_status("said: 550 5.1.1 <x@y>").as_deref(), Some("5.1.1"));
        assert_eq!(addresses("To: <a@b.test>, 收件人：C@D.test。"), ["a@b.test", "c@d.test"]);
    }
}
