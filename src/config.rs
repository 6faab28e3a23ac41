//! Typed settings, read from one TOML file; they build the clients they describe.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use serde::Deserialize;

use crate::calendar::CalendarSettings;
use crate::deadline::DeadlinePolicy;

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
    /// Report schedules, the assessment's categories, pre-report linking.
    #[serde(default)]
    pub reports: ReportSettings,
    /// Directory the config file was read from: relative paths in it are
    /// resolved against this, so the daemon can be started from anywhere.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// A password from the config file: usable, never printed (its Debug is
/// `***`), so settings can be logged or shown in errors safely.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
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
    pub password: Option<Secret>,
    /// Folder new mail arrives in.
    #[serde(default = "default_inbox")]
    pub folder: String,
    /// Where a message goes once its effects are committed.
    #[serde(default = "default_handled")]
    pub handled_folder: String,
    /// Where refused or unreadable mail goes, never deleted.
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Where the copies addressed to `smtp.sent_copy` are delivered.
    #[serde(default = "default_sent")]
    pub sent_folder: String,
    /// Wait with IDLE when the server offers it (else poll).
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Poll interval without IDLE, and the longest IDLE before re-checking.
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Larger messages are quarantined without being parsed.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: u64,
    /// A form with a larger attachment is refused (the sender is told):
    /// stations' mailboxes have limits too, and the forward carries it.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
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
    pub password: Option<Secret>,
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
    /// Bcc'd on everything the daemon sends and delivered into
    /// `mailbox.sent_folder` (e.g. `complaints+Sent@…` where the server
    /// files `+folder` addresses). When a crash or a broken connection leaves
    /// it unknown whether the server took a mail, the daemon looks for the
    /// copy there instead of sending the mail twice. Without it, such a mail
    /// is sent again (at least once, perhaps twice).
    pub sent_copy: Option<String>,
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

/// Reports (PRODUCT.md §11) and how complaints are linked to pre-reports (§8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// When the monthly assessment of the previous month goes to channel
    /// management: a cron expression (sec min hour day month weekday
    /// [year]) in the calendar's time zone.
    pub monthly: String,
    /// When each regional manager gets the digest of open and overdue tickets.
    pub weekly: String,
    /// A complaint links to a pre-report of the same station and service
    /// order or phone filed at most this many days before.
    pub link_days: u32,
    /// A valid complaint counts against its station when its category
    /// contains one of these words (seed 004: service quality, i.e. repair
    /// quality and repair cycle, and internal complaints).
    pub counted_categories: Vec<String>,
    /// ... unless it also contains one of these (an internal complaint
    /// about the call center is not the station's).
    pub excluded_categories: Vec<String>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Self {
            monthly: "0 0 9 1 * *".into(),
            weekly: "0 0 9 * * Mon".into(),
            link_days: 30,
            counted_categories: words(&["服务质量", "维修质量", "维修周期", "内部投诉"]),
            excluded_categories: words(&["呼叫中心"]),
        }
    }
}

impl ReportSettings {
    /// The monthly schedule, checked at load.
    pub fn monthly_schedule(&self) -> Result<cron::Schedule, cron::error::Error> {
        cron::Schedule::from_str(&self.monthly)
    }

    /// The weekly schedule, checked at load.
    pub fn weekly_schedule(&self) -> Result<cron::Schedule, cron::error::Error> {
        cron::Schedule::from_str(&self.weekly)
    }

    /// Whether a complaint of this category counts in the assessment.
    pub fn is_counted_category(&self, category: Option<&str>) -> bool {
        let Some(category) = category else { return false };
        self.counted_categories.iter().any(|w| category.contains(w.as_str()))
            && !self.excluded_categories.iter().any(|w| category.contains(w.as_str()))
    }
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
fn default_max_attachment() -> u64 {
    10 * 1024 * 1024
}
fn default_sent() -> String {
    "Sent".into()
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
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

impl Settings {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
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
        if let Err(e) = self.reports.monthly_schedule() {
            return Err(("reports.monthly".into(), format!("{:?}: {e}", self.reports.monthly)));
        }
        if let Err(e) = self.reports.weekly_schedule() {
            return Err(("reports.weekly".into(), format!("{:?}: {e}", self.reports.weekly)));
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
