//! Intake: what one incoming message is. Classifies it (complaint, pre-report,
//! reply, auto-reply, bounce, unrecognized), reads the form or the reply, and
//! says what is wrong with it. Pure: touches no server and no database; the
//! daemon and `complaintd parse` share this one path.

mod classify;
mod dsn;
mod extension;
mod form;
mod forward;
mod limits;
pub mod moves;
mod parsed;
pub use form::station_for_place;
mod reply;
mod text;

pub use crate::words::{ReplySettings, ReplyWords};
pub use classify::AutoReason;
pub use dsn::Delivery;
pub use extension::Requested;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::config::Settings;
use crate::ticket::TicketNo;

pub use limits::{ParseLimits, Refusal, refused, screen};
pub use parsed::{Attachment, Fields, Kind, Parsed, Receipt};

/// How deep forwarded messages inside messages are followed.
const MAX_NESTING: usize = 5;

/// Reads one raw message. Never panics; never takes more than a moment.
pub fn parse(raw: &[u8], settings: &Settings) -> Parsed {
    parse_screened(raw, settings).unwrap_or_else(|refusal| Parsed::unrecognized(&refusal.to_string()))
}

/// Reads one raw message that stays within `mailbox.limits`, or says which
/// limit it broke: one pass of the screen, then the parser.
pub fn parse_screened(raw: &[u8], settings: &Settings) -> Result<Parsed, Refusal> {
    // The MIME parser recurses: what could exhaust a stack never reaches it.
    screen(raw, &settings.mailbox.limits)?;
    // Defence in depth: a bug on hostile input must not take the daemon down
    // in a loop over the same message; it becomes an unrecognized message.
    Ok(std::panic::catch_unwind(|| parse_message(raw, settings))
        .unwrap_or_else(|_| Parsed::unrecognized("parser failure")))
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
    // Some writers type the number in full-width characters (ＴＳ－…).
    let referenced_ticket =
        references.iter().find_map(|id| TicketNo::find_in(id)).or_else(|| TicketNo::find_in(&half_width(&subject)));

    let mut attachments = Vec::new();
    let mut forwarded_texts = Vec::new();
    collect_attachments(&message, 0, &mut attachments, &mut forwarded_texts);
    let bodies = Bodies::of(&message);

    let do_not_answer = limits::do_not_answer(&message);
    let mut parsed = Parsed {
        do_not_answer,
        message_id: message.message_id().map(|id| id.trim().trim_matches(['<', '>']).to_owned()),
        from,
        subject,
        attachments,
        problems: Vec::new(),
        references,
        recipients: message
            .to()
            .into_iter()
            .chain(message.cc())
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(|a| a.trim().to_lowercase())
            .collect(),
        // Unrecognized until read; the rest empty.
        ..Parsed::unrecognized("")
    };

    let from_call_center = settings.is_call_center(&parsed.from);
    // A call-center form is a complaint whatever its subject or automatic
    // headers say (a CRM sets Auto-Submitted; a subject may say 休假).
    if from_call_center
        && referenced_ticket.is_none()
        && let Some(raw_form) =
            Some(form::read_form(&form_text(&bodies, &forwarded_texts))).filter(form::RawForm::is_form)
    {
        let reading = form::read_fields(&raw_form, false, None, settings);
        if !reading.problems.iter().any(|p| p.starts_with("missing required field")) {
            read_form_into(&mut parsed, &message, raw_form, settings);
            return parsed;
        }
    }
    if let Some(machine) = machine_mail(&message, &parsed, settings) {
        parsed.ticket = classify::bounce_ticket(&message).or(referenced_ticket.clone());
        parsed.attachments.clear();
        if matches!(machine, Machine::Report(..) | Machine::NullReturnPath) {
            // What a delivery report must quote to be believed.
            parsed.quoted_ids = classify::quoted_ids(&message);
        }
        match machine {
            Machine::Report(dsn::Outcome::Failed, delivery) => {
                parsed.kind = Kind::Bounce;
                parsed.delivery = Some(delivery).filter(|d| *d != Delivery::default());
            }
            Machine::Report(dsn::Outcome::Delayed, delivery) => {
                parsed.kind = Kind::DelayNotice;
                parsed.delivery = Some(delivery);
            }
            Machine::Report(dsn::Outcome::Delivered, delivery) => {
                parsed.kind = Kind::Receipt;
                parsed.receipt = Some(Receipt::Delivered);
                parsed.delivery = Some(delivery);
            }
            Machine::Receipt(receipt) => {
                parsed.kind = Kind::Receipt;
                parsed.receipt = Some(receipt);
            }
            Machine::Auto(reason) => {
                parsed.kind = Kind::AutoReply;
                parsed.auto_reason = Some(reason);
                parsed.ticket = referenced_ticket;
                // Whether it says the station is away (its backups take over).
                parsed.reply_text = bodies.plain.trim().chars().take(500).collect();
            }
            Machine::NullReturnPath => parsed.kind = Kind::Bounce,
        }
        return parsed;
    }
    if classify::is_bulk(&message) && referenced_ticket.is_none() {
        parsed.problems.push("bulk or mailing-list mail".to_owned());
        return parsed;
    }

    let reply_body = if bodies.plain.trim().is_empty() { &bodies.html } else { &bodies.plain };
    let words = settings.replies.words();
    // A date without a year falls near the day the mail was written, else
    // near the ticket's day (its number carries it).
    let today = mail_day(&message, settings).or_else(|| referenced_ticket.as_ref().and_then(ticket_day));
    let reading = reply::read(reply_body, words, today);
    let from_desk_or_station = settings.is_network_member(&parsed.from);

    // With a ticket, a station's or the desk's mail is a reply whatever it
    // quotes; anyone else's counts as a new form only if its own text has one.
    let form_text = match &referenced_ticket {
        Some(_) if from_desk_or_station => None,
        Some(_) => Some(reading.own_text.clone()),
        None => Some(form_text(&bodies, &forwarded_texts)),
    };
    let raw_form = form_text.map(|t| form::read_form(&t)).filter(form::RawForm::is_form);

    match (raw_form, referenced_ticket) {
        (Some(raw_form), _) => read_form_into(&mut parsed, &message, raw_form, settings),
        (None, Some(ticket)) if reply::is_acknowledgement(&reading, words) => {
            // "您的来信已收到…" with no RFC 3834 header: a machine, not the station.
            parsed.kind = Kind::AutoReply;
            parsed.auto_reason = Some(AutoReason::Acknowledgement(
                reading.action_line.clone().unwrap_or_else(|| reading.own_text.clone()),
            ));
            parsed.ticket = Some(ticket);
        }
        (None, Some(ticket)) => {
            parsed.kind = Kind::Reply;
            // A return or a move (退回, 转 SH02) reads before the other words.
            parsed.action =
                Some(moves::read(&reading.own_text, &settings.stations).map_or(reading.action, |m| m.action()));
            parsed.action_line = reading.action_line;
            parsed.requested = reading.requested;
            parsed.extension_needs_date = reading.extension_undated;
            parsed.close_valid = reading.close_valid;
            parsed.ticket = Some(ticket);
            parsed.reply_text = reading.own_text;
        }
        (None, None) => {
            parsed.problems.push("no complaint form and no ticket number".to_owned());
        }
    }
    parsed
}

