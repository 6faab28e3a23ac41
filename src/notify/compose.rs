//! Outgoing messages: from a rendered template to RFC 5322 bytes, with our
//! own Message-IDs carrying the ticket number, so a reply can be matched even
//! when its subject was edited.

use std::time::SystemTime;

use anyhow::Context as _;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment as AttachmentPart, Mailbox, MultiPart, SinglePart};

use crate::ticket::TicketNo;

/// A file sent along with a mail.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAttachment {
    pub filename: String,
    /// `type/subtype`.
    pub content_type: String,
    pub data: Vec<u8>,
}

impl From<&crate::intake::Attachment> for FileAttachment {
    fn from(a: &crate::intake::Attachment) -> Self {
        Self { filename: a.filename.clone(), content_type: a.content_type.clone(), data: a.data.clone() }
    }
}

/// Files of an incoming message, to send on.
pub fn files_of(attachments: &[crate::intake::Attachment]) -> Vec<FileAttachment> {
    attachments.iter().map(FileAttachment::from).collect()
}

/// A message to send, before it becomes bytes.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML alternative, when the template has one.
    pub html: Option<String>,
    /// Files sent along (the complaint's original attachments).
    pub attachments: Vec<FileAttachment>,
    /// More files are added when it is sent ([`attach`]): it is composed as
    /// multipart/mixed even without attachments now.
    pub attach_later: bool,
    /// The message this one answers, so the recipient's client threads it.
    pub in_reply_to: Option<String>,
    /// Its RFC 3834 `Auto-Submitted` value: every mail the daemon sends
    /// carries one, so well-behaved auto-responders stay quiet.
    pub auto_submitted: AutoSubmitted,
}

/// RFC 3834 `Auto-Submitted`: what kind of automatic mail this is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AutoSubmitted {
    /// Sent on the daemon's own initiative (forwards, relays, alerts, reports).
    #[default]
    Generated,
    /// Sent in answer to a mail received (problem, unreadable, refused replies).
    Replied,
}

impl AutoSubmitted {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generated => "auto-generated",
            Self::Replied => "auto-replied",
        }
    }
}

impl Draft {
    /// Every envelope recipient: To then Cc, without repeats.
    pub fn recipients(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for r in self.to.iter().chain(&self.cc) {
            if !all.iter().any(|a| a.eq_ignore_ascii_case(r)) {
                all.push(r.clone());
            }
        }
        all
    }
}

/// A Message-ID (without brackets) for mail about `ticket`:
/// `TS-20261120-0001.forward.k3j9x2…@domain`. Its random part comes from
/// the OS's CSPRNG (96 bits): a bounce is believed when it quotes the ID
/// of a mail we sent, so outsiders must not be able to guess one.
pub fn message_id(ticket: Option<&TicketNo>, purpose: &str, domain: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a Message-ID: {e}"))?;
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let purpose: String = purpose.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Ok(match ticket {
        Some(t) => format!("{t}.{purpose}.{random}@{domain}"),
        None => format!("complaintd.{purpose}.{random}@{domain}"),
    })
}

/// Drops control characters (CR/LF above all) from a value bound for a
/// header: form fields must not be able to add headers.
pub fn header_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

fn mailbox(address: &str) -> anyhow::Result<Mailbox> {
    address.parse().with_context(|| format!("bad address {address:?}"))
}

/// Renders the draft to bytes.
pub fn compose(draft: &Draft, from: &Mailbox, message_id: &str, date: SystemTime) -> anyhow::Result<Vec<u8>> {
    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .subject(header_safe(&draft.subject))
        .date(date)
        .message_id(Some(format!("<{message_id}>")));
    for to in &draft.to {
        builder = builder.to(mailbox(to)?);
    }
    for cc in &draft.cc {
        builder = builder.cc(mailbox(cc)?);
    }
    if let Some(parent) = &draft.in_reply_to {
        let parent = format!("<{}>", header_safe(parent).trim_matches(['<', '>']));
        builder = builder.in_reply_to(parent.clone()).references(parent);
    }
    let auto = draft.auto_submitted.as_str().to_owned();
    builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), auto));
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(draft.text.clone());
    let body = match &draft.html {
        Some(html) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone())),
        None => MultiPart::mixed().singlepart(text),
    };
    let message = if draft.attachments.is_empty() && draft.html.is_none() && !draft.attach_later {
        builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(draft.text.clone()))?
    } else {
        let mut mixed = if draft.html.is_some() { MultiPart::mixed().multipart(body) } else { body };
        for a in &draft.attachments {
            mixed = mixed.singlepart(file_part(a));
        }
        builder.multipart(mixed)?
    };
    Ok(message.formatted())
}

/// A file as a MIME part (an unknown type is sent as octet-stream).
fn file_part(a: &FileAttachment) -> SinglePart {
    let content_type = ContentType::parse(&a.content_type)
        .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid type"));
    AttachmentPart::new(header_safe(&a.filename)).body(a.data.clone(), content_type)
}

