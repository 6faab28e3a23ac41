//! Who really sent a message, and signing what the desk sends.
//!
//! A verdict is `pass` when a DKIM signature aligned with the From domain
//! verifies here, in-process, or when our own mail server's topmost
//! `Authentication-Results` says `dmarc=pass` or an aligned `dkim=pass`
//! (for a signature the message carries); `fail` when an aligned signature
//! is broken or our server says fail; `temperror` when DNS could not answer
//! (the message waits); `none` otherwise. The From header alone proves
//! nothing: anyone can write it.
//!
//! - [`results`]: `Authentication-Results` parsing, ours picked from forgeries.
//! - [`align`]: whether a signing domain speaks for the From domain.
//! - [`dns`]: the resolver and its TTL cache.
//! - [`sign`]: DKIM-signing outgoing mail.
//! - [`settings`]: `[auth]`, `[dkim]`, and each role's policy.

pub mod align;
pub mod dns;
pub mod results;
pub mod settings;
pub mod sign;

use std::time::Duration;

use mail_auth::dmarc::Dmarc;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
use serde::{Deserialize, Serialize};

use align::Alignment;
pub use settings::{AuthSettings, Decision, DkimSettings, Mode, Requirement, Role};
pub use sign::Signer;

/// The whole verification may take at most this many DNS timeouts: a
/// message with many signatures cannot hold intake up for long.
const DEADLINE_IN_TIMEOUTS: u32 = 3;

/// Why authentication could not be set up or a message not signed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("DNS resolver: {0}")]
    Resolver(String),
    #[error("DKIM key: {0}")]
    Key(String),
    #[error("DKIM signing: {0}")]
    Sign(String),
}

/// The outcome of authenticating a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    None,
    /// DNS failed: try again later, neither accept nor refuse.
    TempError,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Self::Pass, Self::Fail, Self::None, Self::TempError];

    /// The name stored and shown (`temperror`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::None => "none",
            Self::TempError => "temperror",
        }
    }
}

/// What decided the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// A DKIM signature checked here.
    Dkim,
    /// Our mail server's `Authentication-Results`: dkim.
    AuthservDkim,
    /// Our mail server's `Authentication-Results`: dmarc.
    AuthservDmarc,
    /// Nothing authenticated the message.
    None,
}

/// A message's verdict, as stored on its intake row and shown by `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: Outcome,
    pub method: Method,
    /// The domain that signed (or was judged); the From domain when nothing signed.
    pub domain: Option<String>,
    /// Why, in a few words, for quarantine reasons and the handler's notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Verdict {
    fn new(verdict: Outcome, method: Method, domain: Option<&str>, reason: impl Into<String>) -> Verdict {
        Verdict { verdict, method, domain: domain.map(str::to_owned), reason: Some(reason.into()) }
    }

    /// `fail (dkim, stations.example.test): body hash mismatch`.
    pub fn describe(&self) -> String {
        let verdict = serde_json::to_value(self.verdict).ok().and_then(|v| v.as_str().map(str::to_owned));
        let method = serde_json::to_value(self.method).ok().and_then(|v| v.as_str().map(str::to_owned));
        let mut s = format!("{} ({}", verdict.unwrap_or_default(), method.unwrap_or_default());
        if let Some(d) = &self.domain {
            s.push_str(", ");
            s.push_str(d);
        }
        s.push(')');
        if let Some(r) = &self.reason {
            s.push_str(": ");
            s.push_str(r);
        }
        s
    }
}

/// Authenticates incoming messages; one per daemon (its cache is shared).
pub struct Verifier {
    auth: MessageAuthenticator,
    cache: dns::TxtCache,
    trusted: Vec<String>,
    deadline: Duration,
}

impl Verifier {
    /// Builds the resolver from `[auth]` (the system's when none is set).
    pub fn new(settings: &AuthSettings) -> Result<Verifier, AuthError> {
        let timeout = Duration::from_secs(settings.dns_timeout_seconds.max(1));
        let server = match &settings.resolver {
            Some(r) => Some(r.parse().map_err(|_| AuthError::Resolver(format!("{r:?} is not ip:port")))?),
            None => None,
        };
        Ok(Verifier {
            auth: dns::authenticator(server, timeout)?,
            cache: dns::TxtCache::default(),
            trusted: settings.trusted_authserv_ids.iter().map(|s| s.to_ascii_lowercase()).collect(),
            deadline: timeout * DEADLINE_IN_TIMEOUTS,
        })
    }

