//! Typed settings, read from one TOML file; they build the clients they describe.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::calendar::CalendarSettings;
use crate::deadline::DeadlinePolicy;
use crate::metrics::MetricsSettings;

/// Everything the daemon and the CLI need, as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The shared mailbox the daemon watches.
    pub mailbox: MailboxSettings,
    /// Where outgoing mail is submitted.
    pub smtp: SmtpSettings,
    /// Tickets, intake log and outbox.
    pub database: DatabaseSettings,
    /// The complaint desk's own addresses and who may do what.
    pub desk: DeskSettings,
    /// Working time, holidays and make-up days.
    pub calendar: CalendarSettings,
    /// Reply, result and close windows, reminder and escalation ladders.
    #[serde(default)]
    pub deadlines: DeadlinePolicy,
    /// Where the operator-editable mail templates live.
    pub templates: TemplateSettings,
    /// The service stations mail is routed to.
    #[serde(default)]
    pub stations: Vec<Station>,
    /// The local `/metrics` and `/health` endpoint; none when absent.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
    /// Directory the config file was read from: relative paths in it are
    /// resolved against this, so the daemon can be started from anywhere.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Imaps,
    /// Same as `imaps`, the name used for SMTP.
    Smtps,
    /// Plaintext greeting, then STARTTLS before credentials.
    Starttls,
    /// Plaintext throughout: only for a lab on loopback.
    None,
}

/// The IMAP side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    /// `host:port`.
    pub server: String,
    /// Transport security; TLS unless the operator opts out.
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// Extra CA certificate (PEM) to trust, e.g. the lab's test CA.
    pub ca_file: Option<PathBuf>,
    /// Login name.
    pub user: String,
    /// Environment variable holding the password; wins over `password`.
    pub password_env: Option<String>,
    /// Password written in the file (fine for the lab, not for production).
    pub password: Option<String>,
    /// Folder new mail arrives in.
    #[serde(default = "default_inbox")]
    pub folder: String,
    /// Where a message goes once its effects are committed.
    #[serde(default = "default_handled")]
    pub handled_folder: String,
    /// Where refused or unreadable mail goes, never deleted.
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Wait with IDLE when the server offers it (else poll).
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Poll interval without IDLE, and the longest IDLE before re-checking.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Larger messages are quarantined without being parsed.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: u64,
}

/// The SMTP side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `host:port`.
    pub server: String,
    /// Transport security; TLS unless the operator opts out.
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Login name, when the server wants one.
    pub user: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Password written in the file.
    pub password: Option<String>,
    /// Envelope and header sender of everything the daemon sends.
    pub from: String,
    /// Display name for `from`.
    #[serde(default)]
    pub from_name: String,
    /// Right-hand side of the Message-IDs the daemon makes.
    pub message_id_domain: String,
    /// Connections kept open to the server.
    #[serde(default = "default_pool")]
    pub pool_size: u32,
}

/// The database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (relative to the config file's directory) or `postgres://…`.
    pub url: String,
}

/// The complaint desk's addresses and permissions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskSettings {
    /// The shared mailbox's address: what the call center writes to.
    pub dispatch_address: String,
    /// Addresses that receive pre-reports (投诉报备).
    #[serde(default)]
    pub pre_report_addresses: Vec<String>,
    /// Who may send complaints: full addresses or `@domain`.
    pub call_center_senders: Vec<String>,
    /// The call-center handlers (受理人); they may close and reopen.
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Complaint-desk supervisor, second escalation level.
    pub supervisor: String,
    /// Channel management, receives the monthly assessment.
    pub channel_management: String,
}

/// Templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// Directory of the templates, relative to the config file's directory.
    pub dir: PathBuf,
}

/// One service station (服务站).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Short code used in forms and routing, e.g. `BJ01`.
    pub code: String,
    /// Full name, also accepted in forms.
    pub name: String,
    /// The station's mailboxes; replies are accepted only from these.
    pub emails: Vec<String>,
    /// Provinces / cities it serves, for routing forms that name no station.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Its regional service manager (区域服务经理).
    pub manager: String,
}

fn default_tls() -> TlsMode {
    TlsMode::Imaps
}
fn default_inbox() -> String {
    "INBOX".into()
}
fn default_handled() -> String {
    "Handled".into()
}
fn default_quarantine() -> String {
    "Quarantine".into()
}
fn default_true() -> bool {
    true
}
fn default_poll() -> u64 {
    60
}
fn default_max_message() -> u64 {
    25 * 1024 * 1024
}
fn default_pool() -> u32 {
    4
}

/// A config file that cannot be used, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The I/O error is in the message, not a `source`: `{:#}` would say it twice.
    #[error("{path}: cannot read: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

impl Settings {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        let mut settings: Settings =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        // Lets the demo and operators point one config at another database.
        if let Ok(url) = std::env::var("COMPLAINTD_DATABASE_URL") {
            settings.database.url = url;
        }
        settings.base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        settings.validate().map_err(|(key, message)| ConfigError::Invalid { path: path.to_owned(), key, message })?;
        Ok(settings)
    }

    /// Resolves a path written in the config file against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.base_dir.join(path) }
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let mut codes = HashSet::new();
        for (i, s) in self.stations.iter().enumerate() {
            if !codes.insert(s.code.to_ascii_uppercase()) {
                return Err((format!("stations[{i}].code"), format!("duplicate station {}", s.code)));
            }
            if s.emails.is_empty() {
                return Err((format!("stations[{i}].emails"), "a station needs an address".into()));
            }
        }
        if self.desk.call_center_senders.is_empty() {
            return Err(("desk.call_center_senders".into(), "nobody may send complaints".into()));
        }
        Ok(())
    }

    /// The station with this code, case-insensitively.
    pub fn station(&self, code: &str) -> Option<&Station> {
        self.stations.iter().find(|s| s.code.eq_ignore_ascii_case(code))
    }

    /// The station one of whose addresses this is.
    pub fn station_by_address(&self, address: &str) -> Option<&Station> {
        self.stations.iter().find(|s| s.emails.iter().any(|e| e.eq_ignore_ascii_case(address)))
    }

    /// Whether `address` may send complaints.
    pub fn is_call_center(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        self.desk.call_center_senders.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            if allowed.starts_with('@') { address.ends_with(&allowed) } else { address == allowed }
        })
    }

    /// Whether a message sent to `address` is a pre-report by address.
    pub fn is_pre_report_address(&self, address: &str) -> bool {
        self.desk.pre_report_addresses.iter().any(|a| a.eq_ignore_ascii_case(address))
    }
}
