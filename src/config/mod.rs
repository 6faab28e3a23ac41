//! Typed settings, read from one TOML file; they build the clients they describe.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use serde::Deserialize;

mod checks;
mod http;
mod limits;

use crate::calendar::{CalendarSettings, StationCalendarSettings};
use crate::deadline::DeadlinePolicy;
pub use checks::is_plain_address;
pub use http::{BoardRole, BoardUser, HttpSettings};
pub use limits::{MAX_SAFE_DEPTH, ParseLimits};

pub mod directory;

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
    /// The service stations mail is routed to (those of `stations_file`
    /// follow those written here).
    #[serde(default)]
    pub stations: Vec<Station>,
    /// The station directory as a CSV file (see [`directory`]), relative to
    /// this file's directory; its stations are added to `stations`.
    #[serde(default)]
    pub stations_file: Option<PathBuf>,
    /// Where the stations of `stations_file` came from, and its problems.
    #[serde(skip)]
    pub directory: Option<directory::Directory>,
    /// Report schedules, the assessment's categories, pre-report linking.
    #[serde(default)]
    pub reports: ReportSettings,
    /// Words replies are read by, added to the built-in ones.
    #[serde(default)]
    pub replies: crate::words::ReplySettings,
    /// The local `/metrics` and `/health` endpoint; none when absent.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
    /// The desk board (web pages for the supervisor, handlers and
    /// managers); none when absent or without users.
    #[serde(default)]
    pub http: Option<HttpSettings>,
    /// Whose mail is believed: DKIM, our mail server's Authentication-Results.
    #[serde(default)]
    pub auth: crate::auth::AuthSettings,
    /// The desk's DKIM key; outgoing mail goes unsigned when absent.
    #[serde(default)]
    pub dkim: Option<crate::auth::DkimSettings>,
    /// Directory the config file was read from: relative paths in it are
    /// resolved against this, so the daemon can be started from anywhere.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The `[metrics]` section: the local `/metrics` and `/health` endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where to listen, e.g. `127.0.0.1:9187` (keep it local: no auth).
    pub listen: SocketAddr,
    /// `/health` fails when intake has not finished a round for this long:
    /// a round ends at least every `mailbox.poll_seconds` while it works.
    #[serde(default = "default_intake_stale")]
    pub intake_stale_seconds: u64,
}

impl MetricsSettings {
    /// Listening on `listen`, with the defaults for everything else.
    pub fn on(listen: SocketAddr) -> Self {
        Self { listen, intake_stale_seconds: default_intake_stale() }
    }
}

/// Five rounds of the default `poll_seconds`.
pub const DEFAULT_INTAKE_STALE_SECONDS: u64 = 300;

fn default_intake_stale() -> u64 {
    DEFAULT_INTAKE_STALE_SECONDS
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
    /// Attempts at a message (fetch and parse) before it is quarantined
    /// unparsed: a message that crashes or stalls intake cannot loop.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Bytes fetched in one IMAP command at most (a larger message is
    /// fetched alone): bounds memory whatever the backlog.
    #[serde(default = "default_batch_bytes")]
    pub batch_bytes: u64,
    /// What a message must stay within to be parsed (`[mailbox.limits]`).
    #[serde(default)]
    pub limits: ParseLimits,
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
    /// The call-center handlers (受理人); they may close and reopen. Each
    /// an address, or `{ address = "…", name = "刘嘉" }` to be greeted by name.
    #[serde(default)]
    pub handlers: Vec<Handler>,
    /// Complaint-desk supervisor, second escalation level.
    pub supervisor: String,
    /// Channel management, receives the monthly assessment.
    pub channel_management: String,
    /// Automatic replies to one sender per hour at most (problem and
    /// unreadable-mail replies): a loop with an auto-responder stops here.
    #[serde(default = "default_replies_per_hour")]
    pub replies_per_hour: u32,
}

/// A call-center handler, written as an address or `{ address, name }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Handler {
    Address(String),
    Named { address: String, name: String },
}

impl Handler {
    pub fn address(&self) -> &str {
        match self {
            Self::Address(a) | Self::Named { address: a, .. } => a,
        }
    }

    /// The same handler at another address (tests give each run its own).
    pub fn map_address(&self, f: impl Fn(&str) -> String) -> Self {
        match self {
            Self::Address(a) => Self::Address(f(a)),
            Self::Named { address, name } => Self::Named { address: f(address), name: name.clone() },
        }
    }

    /// The name mail greets them by, when the config gives one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Address(_) => None,
            Self::Named { name, .. } => Some(name),
        }
    }
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
    /// Its own working days, hours and local holidays on top of the desk's
    /// calendar; its deadlines and alerts count on it.
    #[serde(default)]
    pub calendar: Option<StationCalendarSettings>,
    /// Addresses that also get a ticket's mail once the station's own
    /// bounced or said it is away.
    #[serde(default)]
    pub backups: Vec<String>,
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
    /// A monthly fire on a non-working day goes at the next working period
    /// instead (on by default: 09:00 on New Year's Day reaches nobody).
    pub monthly_on_working_day: bool,
    /// The same for the weekly digest (off by default).
    pub weekly_on_working_day: bool,
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
            monthly_on_working_day: true,
            weekly_on_working_day: false,
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
fn default_max_attempts() -> u32 {
    3
}
fn default_batch_bytes() -> u64 {
    16 * 1024 * 1024
}
fn default_replies_per_hour() -> u32 {
    10
}
fn default_max_message() -> u64 {
    25 * 1024 * 1024
}
fn default_pool() -> u32 {
    4
}

