//! What the desk mails: a [`Notice`] (template, recipients, outbox key,
//! context) becomes an [`OutboxMail`] ready to queue, rendered and composed
//! once at enqueue time.
//!
//! - [`templates`]: the operator's templates, loaded and checked at start-up.
//! - [`context`]: the typed contexts they see.
//! - [`key`]: outbox keys, the one place their grammar exists.
//! - [`compose`]: a draft to RFC 5322 bytes.

pub mod compose;
pub mod context;
pub mod key;
pub mod templates;

use std::time::SystemTime;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;

pub use compose::{AutoSubmitted, Draft, FileAttachment};
pub use context::MailContext;
pub use key::{KeyPrefix, OutboxKey, Source};
pub use templates::{Rendered, TemplateError, TemplateName, Templates};

use crate::config::{Settings, Station};
use crate::report::{Assessment, Digest};
use crate::store::{OutboxMail, Priority};
use crate::ticket::{Ticket, TicketNo};

/// Renders and composes the desk's mail.
pub struct Notifier {
    pub templates: Templates,
    /// `From:` of everything the daemon sends.
    from: Mailbox,
    /// The envelope sender (bounces come back here).
    envelope_from: String,
    /// Right-hand side of our Message-IDs.
    message_id_domain: String,
    /// Where replies go, named in every mail.
    desk_address: String,
    /// Local times in mail are in the calendar's zone.
    tz: Tz,
    /// How each known address is greeted (lowercased address -> greeting).
    people: std::collections::HashMap<String, String>,
}

/// One mail to send: built with [`Notice::new`] and its setters, turned into
/// an outbox row by [`Notifier::render`].
pub struct Notice<'a> {
    template: TemplateName,
    key: OutboxKey,
    ticket: Option<&'a Ticket>,
    station: Option<&'a Station>,
    to: Vec<String>,
    cc: Vec<String>,
    in_reply_to: Option<String>,
    files: Vec<FileAttachment>,
    /// The Message-ID of the mail whose attachments the outbox adds at send time.
    originals: Option<String>,
    auto_submitted: AutoSubmitted,
    not_before: Option<DateTime<Utc>>,
    /// Years the ticket's deadlines count through without an official
    /// holiday arrangement: the mail says they may move.
    provisional: Vec<i32>,
    context: MailContext,
}

impl<'a> Notice<'a> {
    /// A mail from `template` under `key`, `Auto-Submitted: auto-generated`
    /// (RFC 3834) unless it [`Notice::answers_sender`].
    pub fn new(template: TemplateName, key: OutboxKey) -> Self {
        Self {
            template,
            key,
            ticket: None,
            station: None,
            to: Vec::new(),
            cc: Vec::new(),
            in_reply_to: None,
            files: Vec::new(),
            originals: None,
            auto_submitted: AutoSubmitted::Generated,
            not_before: None,
            provisional: Vec::new(),
            context: MailContext::default(),
        }
    }

    /// About this ticket (its fields and deadlines fill the context).
    pub fn about(mut self, ticket: &'a Ticket) -> Self {
        self.ticket = Some(ticket);
        self
    }

    pub fn station(mut self, station: Option<&'a Station>) -> Self {
        self.station = station;
        self
    }

    pub fn to(mut self, to: Vec<String>) -> Self {
        self.to = to;
        self
    }

    pub fn cc(mut self, cc: Vec<String>) -> Self {
        self.cc = cc;
        self
    }

    /// Threads it under the message it answers.
    pub fn in_reply_to(mut self, message_id: Option<String>) -> Self {
        self.in_reply_to = message_id;
        self
    }

    pub fn files(mut self, files: Vec<FileAttachment>) -> Self {
        self.files = files;
        self
    }

    /// Carries the attachments of the mail with this Message-ID (the one a
    /// ticket was filed from), read back from the Handled folder when the
    /// outbox sends it: nothing is stored twice, and the desk does no IMAP.
    pub fn originals(mut self, message_id: Option<String>) -> Self {
        self.originals = message_id;
        self
    }

    /// Answers the mail a sender just sent (what is wrong with it, why it
    /// was refused): `Auto-Submitted: auto-replied`. Forwards, relays and
    /// notes carry what a person wrote, but the daemon sends them on its
    /// own: they stay `auto-generated`.
    pub fn answers_sender(mut self) -> Self {
        self.auto_submitted = AutoSubmitted::Replied;
        self
    }

