//! Mail templates, loaded from the operator's `templates/` directory at start:
//! `NAME.txt` (first line `Subject: …`, a blank line, the body) and an
//! optional `NAME.html` alternative. Strict about undefined variables; every
//! template is rendered once with a sample context at load, so a typo stops
//! the daemon at start-up instead of at the first complaint.

use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Every template the daemon sends; each must exist as `NAME.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateName {
    /// The complaint, to its station.
    Forward,
    /// To the handler: the complaint went out.
    Ack,
    /// To the sender of a form that cannot be filed as it is.
    Problem,
    /// To one of ours whose mail could not be read.
    Unreadable,
    /// To the handler: no station could be found.
    Unrouted,
    /// A station's reply, to the handler.
    Relay,
    /// The handler's note, to the station.
    Note,
    /// An extension refused, to the station.
    Refused,
    /// The follow-up call reminder (回访), to the handler.
    Followup,
    /// The alert ladder, one template per level.
    Reminder,
    Escalation,
    Supervisor,
    /// The customer complained again, to the station.
    Repeat,
    /// A forward bounced, to the handler.
    Bounce,
    /// The station's pre-report filed, to the station.
    PrereportAck,
    /// A major pre-report, to the supervisor.
    PrereportMajor,
    /// The monthly assessment.
    Monthly,
    /// A regional manager's weekly digest.
    Digest,
    /// What the operator did, to whom it concerns.
    Operator,
    /// New holiday data moved a ticket's deadlines, to the station.
    Rescheduled,
    /// An extension granted, to the station with its new deadlines.
    Extended,
    /// The ticket closed, to its station.
    Closed,
    /// A station returned the ticket (退回), to the handler.
    Returned,
    /// The station's backup addresses are now copied, to the handler.
    Backup,
    /// Mail in someone's name that failed authentication, to the handler.
    Forged,
}

impl TemplateName {
    pub const ALL: [TemplateName; 25] = [
        Self::Forward,
        Self::Ack,
        Self::Problem,
        Self::Unreadable,
        Self::Unrouted,
        Self::Relay,
        Self::Note,
        Self::Refused,
        Self::Followup,
        Self::Reminder,
        Self::Escalation,
        Self::Supervisor,
        Self::Repeat,
        Self::Bounce,
        Self::PrereportAck,
        Self::PrereportMajor,
        Self::Monthly,
        Self::Digest,
        Self::Operator,
        Self::Rescheduled,
        Self::Extended,
        Self::Closed,
        Self::Returned,
        Self::Backup,
        Self::Forged,
    ];

    /// The file stem (`forward` for `forward.txt`), also the mail's purpose
    /// in Message-IDs and outbox keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Ack => "ack",
            Self::Problem => "problem",
            Self::Unreadable => "unreadable",
            Self::Unrouted => "unrouted",
            Self::Relay => "relay",
            Self::Note => "note",
            Self::Refused => "refused",
            Self::Followup => "followup",
            Self::Reminder => "reminder",
            Self::Escalation => "escalation",
            Self::Supervisor => "supervisor",
            Self::Repeat => "repeat",
            Self::Bounce => "bounce",
            Self::PrereportAck => "prereport_ack",
            Self::PrereportMajor => "prereport_major",
            Self::Monthly => "monthly",
            Self::Digest => "digest",
            Self::Operator => "operator",
            Self::Rescheduled => "rescheduled",
            Self::Extended => "extended",
            Self::Closed => "closed",
            Self::Returned => "returned",
            Self::Backup => "backup",
            Self::Forged => "forged",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("template {name}: {message}")]
    Render { name: String, message: String },
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The loaded, checked templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every `*.txt`/`*.html` in `dir`, checks the required ones exist
    /// and that all render with `sample` (the shape of every real context).
    pub fn load(dir: &Path, sample: &impl Serialize) -> Result<Self, TemplateError> {
        let file_err = |path: &Path, message: String| TemplateError::File { path: path.to_owned(), message };
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .build()
            .map_err(|e| file_err(dir, e.to_string()))?;
        env.set_syntax(syntax);
        let entries = std::fs::read_dir(dir).map_err(|e| file_err(dir, e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| file_err(dir, e.to_string()))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if !(name.ends_with(".txt") || name.ends_with(".html")) {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|e| file_err(&path, e.to_string()))?;
            env.add_template_owned(name, source).map_err(|e| file_err(&path, e.to_string()))?;
        }
        let templates = Self { env };
        for name in TemplateName::ALL {
            let file = format!("{}.txt", name.as_str());
            if templates.env.get_template(&file).is_err() {
                return Err(file_err(&dir.join(file), "missing template".into()));
            }
        }
        let names: Vec<String> = templates.env.templates().map(|(n, _)| n.to_owned()).collect();
        for name in names {
            let stem = name.trim_end_matches(".txt").trim_end_matches(".html");
            templates.render_file(stem, sample)?;
        }
        Ok(templates)
    }

    /// Renders `NAME.txt` (and `NAME.html` when present) with `context`.
    pub fn render(&self, name: TemplateName, context: &impl Serialize) -> Result<Rendered, TemplateError> {
        self.render_file(name.as_str(), context)
    }

    /// Renders any loaded template by its stem (the operator's extra files too).
    fn render_file(&self, name: &str, context: &impl Serialize) -> Result<Rendered, TemplateError> {
        let err = |message: String| TemplateError::Render { name: name.to_owned(), message };
        let ctx = minijinja::Value::from(minijinja::value::Serde(context));
        let text = self
            .env
            .get_template(&format!("{name}.txt"))
            .and_then(|t| t.render(&ctx))
            .map_err(|e| err(format!("{e:#}")))?;
        let (subject, body) = match text.split_once('\n') {
            Some((first, rest)) if first.starts_with("Subject:") => {
                (first["Subject:".len()..].trim().to_owned(), rest.trim_start_matches(['\r', '\n']).to_owned())
            }
            _ => return Err(err("the first line must be `Subject: …`".into())),
        };
        let html = match self.env.get_template(&format!("{name}.html")) {
            Ok(t) => Some(t.render(&ctx).map_err(|e| err(format!("{e:#}")))?),
            Err(_) => None,
        };
        Ok(Rendered { subject, text: body, html })
    }
}