/// Adds `files` (and, when the originals could not be read back, `note` as
/// a text part) to a mail composed with [`Draft::attach_later`], before its
/// closing boundary, as lettre would have written them.
pub fn attach(body: &[u8], files: &[FileAttachment], note: Option<&str>) -> anyhow::Result<Vec<u8>> {
    use mail_parser::MimeHeaders as _;
    let headers = mail_parser::MessageParser::new().parse_headers(body).context("the queued mail has no headers")?;
    let boundary = headers
        .content_type()
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        .and_then(|ct| ct.attribute("boundary"))
        .context("the queued mail is not multipart")?;
    let close = format!("--{boundary}--");
    let at = body
        .windows(close.len())
        .rposition(|w| w == close.as_bytes())
        .context("the queued mail has no closing boundary")?;
    let mut parts = Vec::new();
    if let Some(note) = note {
        parts.push(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(note.to_owned()));
    }
    parts.extend(files.iter().map(file_part));
    let mut out = body[..at].to_vec();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(&part.formatted());
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

/// The bytes handed to SMTP, finalised at send time: the `Date` header is
/// set to `now` (a mail queued at 02:00 and sent at 09:00 is dated 09:00).
/// The one place a mail's bytes change after enqueue: DKIM signing, when it
/// comes, belongs here, after the Date is set.
pub fn finalize(body: &[u8], now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let date = format!("Date: {}\r\n", now.to_rfc2822());
    let header_end = body.windows(4).position(|w| w == b"\r\n\r\n").map_or(body.len(), |e| e + 2);
    let mut out = Vec::with_capacity(body.len() + date.len());
    let mut rest = &body[..header_end];
    let mut in_date = false;
    let mut dated = false;
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\r\n").map_or(rest.len(), |e| e + 2);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if folded && in_date {
            continue;
        }
        in_date = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"date:");
        if in_date {
            if !dated {
                out.extend_from_slice(date.as_bytes());
                dated = true;
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    if !dated {
        out.splice(0..0, date.bytes());
    }
    out.extend_from_slice(&body[header_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders as _;

    #[test]
    fn the_date_is_set_at_send_time() {
        let body = b"From: a@x\r\nDate: Mon, 1 Jan 2026 02:00:00\r\n +0000\r\nSubject: s\r\n\r\nDate: in the body\r\n";
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z").unwrap().to_utc();
        let out = String::from_utf8(finalize(body, at)).unwrap();
        assert_eq!(out, "From: a@x\r\nDate: Mon, 5 Jan 2026 09:00:00 +0000\r\nSubject: s\r\n\r\nDate: in the body\r\n");
        let undated = finalize(b"From: a@x\r\n\r\nbody", at);
        assert!(undated.starts_with(b"Date: Mon, 5 Jan 2026 09:00:00 +0000\r\nFrom: a@x\r\n\r\nbody"));
    }

    #[test]
    fn files_added_at_send_time_read_like_files_composed_at_once() {
        let from: Mailbox = "d@example.test".parse().unwrap();
        let photo = FileAttachment {
            filename: "照片.jpg".into(),
            content_type: "image/jpeg".into(),
            data: vec![0, 255, 7, 13, 10],
        };
        for html in [None, Some("<p>正文</p>".to_owned())] {
            let draft = Draft {
                to: vec!["a@example.test".into()],
                subject: "s".into(),
                text: "正文".into(),
                html: html.clone(),
                attach_later: true,
                ..Draft::default()
            };
            let queued = compose(&draft, &from, "x@y", SystemTime::UNIX_EPOCH).unwrap();
            let sent = attach(&queued, std::slice::from_ref(&photo), Some("附件未能取回")).unwrap();
            let message = mail_parser::MessageParser::new().parse(&sent).unwrap();
            let files: Vec<_> = message.attachments().filter(|a| a.attachment_name().is_some()).collect();
            assert_eq!(files.len(), 1, "{}", String::from_utf8_lossy(&sent));
            assert_eq!(files[0].attachment_name(), Some("照片.jpg"));
            assert_eq!(files[0].contents(), photo.data.as_slice());
            assert!(message.body_text(0).is_some_and(|t| t.contains("正文")));
            let says = |p: &mail_parser::MessagePart| p.text_contents().is_some_and(|t| t.contains("附件未能取回"));
            assert!(message.parts.iter().any(says), "the mail says the files are missing");
        }
        let plain = Draft { to: vec!["a@example.test".into()], text: "t".into(), ..Draft::default() };
        let single = compose(&plain, &from, "x@y", SystemTime::UNIX_EPOCH).unwrap();
        assert!(attach(&single, std::slice::from_ref(&photo), None).is_err(), "not multipart: refused, not garbled");
    }

    #[test]
    fn message_ids_carry_the_ticket() {
        let t = TicketNo::parse("TS-20261120-0001").unwrap();
        let id = message_id(Some(&t), "forward", "hq.example.test").unwrap();
        assert!(id.starts_with("TS-20261120-0001.forward."));
        let random = id.trim_start_matches("TS-20261120-0001.forward.").trim_end_matches("@hq.example.test");
        assert_eq!(random.len(), 24, "96 random bits: {id}");
        assert_ne!(id, message_id(Some(&t), "forward", "hq.example.test").unwrap());
        assert_eq!(TicketNo::find_in(&id), Some(t));
    }

    #[test]
    fn form_fields_cannot_inject_headers() {
        let draft = Draft {
            to: vec!["a@example.test".into()],
            subject: "投诉\r\nBcc: evil@example.test".into(),
            text: "body".into(),
            ..Draft::default()
        };
        let from: Mailbox = "d@example.test".parse().unwrap();
        let raw = compose(&draft, &from, "x@y", SystemTime::UNIX_EPOCH).unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(!raw.lines().any(|l| l.starts_with("Bcc:")), "{raw}");
    }
}
