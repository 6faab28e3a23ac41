//! `complaintd check-config`: what can be known about a config before the
//! daemon runs on it (values and cron schedules, secrets in the
//! environment, templates (the board's too when it is served), calendar coverage) and, with `--connect`, whether the mail
//! servers and the database let it in. Every finding names the file and the key.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::board::BoardTemplates;
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::{ConfigError, Secret, Settings, TlsMode};
use crate::mail::imap::Mailbox;
use crate::mail::smtp::Sender;
use crate::notify::{MailContext, Templates};
use crate::setup::{password, redact};
use crate::store::{Store, StoreError};

/// How long each `--connect` check may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub use super::level::Level;

/// One thing found about one key of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// The key as written in the file (`stations[2].emails[0]`); empty when
    /// the finding is about the whole file.
    pub key: String,
    pub message: String,
}

/// Everything found about one config file.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file, as the operator named it.
    pub path: PathBuf,
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, level: Level, key: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding { level, key: key.into(), message: message.into() });
    }

    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.level == Level::Error).count()
    }

    /// One line per finding (`error: FILE: KEY: MESSAGE`), then a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let path = self.path.display();
        for f in &self.findings {
            let level = match f.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Ok => "ok",
            };
            let key = if f.key.is_empty() { String::new() } else { format!("{}: ", f.key) };
            // Multi-line messages (TOML's) are indented under their line.
            let message = f.message.trim_end().replace('\n', "\n    ");
            let _ = writeln!(out, "{level}: {path}: {key}{message}");
        }
        let warnings = self.findings.iter().filter(|f| f.level == Level::Warning).count();
        let _ = writeln!(out, "{path}: {} error(s), {warnings} warning(s)", self.errors());
        out
    }
}

/// Checks the config at `path` as of `now` (for the calendar's coverage);
/// with `connect`, also logs in to IMAP, SMTP and the database.
pub async fn check(path: &Path, now: DateTime<Utc>, connect: bool) -> Report {
    let mut report = Report { path: path.to_owned(), findings: Vec::new() };
    let settings = match Settings::read(path) {
        Ok(s) => s,
        Err(ConfigError::Read { error, .. }) => {
            report.add(Level::Error, "", format!("cannot read: {error}"));
            return report;
        }
        Err(ConfigError::Parse { message, .. }) => {
            report.add(Level::Error, "", message);
            return report;
        }
        Err(ConfigError::Invalid { key, message, .. }) => {
            report.add(Level::Error, key, message);
            return report;
        }
    };
    for (key, message) in settings.problems() {
        report.add(Level::Error, key, message);
    }
    let stations = settings.stations.iter().map(|st| (st.code.as_str(), st.emails.as_slice()));
    for (key, message) in settings.auth.warnings(stations) {
        report.add(Level::Warning, key, message);
    }
    secrets(&settings, &mut report);
    transport(&settings, &mut report);
    match Calendar::from_settings(&settings.calendar, |p| settings.resolve(p)) {
        Ok(calendar) => {
            let today = now.with_timezone(&calendar.tz()).date_naive();
            for w in calendar.coverage_warnings(today) {
                report.add(Level::Warning, "calendar.holiday_files", w);
            }
        }
        Err(e) => report.add(Level::Error, "calendar", format!("{e:#}")),
    }
    let templates = settings.resolve(&settings.templates.dir);
    if let Err(e) = Templates::load(&templates, &MailContext::sample()) {
        report.add(Level::Error, "templates", format!("{e:#}"));
    }
    if settings.http.as_ref().is_some_and(|h| !h.users.is_empty()) {
        board_pages(&settings, &templates.join("board"), now, &mut report);
    }
    if connect {
        connections(&settings, &mut report).await;
    }
    report
}

/// The board's pages, each rendered with its sample context as the daemon
/// does at start and on reload. They need the whole desk; when it cannot be
/// built the findings above already say why.
fn board_pages(s: &Settings, dir: &Path, now: DateTime<Utc>, report: &mut Report) {
    let errors = report.errors();
    match crate::setup::desk(s.clone(), Clock::manual(now)) {
        Ok(desk) => {
            if let Err(e) = BoardTemplates::load_checked(dir, &desk) {
                report.add(Level::Error, "templates", format!("{e:#}"));
            }
        }
        Err(e) if errors == 0 => report.add(Level::Error, "", format!("{e:#}")),
        Err(_) => {}
    }
}