    /// Whether `signer`'s key is the one published in DNS: a probe signed
    /// with it verifies as `pass` (for `check-config --connect`).
    pub async fn check_published(&self, signer: &Signer) -> Verdict {
        let probe = format!(
            "From: postmaster@{d}\r\nTo: postmaster@{d}\r\nSubject: DKIM probe\r\n\
             Message-ID: <dkim-probe@{d}>\r\n\r\nprobe\r\n",
            d = signer.domain()
        );
        match signer.sign(probe.as_bytes()) {
            Ok(signed) => self.verify(&signed).await,
            Err(e) => Verdict::new(Outcome::Fail, Method::Dkim, Some(signer.domain()), e.to_string()),
        }
    }

    /// The verdict for a raw message (headers as received, top first).
    pub async fn verify(&self, raw: &[u8]) -> Verdict {
        match tokio::time::timeout(self.deadline, self.verify_inner(raw)).await {
            Ok(v) => v,
            Err(_) => Verdict::new(Outcome::TempError, Method::None, None, "DNS took too long"),
        }
    }

    async fn verify_inner(&self, raw: &[u8]) -> Verdict {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return Verdict::new(Outcome::None, Method::None, None, "unreadable message");
        };
        // One author only: with two From addresses (or headers) a signature
        // could vouch for one while the desk reads the other.
        let from = match message.froms() {
            [address] => align::domain_of(address),
            _ => None,
        };
        let Some(from) = from.as_deref() else {
            return Verdict::new(Outcome::None, Method::None, None, "not exactly one From address");
        };
        let mut mode = None; // looked up when a signing domain differs from From's
        let dkim = self.check_signatures(&message, from, &mut mode).await;
        if dkim.verdict == Outcome::Pass {
            return dkim;
        }
        let reported = self.check_results(&message, from, &mut mode).await;
        // Either check passing is enough; then a DNS failure (which may yet
        // turn into a pass) before a failure, before nothing.
        let rank = |v: &Verdict| match v.verdict {
            Outcome::Pass => 0,
            Outcome::TempError => 1,
            Outcome::Fail => 2,
            Outcome::None => 3,
        };
        match reported {
            // A signature broken here that our server passed was changed
            // after it: the failure stands.
            Some(r) if r.method == Method::AuthservDkim && dkim.verdict == Outcome::Fail && r.domain == dkim.domain => {
                dkim
            }
            Some(r) if rank(&r) < rank(&dkim) => r,
            _ => dkim,
        }
    }

    /// The in-process DKIM verdict over the signatures aligned with `from`.
    async fn check_signatures(
        &self,
        message: &AuthenticatedMessage<'_>,
        from: &str,
        mode: &mut Option<Alignment>,
    ) -> Verdict {
        let outputs = self.auth.verify_dkim(Parameters::new(message).with_txt_cache(&self.cache)).await;
        let mut best: Option<Verdict> = None;
        let mut unaligned = None;
        for output in &outputs {
            let Some(signature) = output.signature() else { continue }; // unreadable: as if absent
            let d = align::normalise(&signature.d);
            let v = match self.aligns(&d, from, mode).await {
                Ok(true) => match output.result() {
                    DkimResult::Pass => Verdict::new(Outcome::Pass, Method::Dkim, Some(&d), "signature verified"),
                    DkimResult::TempError(e) => Verdict::new(Outcome::TempError, Method::Dkim, Some(&d), e.to_string()),
                    DkimResult::Fail(e) | DkimResult::Neutral(e) | DkimResult::PermError(e) => {
                        Verdict::new(Outcome::Fail, Method::Dkim, Some(&d), e.to_string())
                    }
                    DkimResult::None => continue,
                },
                Ok(false) => {
                    unaligned.get_or_insert(d);
                    continue;
                }
                Err(v) => v, // From's DMARC record could not be read
            };
            if v.verdict == Outcome::Pass {
                return v;
            }
            if best.as_ref().is_none_or(|b| b.verdict == Outcome::Fail) {
                best = Some(v); // a temperror outranks a failure: it may pass later
            }
        }
        best.unwrap_or_else(|| match unaligned {
            Some(d) => Verdict::new(Outcome::None, Method::None, Some(from), format!("signed by {d}, not {from}")),
            None => Verdict::new(Outcome::None, Method::None, Some(from), "no signature"),
        })
    }

    /// What our own server's topmost `Authentication-Results` say, if any.
    async fn check_results(
        &self,
        message: &AuthenticatedMessage<'_>,
        from: &str,
        mode: &mut Option<Alignment>,
    ) -> Option<Verdict> {
        if self.trusted.is_empty() {
            return None;
        }
        let headers = message
            .raw_parsed_headers()
            .iter()
            .map(|(n, v)| (std::str::from_utf8(n).unwrap_or_default(), std::str::from_utf8(v).unwrap_or_default()));
        let ours = results::ours(headers, &self.trusted);
        let mut verdict: Option<Verdict> = None;
        for r in ours.iter().flat_map(|ar| &ar.results) {
            let v = match r.method.as_str() {
                "dmarc" => {
                    let d = r.prop("header.from").map(align::normalise);
                    if d.as_deref().is_some_and(|d| d != from) {
                        continue; // about another author domain
                    }
                    outcome(&r.result)
                        .map(|o| Verdict::new(o, Method::AuthservDmarc, Some(from), "our mail server: dmarc"))
                }
                "dkim" => {
                    let Some(d) = r.prop("header.d").map(align::normalise) else { continue };
                    // A pass is believed only for a signature the message carries.
                    if !carries_signature(message, &d, r.prop("header.b")) {
                        continue;
                    }
                    match self.aligns(&d, from, mode).await {
                        Ok(true) => outcome(&r.result)
                            .map(|o| Verdict::new(o, Method::AuthservDkim, Some(&d), "our mail server: dkim")),
                        Ok(false) => continue,
                        Err(v) => Some(v),
                    }
                }
                _ => None,
            };
            let Some(v) = v else { continue };
            if v.verdict == Outcome::Pass {
                return Some(v);
            }
            if verdict.as_ref().is_none_or(|b| b.verdict == Outcome::Fail) {
                verdict = Some(v); // a temperror outranks a failure, as above
            }
        }
        verdict
    }

    /// Whether `signing` aligns with `from` under From's published mode.
    async fn aligns(&self, signing: &str, from: &str, mode: &mut Option<Alignment>) -> Result<bool, Verdict> {
        if signing == from {
            return Ok(true);
        }
        let m = match *mode {
            Some(m) => m,
            None => {
                let m = self.alignment_of(from).await?;
                *mode = Some(m);
                m
            }
        };
        Ok(align::aligned(signing, from, m))
    }

    /// `adkim=` of From's DMARC record (or its organisational domain's);
    /// strict when neither publishes one.
    async fn alignment_of(&self, from: &str) -> Result<Alignment, Verdict> {
        let org = align::organisational_domain(from);
        let names = if org == from { vec![from] } else { vec![from, org] };
        for name in names {
            match self.auth.txt_lookup::<Dmarc>(format!("_dmarc.{name}."), Some(&self.cache)).await {
                Ok(record) => return Ok(record.adkim.into()),
                Err(mail_auth::Error::Dns(mail_auth::DnsError::Resolver(e))) => {
                    return Err(Verdict::new(Outcome::TempError, Method::None, Some(from), e));
                }
                Err(_) => {} // none there, or not a DMARC record
            }
        }
        Ok(Alignment::Strict)
    }
}

/// A trusted server's result word as an outcome (`neutral`, `policy`...: none).
fn outcome(result: &str) -> Option<Outcome> {
    match result {
        "pass" => Some(Outcome::Pass),
        "fail" | "permerror" => Some(Outcome::Fail),
        "temperror" => Some(Outcome::TempError),
        _ => None,
    }
}

/// Whether the message has a DKIM signature by `domain` (and, when the
/// server named it, whose `b=` starts with `b_prefix`).
fn carries_signature(message: &AuthenticatedMessage<'_>, domain: &str, b_prefix: Option<&str>) -> bool {
    // Whole base64 quads of the prefix, decoded, against the signature's bytes.
    let prefix = b_prefix.map(|p| {
        let p = p.trim_end_matches('=').as_bytes();
        mail_parser::decoders::base64::base64_decode(&p[..p.len() / 4 * 4]).unwrap_or_default()
    });
    message
        .dkim_headers
        .iter()
        .any(|h| align::normalise(&h.header.d) == domain && prefix.as_ref().is_none_or(|p| h.header.b.starts_with(p)))
}

#[cfg(test)]
mod tests;