    /// Not sent before `at` (working-time rules).
    pub fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.not_before = Some(at);
        self
    }

    /// Fills the parts of the context that are this mail's own.
    pub fn with(mut self, fill: impl FnOnce(&mut MailContext)) -> Self {
        fill(&mut self.context);
        self
    }

    /// The ticket's deadlines count through these years without an official
    /// arrangement (see [`context::caveat`]).
    pub fn provisional(mut self, years: Vec<i32>) -> Self {
        self.provisional = years;
        self
    }

    /// The ticket it is about.
    pub fn ticket(&self) -> Option<&'a Ticket> {
        self.ticket
    }

    pub fn key(&self) -> &OutboxKey {
        &self.key
    }
}

impl Notifier {
    pub fn new(settings: &Settings, templates: Templates, tz: Tz) -> anyhow::Result<Self> {
        let smtp = &settings.smtp;
        let from: Mailbox = if smtp.from_name.is_empty() {
            smtp.from.parse()
        } else {
            format!("{} <{}>", smtp.from_name, smtp.from).parse()
        }
        .with_context(|| format!("smtp.from {:?}", smtp.from))?;
        Ok(Self {
            templates,
            from,
            envelope_from: smtp.from.clone(),
            message_id_domain: smtp.message_id_domain.clone(),
            desk_address: settings.desk.dispatch_address.clone(),
            tz,
            people: people(settings),
        })
    }

    /// The greeting of a mail to `to` (its first recipient): the station's
    /// name, the handler's name, or the role; "您好" for anyone else.
    pub fn greeting(&self, to: &[String]) -> String {
        to.first().and_then(|a| self.people.get(&a.to_ascii_lowercase())).cloned().unwrap_or_else(|| "您好".into())
    }

    /// How a handler is named in mail: by name when the config has one.
    pub fn handler_name(&self, address: &str) -> String {
        self.people
            .get(&address.to_ascii_lowercase())
            .filter(|g| g.as_str() != "受理人")
            .cloned()
            .unwrap_or_else(|| address.to_owned())
    }

    /// The context every mail starts from.
    pub fn context(&self, ticket: Option<&Ticket>, station: Option<&Station>) -> MailContext {
        MailContext::new(ticket, station, &self.desk_address, self.tz)
    }

    pub fn desk(&self) -> context::DeskContext {
        context::DeskContext { address: self.desk_address.clone() }
    }

    /// Renders the `monthly` template for an assessment generated at `generated_at`.
    pub fn monthly(
        &self,
        assessment: &Assessment,
        counted_categories: &[String],
        generated_at: &str,
    ) -> Result<Rendered, TemplateError> {
        let ctx = context::MonthlyContext {
            report: assessment.context(generated_at, counted_categories),
            desk: self.desk(),
            recipient: context::RecipientContext { greeting: "渠道管理部".to_owned() },
        };
        self.templates.render(TemplateName::Monthly, &ctx)
    }

    /// Renders the `digest` template for a manager's digest of `date`.
    pub fn digest(&self, digest: &Digest, date: &str) -> Result<Rendered, TemplateError> {
        let greeting = self.greeting(std::slice::from_ref(&digest.manager));
        let ctx = context::DigestContext {
            digest: digest.context(date),
            desk: self.desk(),
            recipient: context::RecipientContext { greeting },
        };
        self.templates.render(TemplateName::Digest, &ctx)
    }