/// Passwords: where each comes from, and whether it is there.
fn secrets(s: &Settings, report: &mut Report) {
    let mut one = |section: &str, needed: bool, env: Option<&str>, inline: Option<&str>| {
        if let Some(var) = env
            && std::env::var_os(var).is_none()
        {
            match (inline, needed) {
                (Some(_), _) => report.add(
                    Level::Warning,
                    format!("{section}.password_env"),
                    format!("{var} is not set: the password written in {section}.password is used"),
                ),
                (None, true) => report.add(
                    Level::Error,
                    format!("{section}.password_env"),
                    format!("{var} is not set and there is no {section}.password"),
                ),
                (None, false) => {}
            }
        } else if env.is_none() && inline.is_none() && needed {
            report.add(Level::Error, section, format!("no password: set {section}.password_env"));
        }
    };
    one("mailbox", true, s.mailbox.password_env.as_deref(), s.mailbox.password.as_ref().map(Secret::expose));
    let smtp_login = s.smtp.user.is_some();
    one("smtp", smtp_login, s.smtp.password_env.as_deref(), s.smtp.password.as_ref().map(Secret::expose));
    if !smtp_login && (s.smtp.password.is_some() || s.smtp.password_env.is_some()) {
        report.add(Level::Warning, "smtp.user", "a password is configured but no user: the daemon will not log in");
    }
}

