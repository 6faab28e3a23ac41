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
use crate::store::OutboxMail;
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
    auto_submitted: AutoSubmitted,
    not_before: Option<DateTime<Utc>>,
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
            auto_submitted: AutoSubmitted::Generated,
            not_before: None,
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
        })
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
        let ctx =
            context::MonthlyContext { report: assessment.context(generated_at, counted_categories), desk: self.desk() };
        self.templates.render(TemplateName::Monthly, &ctx)
    }

    /// Renders the `digest` template for a manager's digest of `date`.
    pub fn digest(&self, digest: &Digest, date: &str) -> Result<Rendered, TemplateError> {
        let ctx = context::DigestContext { digest: digest.context(date), desk: self.desk() };
        self.templates.render(TemplateName::Digest, &ctx)
    }

    /// Renders and composes `notice`, queued at `now`.
    pub fn render(&self, notice: Notice<'_>, now: DateTime<Utc>) -> Result<OutboxMail, NotifyError> {
        let base = self.context(notice.ticket, notice.station);
        let mut ctx = notice.context;
        ctx.ticket = base.ticket;
        ctx.fields = base.fields;
        ctx.station = base.station;
        ctx.desk = base.desk;
        ctx.link = base.link;
        let rendered = self.templates.render(notice.template, &ctx)?;
        let draft = Draft {
            to: notice.to,
            cc: notice.cc,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            attachments: notice.files,
            in_reply_to: notice.in_reply_to,
            auto_submitted: notice.auto_submitted,
        };
        let ticket = notice.ticket.map(|t| &t.number);
        self.outbox_mail(notice.key, ticket, notice.template, &draft, notice.not_before.unwrap_or(now), now)
    }

    /// Composes a draft rendered elsewhere (reports) into the mail the
    /// outbox keeps under `key`.
    pub fn outbox_mail(
        &self,
        key: OutboxKey,
        ticket: Option<&TicketNo>,
        purpose: TemplateName,
        draft: &Draft,
        not_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<OutboxMail, NotifyError> {
        let message_id = compose::message_id(ticket, purpose.as_str(), &self.message_id_domain);
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
        })
    }
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