    /// Renders and composes `notice`, queued at `now`.
    pub fn render(&self, notice: Notice<'_>, now: DateTime<Utc>) -> Result<OutboxMail, NotifyError> {
        let base = self.context(notice.ticket, notice.station);
        let mut ctx = notice.context;
        ctx.ticket = base.ticket;
        ctx.ticket.provisional = !notice.provisional.is_empty();
        ctx.ticket.caveat = context::caveat(&notice.provisional);
        ctx.fields = base.fields;
        ctx.station = base.station;
        ctx.desk = base.desk;
        ctx.link = base.link;
        ctx.recipient.greeting = self.greeting(&notice.to);
        ctx.ticket.handler_name = self.handler_name(&ctx.ticket.handler);
        let rendered = self.templates.render(notice.template, &ctx)?;
        let draft = Draft {
            to: notice.to,
            cc: notice.cc,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments: notice.files,
            attach_later: notice.originals.is_some(),
            in_reply_to: notice.in_reply_to,
            auto_submitted: notice.auto_submitted,
        };
        let ticket = notice.ticket.map(|t| &t.number);
        let mail =
            self.outbox_mail(notice.key, ticket, notice.template, &draft, notice.not_before.unwrap_or(now), now)?;
        // Everything about a ticket (forward, alert, escalation) goes at its urgency.
        let priority = notice.ticket.map_or(Priority::Normal, |t| t.urgency.into());
        Ok(OutboxMail { originals: notice.originals, priority, ..mail })
    }

    /// Composes a draft rendered elsewhere (reports) into the mail the
    /// outbox keeps under `key`, at the normal priority.
    pub fn outbox_mail(
        &self,
        key: OutboxKey,
        ticket: Option<&TicketNo>,
        purpose: TemplateName,
        draft: &Draft,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<OutboxMail, NotifyError> {
        let message_id =
            compose::message_id(ticket, purpose.as_str(), &self.message_id_domain).map_err(NotifyError::Compose)?;
        let body =
            compose::compose(draft, &self.from, &message_id, SystemTime::from(now)).map_err(NotifyError::Compose)?;
        Ok(OutboxMail {
            key: key.into(),
            ticket: ticket.cloned(),
            message_id,
            envelope_from: self.envelope_from.clone(),
            recipients: draft.recipients(),
            subject: draft.subject.clone(),
            body,
            not_before,
            originals: None,
            priority: Priority::Normal,
        })
    }
}

/// Everyone the desk writes to, by address, with how a mail greets them;
/// the first role wins (a handler who is also a manager is greeted by name).
fn people(settings: &Settings) -> std::collections::HashMap<String, String> {
    let mut people = std::collections::HashMap::new();
    let desk = &settings.desk;
    for h in &desk.handlers {
        people.insert(h.address().to_ascii_lowercase(), h.name().unwrap_or("受理人").to_owned());
    }
    for s in &settings.stations {
        for e in s.emails.iter().chain(&s.backups) {
            people.entry(e.to_ascii_lowercase()).or_insert_with(|| s.name.clone());
        }
    }
    for s in &settings.stations {
        people.entry(s.manager.to_ascii_lowercase()).or_insert_with(|| "区域服务经理".to_owned());
    }
    people.entry(desk.supervisor.to_ascii_lowercase()).or_insert_with(|| "投诉组主管".to_owned());
    people.entry(desk.channel_management.to_ascii_lowercase()).or_insert_with(|| "渠道管理部".to_owned());
    people
}

/// Why a mail could not be built: a fault of the template or of an
/// address, never of the infrastructure.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("composing the mail: {0:#}")]
    Compose(anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template, for every kind of recipient: greeted by name or role,
    /// states in Chinese, and no label left empty.
    #[test]
    fn every_template_reads_right_for_every_recipient() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let templates = Templates::load(&dir, &MailContext::sample()).expect("templates load");
        for greeting in ["北京海淀服务站", "刘嘉", "区域服务经理", "投诉组主管", "渠道管理部"]
        {
            let mut ctx = MailContext::sample();
            ctx.recipient.greeting = greeting.to_owned();
            for name in TemplateName::ALL {
                let r = templates.render(name, &ctx).expect("renders");
                let first = r.text.lines().next().unwrap_or("");
                assert_eq!(first, format!("{greeting}："), "{}", name.as_str());
                for english in ["open", "contacted", "resolved", "closed", "returned", "unrouted", "escalation"] {
                    assert!(
                        !r.text.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == english),
                        "{}",
                        name.as_str()
                    );
                }
                for line in r.text.lines().chain([r.subject.as_str()]) {
                    let line = line.trim();
                    // A label alone ("服务站："), not a sentence introducing a list.
                    let bare_label = line.ends_with('：') && line.chars().count() <= 8;
                    assert!(!(bare_label && line != first), "{}: empty field in {line:?}", name.as_str());
                    assert!(!line.contains("“”") && !line.contains("（）"), "{}: {line:?}", name.as_str());
                }
            }
        }
    }
}