/// Transport security and the files and sockets it names.
fn transport(s: &Settings, report: &mut Report) {
    let loopback = |server: &str| {
        let host = server.rsplit_once(':').map_or(server, |(h, _)| h).trim_matches(['[', ']']);
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    for (section, server, tls, ca) in [
        ("mailbox", &s.mailbox.server, s.mailbox.tls, &s.mailbox.ca_file),
        ("smtp", &s.smtp.server, s.smtp.tls, &s.smtp.ca_file),
    ] {
        if tls == TlsMode::None && !loopback(server) {
            report.add(
                Level::Warning,
                format!("{section}.tls"),
                format!("\"none\" sends the password in clear to {server}, which is not on loopback"),
            );
        }
        if let Some(ca) = ca
            && !s.resolve(ca).is_file()
        {
            report.add(
                Level::Error,
                format!("{section}.ca_file"),
                format!("{} does not exist", s.resolve(ca).display()),
            );
        }
    }
    if let Some(m) = &s.metrics
        && !m.listen.ip().is_loopback()
    {
        report.add(
            Level::Warning,
            "metrics.listen",
            format!("{} is reachable from the network; the endpoint has no authentication", m.listen),
        );
    }
}

/// `--connect`: logs in to each server and reports how it went.
async fn connections(s: &Settings, report: &mut Report) {
    let imap = async {
        let password = password(s.mailbox.password_env.as_deref(), s.mailbox.password.as_ref().map(Secret::expose))
            .ok_or_else(|| anyhow::anyhow!("no password"))?;
        let ca = s.mailbox.ca_file.as_ref().map(|p| s.resolve(p));
        Mailbox::check(&s.mailbox, &password, ca.as_deref()).await
    };
    match within(imap).await {
        Ok(what) => report.add(Level::Ok, "mailbox", what),
        Err(e) => report.add(Level::Error, "mailbox", format!("IMAP {}: {e:#}", s.mailbox.server)),
    }
    let smtp = async {
        let password = password(s.smtp.password_env.as_deref(), s.smtp.password.as_ref().map(Secret::expose));
        let ca = match &s.smtp.ca_file {
            Some(p) => Some(std::fs::read(s.resolve(p))?),
            None => None,
        };
        Sender::new(&s.smtp, password, ca)?.check().await?;
        Ok(match &s.smtp.user {
            Some(user) => format!("{} accepted the connection and the login of {user}", s.smtp.server),
            None => format!("{} accepted the connection", s.smtp.server),
        })
    };
    match within(smtp).await {
        Ok(what) => report.add(Level::Ok, "smtp", what),
        Err(e) => report.add(Level::Error, "smtp", format!("SMTP {}: {e:#}", s.smtp.server)),
    }
    for (level, key, message) in super::check_auth::findings(s).await {
        report.add(level, key, message);
    }
    let url = redact(&s.database.url);
    let db = async {
        let store = Store::open(&s.database.url, &s.base_dir, false).await?;
        let ping = store.ping().await;
        store.close().await;
        ping
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, db).await {
        Ok(Ok(())) => report.add(Level::Ok, "database.url", format!("{url} answers")),
        Ok(Err(StoreError::Missing(p))) => report.add(
            Level::Warning,
            "database.url",
            format!("{} does not exist yet: the daemon creates it", p.display()),
        ),
        Ok(Err(e)) => report.add(Level::Error, "database.url", format!("{url}: {}", redact(&e.to_string()))),
        Err(_) => report.add(Level::Error, "database.url", format!("{url}: no answer in {CONNECT_TIMEOUT:?}")),
    }
}

/// `fut`, or an error when it takes longer than CONNECT_TIMEOUT.
async fn within<T>(fut: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in {CONNECT_TIMEOUT:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_render_with_file_and_key() {
        let report = Report {
            path: "config/x.toml".into(),
            findings: vec![
                Finding {
                    level: Level::Error,
                    key: "stations[2].emails[0]".into(),
                    message: "not an email address".into(),
                },
                Finding { level: Level::Warning, key: String::new(), message: "line 1\nline 2".into() },
            ],
        };
        assert_eq!(
            report.render(),
            "error: config/x.toml: stations[2].emails[0]: not an email address\n\
             warning: config/x.toml: line 1\n    line 2\n\
             config/x.toml: 1 error(s), 1 warning(s)\n"
        );
    }

    /// A copy of the example config with the board served, its templates
    /// (the board's too) copied beside it.
    fn config_with_board(dir: &Path) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["", "board"] {
            std::fs::create_dir_all(dir.join("templates").join(sub)).unwrap();
            for entry in std::fs::read_dir(root.join("templates").join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::copy(&path, dir.join("templates").join(sub).join(path.file_name().unwrap())).unwrap();
                }
            }
        }
        let hash = crate::cli::hash_password::hash("pw").unwrap();
        let text = std::fs::read_to_string(root.join("config/example.toml"))
            .unwrap()
            .replace("\"../data/calendar/cn.toml\"", &format!("\"{}\"", root.join("data/calendar/cn.toml").display()))
            + &format!(
                "\n[http]\n[[http.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\nrole = \"supervisor\"\n\
             address = \"supervisor@hq.example.test\"\n"
            );
        std::fs::create_dir_all(dir.join("config")).unwrap();
        let path = dir.join("config/complaintd.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[tokio::test]
    async fn a_broken_board_page_fails_check_config() {
        let dir = std::env::temp_dir().join(format!("complaintd-board-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = config_with_board(&dir);
        let now = "2026-11-18T03:00:00Z".parse().unwrap();
        let templates = |r: &Report| r.findings.iter().filter(|f| f.key == "templates").count();
        assert_eq!(templates(&check(&config, now, false).await), 0, "{}", check(&config, now, false).await.render());

        // A misspelt key: found by rendering the page with its sample.
        let page = dir.join("templates/board/ticket.html");
        let good = std::fs::read_to_string(&page).unwrap();
        std::fs::write(&page, good.replace("page.handler", "page.handlr")).unwrap();
        let out = check(&config, now, false).await.render();
        assert!(out.contains("error: ") && out.contains("templates: board page ticket.html"), "{out}");
        // A syntax error, in the shared layout.
        std::fs::write(&page, &good).unwrap();
        std::fs::write(dir.join("templates/board/base.html"), "{% if user %}").unwrap();
        let out = check(&config, now, false).await.render();
        assert!(out.contains("templates: board template") && out.contains("base.html"), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
