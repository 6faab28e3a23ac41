//! `[auth]` (whose mail is believed) and `[dkim]` (how the desk signs),
//! and what each role's policy makes of a verdict.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Outcome, Verdict};

/// How incoming mail is authenticated, and what each sender must show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// authserv-ids of our own mail server (HQ's MX), whose topmost
    /// `Authentication-Results` are believed, e.g. `["mx.hq.example.test"]`.
    pub trusted_authserv_ids: Vec<String>,
    /// A DNS server as `ip:port`; the system resolver when absent.
    pub resolver: Option<String>,
    /// How long one DNS query may take.
    pub dns_timeout_seconds: u64,
    /// `enforce` refuses what fails its policy; `report` only records.
    pub mode: Mode,
    /// What each role must show.
    pub require: RolePolicy,
    /// Per-station overrides by station code, e.g. `{ BJ07 = "any" }` for a
    /// station whose mail server cannot sign.
    pub stations: BTreeMap<String, Requirement>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            trusted_authserv_ids: Vec::new(),
            resolver: None,
            dns_timeout_seconds: 3,
            mode: Mode::Report,
            require: RolePolicy::default(),
            stations: BTreeMap::new(),
        }
    }
}

/// Whether a failed policy refuses the message or is only recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Report,
    /// Nothing is verified and no verdict recorded: the From header is
    /// believed, as before authentication existed. For measuring what
    /// verification costs; check-config warns of it.
    Off,
}

/// What a sender must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// A verdict of pass.
    Pass,
    /// Anything; the verdict is still recorded and shown.
    Any,
}

/// The roles a message can act in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    CallCenter,
    Handler,
    Station,
    PreReport,
}

/// Per-role requirements; each defaults to `pass`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolePolicy {
    pub call_center: Requirement,
    pub handler: Requirement,
    pub station: Requirement,
    pub pre_report: Requirement,
}

impl Default for RolePolicy {
    fn default() -> Self {
        RolePolicy {
            call_center: Requirement::Pass,
            handler: Requirement::Pass,
            station: Requirement::Pass,
            pre_report: Requirement::Pass,
        }
    }
}

/// What the desk should do with a message, given its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Act on it.
    Apply,
    /// Act on it, and show that it would have been refused (report mode).
    ApplyReported { reason: String },
    /// Do not act: quarantine with this reason.
    Refuse { reason: String },
    /// DNS failed: leave it and try again later.
    Wait,
}

impl AuthSettings {
    /// The requirement for a sender in `role` (`station`: its code).
    pub fn requirement(&self, role: Role, station: Option<&str>) -> Requirement {
        if role == Role::Station
            && let Some(r) = station.and_then(|code| self.stations.iter().find(|(c, _)| c.eq_ignore_ascii_case(code)))
        {
            return *r.1;
        }
        match role {
            Role::CallCenter => self.require.call_center,
            Role::Handler => self.require.handler,
            Role::Station => self.require.station,
            Role::PreReport => self.require.pre_report,
        }
    }

    /// What to do with a message whose sender acts in `role`.
    pub fn decide(&self, verdict: &Verdict, role: Role, station: Option<&str>) -> Decision {
        let required = self.requirement(role, station);
        let refusal = match (verdict.verdict, required) {
            (Outcome::Pass, _) | (_, Requirement::Any) => return Decision::Apply,
            // Waiting is right in either mode: the verdict is not known yet.
            (Outcome::TempError, Requirement::Pass) => return Decision::Wait,
            (Outcome::Fail, Requirement::Pass) => format!("authentication failed: {}", verdict.describe()),
            (Outcome::None, Requirement::Pass) => format!("sender not authenticated: {}", verdict.describe()),
        };
        match self.mode {
            Mode::Enforce => Decision::Refuse { reason: refusal },
            // Off never gets here (intake verifies nothing); as report if it did.
            Mode::Report | Mode::Off => Decision::ApplyReported { reason: refusal },
        }
    }