/// Fills in a complaint or pre-report from its form.
fn read_form_into(parsed: &mut Parsed, message: &Message<'_>, raw_form: form::RawForm, settings: &Settings) {
    let pre_report = is_pre_report(message, &parsed.subject, settings);
    parsed.kind = if pre_report { Kind::PreReport } else { Kind::Complaint };
    let sender_station = settings.station_by_address(&parsed.from);
    let reading = form::read_fields(&raw_form, pre_report, sender_station, settings);
    parsed.fields = reading.fields;
    parsed.routed_to = reading.routed_to;
    parsed.problems = reading.problems;
    let max = settings.mailbox.max_attachment_bytes;
    for a in parsed.attachments.iter().filter(|a| a.size as u64 > max) {
        parsed.problems.push(format!("attachment {} is {} bytes, over the limit of {max} bytes", a.filename, a.size));
    }
}

/// What a machine sent, when a machine sent it.
enum Machine {
    Report(dsn::Outcome, Delivery),
    Receipt(Receipt),
    Auto(AutoReason),
    NullReturnPath,
}

/// Delivery reports first (they carry Auto-Submitted too), then read
/// receipts, then auto-replies by header or subject form.
fn machine_mail(message: &Message<'_>, parsed: &Parsed, settings: &Settings) -> Option<Machine> {
    let text_report = classify::is_bounce(message, &parsed.from);
    let ours = |a: &str| settings.is_call_center(a) || a.eq_ignore_ascii_case(&settings.desk.dispatch_address);
    if let Some((outcome, mut delivery)) = dsn::report(message, &parsed.subject, text_report, &ours) {
        delivery.recipient = delivery.recipient.filter(|r| !r.is_empty());
        return Some(Machine::Report(outcome, delivery));
    }
    if classify::is_read_receipt(message, &parsed.subject) {
        let not_read = classify::is_not_read(message, &parsed.subject);
        return Some(Machine::Receipt(if not_read { Receipt::NotRead } else { Receipt::Read }));
    }
    if let Some(reason) = classify::auto_reply_reason(message, &parsed.subject) {
        return Some(Machine::Auto(reason));
    }
    classify::has_null_return_path(message).then_some(Machine::NullReturnPath)
}

/// The day in a ticket number (TS-YYYYMMDD-NNNN).
fn ticket_day(ticket: &TicketNo) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(ticket.as_str().get(3..11)?, "%Y%m%d").ok()
}

/// The local day the mail was written (its Date header, in the calendar's
/// zone): where a date without a year in a reply falls.
fn mail_day(message: &Message<'_>, settings: &Settings) -> Option<chrono::NaiveDate> {
    let date = message.date()?;
    let utc = chrono::DateTime::from_timestamp(date.to_timestamp(), 0)?;
    let tz: chrono_tz::Tz = settings.calendar.timezone.parse().ok()?;
    Some(utc.with_timezone(&tz).date_naive())
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

/// Full-width ASCII (U+FF01–FF5E) as ASCII.
fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
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
mod tests;