/// The dotted key (`mailbox.tls`, `stations[2].emails`) of the TOML text at
/// `span`: its section from the headers above it, and the name on its line.
fn key_at(text: &str, span: std::ops::Range<usize>) -> String {
    let start = span.start.min(text.len());
    let spanned = text.get(span).unwrap_or("").trim();
    // A header itself (a table missing a field) counts as the section.
    let scan_end =
        if spanned.starts_with('[') { text[start..].find('\n').map_or(text.len(), |i| start + i) } else { start };
    let mut section = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in text[..scan_end].lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let n = arrays.entry(name.trim().to_owned()).or_default();
            section = format!("{}[{n}]", name.trim());
            *n += 1;
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = name.trim().to_owned();
        }
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    let name = match before.split_once('=') {
        // The span is a value: its key is left of `=`.
        Some((key, _)) => key.trim().to_owned(),
        // The span is a key (or a header: then the section says it all).
        None if !spanned.starts_with('[') => spanned.trim_matches('"').to_owned(),
        None => String::new(),
    };
    match (section.is_empty(), name.is_empty()) {
        (_, true) => section,
        (true, false) => name,
        (false, false) => format!("{section}.{name}"),
    }
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
    /// Reads and validates a config file: the first problem stops it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let settings = Self::read(path)?;
        if let Some((key, message)) = settings.problems().into_iter().next() {
            return Err(ConfigError::Invalid { path: path.to_owned(), key, message });
        }
        Ok(settings)
    }

    /// Reads a config file without judging its values (`problems` does).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read { path: path.to_owned(), error })?;
        let mut settings: Settings = toml::from_str(&text).map_err(|e| match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                let message = format!("{} (line {line})", e.message().trim_end());
                ConfigError::Invalid { path: path.to_owned(), key: key_at(&text, span), message }
            }
            None => ConfigError::Parse { path: path.to_owned(), message: e.to_string() },
        })?;
        // Lets the demo and operators point one config at another database.
        if let Ok(url) = std::env::var("COMPLAINTD_DATABASE_URL") {
            settings.database.url = url;
        }
        settings.base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        if let Some(file) = &settings.stations_file {
            let mut dir = directory::Directory::read(&settings.resolve(file), &file.display().to_string());
            dir.first = settings.stations.len();
            settings.stations.extend(dir.stations.iter().cloned());
            settings.directory = Some(dir);
        }
        Ok(settings)
    }

    /// Resolves a path written in the config file against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_owned() } else { self.base_dir.join(path) }
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

    /// The handler with this address, when configured.
    pub fn handler(&self, address: &str) -> Option<&Handler> {
        self.desk.handlers.iter().find(|h| h.address().eq_ignore_ascii_case(address))
    }

    /// Whether `address` is one of the network's own people (the call
    /// center, a handler, a station): whom the desk answers.
    pub fn is_network_member(&self, address: &str) -> bool {
        self.is_call_center(address)
            || self.desk.handlers.iter().any(|h| h.address().eq_ignore_ascii_case(address))
            || self.station_by_address(address).is_some()
    }

    /// Whether a message sent to `address` is a pre-report by address.
    pub fn is_pre_report_address(&self, address: &str) -> bool {
        self.desk.pre_report_addresses.iter().any(|a| a.eq_ignore_ascii_case(address))
    }
}

#[cfg(test)]
mod tests {

    use super::{Settings, key_at};

    #[test]
    fn the_metrics_section_keeps_its_listen_key_and_checks_the_stale_limit() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let mut s = Settings::read(&example).unwrap();
        let text = "listen = \"127.0.0.1:9187\"";
        s.metrics = Some(toml::from_str(text).unwrap());
        assert_eq!(s.metrics.as_ref().unwrap().intake_stale_seconds, 300);
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        s.metrics = Some(toml::from_str(&format!("{text}\nintake_stale_seconds = 60")).unwrap());
        let found = s.problems();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "metrics.intake_stale_seconds");
    }

    #[test]
    fn parse_errors_are_placed_at_their_key() {
        let text = "[mailbox]\nserver = \"x:1\"\nbogus = 1\ntls = \"ssl\"\n\n[[stations]]\ncode = \"A\"\n[[stations]]\nemails = 5\n";
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            key_at(text, start..start + needle.len())
        };
        assert_eq!(at("bogus"), "mailbox.bogus");
        assert_eq!(at("\"ssl\""), "mailbox.tls");
        assert_eq!(at("5"), "stations[1].emails");
        assert_eq!(at("[[stations]]\nemails"), "stations[1]");
        assert_eq!(at("[mailbox]"), "mailbox");
        assert_eq!(key_at("x = 1", 0..1), "x");
    }
}