    /// Warnings as `(key, message)`: `mode = "off"`, and each mail domain
    /// that two or more stations required to `pass` share (`stations`:
    /// code and addresses).
    /// DKIM proves the domain, not the mailbox: a pass for one station's
    /// address is only as good as that server's check that its users send
    /// as themselves. The desk still acts only for the address each station
    /// has in the directory, so a pass never makes one station another.
    pub fn warnings<'a>(&self, stations: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Vec<(String, String)> {
        if self.mode == Mode::Off {
            return vec![("auth.mode".into(), "\"off\": nothing is verified; anyone can act in anyone's name".into())];
        }
        let mut by_domain: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (code, emails) in stations {
            if self.requirement(Role::Station, Some(code)) != Requirement::Pass {
                continue; // nothing is proven for it anyway
            }
            let mut domains: Vec<String> = emails.iter().filter_map(|e| super::align::domain_of(e)).collect();
            domains.dedup();
            for d in domains {
                let codes = by_domain.entry(d).or_default();
                if !codes.contains(&code) {
                    codes.push(code);
                }
            }
        }
        by_domain
            .into_iter()
            .filter(|(_, codes)| codes.len() > 1)
            .map(|(domain, codes)| {
                let message = format!(
                    "{} share the mail domain {domain}: DKIM proves the domain, not the mailbox, so one of them \
                     could reply as another if {domain}'s server lets its users send under any of its addresses \
                     (make it check the login against the sender, e.g. Postfix's smtpd_sender_login_maps, or give \
                     each station its own domain or subdomain)",
                    codes.join(", ")
                );
                ("auth.require.station".to_owned(), message)
            })
            .collect()
    }

    /// The resolver's address, when one is configured and well-formed.
    pub fn resolver_addr(&self) -> Option<SocketAddr> {
        self.resolver.as_deref().and_then(|r| r.parse().ok())
    }

    /// Problems as `(key, message)`, like `Settings::problems`.
    pub fn problems(&self, station_codes: &[&str]) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if let Some(r) = &self.resolver
            && r.parse::<SocketAddr>().is_err()
        {
            found.push(("auth.resolver".into(), format!("{r:?} is not ip:port")));
        }
        if self.dns_timeout_seconds == 0 || self.dns_timeout_seconds > 30 {
            found.push(("auth.dns_timeout_seconds".into(), "between 1 and 30".into()));
        }
        for (i, id) in self.trusted_authserv_ids.iter().enumerate() {
            if id.trim().is_empty() || id.contains([' ', ';', '(', ')']) {
                found.push((format!("auth.trusted_authserv_ids[{i}]"), format!("{id:?} is not an authserv-id")));
            }
        }
        for code in self.stations.keys() {
            if !station_codes.iter().any(|c| c.eq_ignore_ascii_case(code)) {
                found.push((format!("auth.stations.{code}"), format!("no station {code}")));
            }
        }
        found
    }
}

/// The desk's DKIM key for its outgoing mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// The signing domain (`d=`): the domain of `smtp.from`, or aligned
    /// mail would not pass at the stations' servers.
    pub domain: String,
    /// The selector (`s=`); the public key is at SELECTOR._domainkey.DOMAIN.
    pub selector: String,
    /// PEM private key (RSA or Ed25519), relative to the config file.
    pub key_file: PathBuf,
}

impl DkimSettings {
    /// Problems as `(key, message)`: the key must load, the domain must be
    /// the sender's.
    pub fn problems(&self, from: &str, base_dir: &Path) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if self.selector.trim().is_empty() || self.selector.contains(char::is_whitespace) {
            found.push(("dkim.selector".into(), format!("{:?} is not a selector", self.selector)));
        }
        let from_domain = super::align::domain_of(from).unwrap_or_default();
        if super::align::normalise(&self.domain) != from_domain {
            found.push(("dkim.domain".into(), format!("{} is not the domain of smtp.from ({from})", self.domain)));
        }
        if let Err(e) = super::Signer::load(self, base_dir) {
            found.push(("dkim.key_file".into(), e.to_string()));
        }
        found
    }
}
