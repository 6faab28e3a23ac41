//! Identifier alignment (DMARC, RFC 7489 §3.1): whether a signing domain
//! speaks for the From domain.
//!
//! Strict: the same domain. Relaxed: the same organisational domain. The
//! mode is the From domain's own choice, published as `adkim=` in its DMARC
//! record; a domain that publishes none gets strict alignment, since nothing
//! says its siblings may sign for it.

/// How closely a signing domain must match the From domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    Strict,
    Relaxed,
}

impl From<mail_auth::dmarc::Alignment> for Alignment {
    fn from(a: mail_auth::dmarc::Alignment) -> Self {
        match a {
            mail_auth::dmarc::Alignment::Strict => Alignment::Strict,
            mail_auth::dmarc::Alignment::Relaxed => Alignment::Relaxed,
        }
    }
}

/// Whether `signing` may speak for `from` under `mode`.
pub fn aligned(signing: &str, from: &str, mode: Alignment) -> bool {
    let (signing, from) = (normalise(signing), normalise(from));
    if signing.is_empty() || from.is_empty() {
        return false;
    }
    match mode {
        Alignment::Strict => signing == from,
        Alignment::Relaxed => signing == from || organisational_domain(&signing) == organisational_domain(&from),
    }
}

/// Lowercased, without a trailing dot.
pub fn normalise(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Second-level labels under which country registries hand out names
/// (`example.com.cn`, `example.co.uk`): a compact stand-in for the Public
/// Suffix List, which matters only for relaxed alignment.
const REGISTRY_SECOND_LEVELS: &[&str] = &["ac", "co", "com", "edu", "gov", "mil", "net", "org", "gob", "ne", "or"];

/// The registrable domain: the label below the public suffix and the suffix.
pub fn organisational_domain(domain: &str) -> &str {
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    let suffix_len =
        if n >= 3 && labels[n - 1].len() == 2 && REGISTRY_SECOND_LEVELS.contains(&labels[n - 2]) { 2 } else { 1 };
    if n <= suffix_len + 1 {
        return domain;
    }
    let skip: usize = labels[..n - suffix_len - 1].iter().map(|l| l.len() + 1).sum();
    &domain[skip..]
}

/// The domain of an address (`a@B.test` → `b.test`).
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    let domain = normalise(domain);
    (!domain.is_empty()).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_is_the_same_domain_in_any_case() {
        assert!(aligned("Stations.Example.Test.", "stations.example.test", Alignment::Strict));
        assert!(!aligned("mail.stations.example.test", "stations.example.test", Alignment::Strict));
        assert!(!aligned("other.example.test", "stations.example.test", Alignment::Strict));
        assert!(!aligned("", "", Alignment::Strict));
    }

    #[test]
    fn relaxed_is_the_same_organisational_domain() {
        assert!(aligned("mail.station.com", "station.com", Alignment::Relaxed));
        assert!(aligned("station.com", "bj.station.com", Alignment::Relaxed));
        assert!(!aligned("station.com", "other.com", Alignment::Relaxed));
        // A country registry's second level is a suffix, not an organisation.
        assert!(aligned("mail.station.com.cn", "station.com.cn", Alignment::Relaxed));
        assert!(!aligned("evil.com.cn", "station.com.cn", Alignment::Relaxed));
        assert!(!aligned("evil.co.uk", "station.co.uk", Alignment::Relaxed));
        // Siblings under one organisation align relaxed, which is why the
        // lab's domains publish adkim=s.
        assert!(aligned("other.example.test", "stations.example.test", Alignment::Relaxed));
    }

    #[test]
    fn organisational_domains() {
        assert_eq!(organisational_domain("a.b.example.test"), "example.test");
        assert_eq!(organisational_domain("example.test"), "example.test");
        assert_eq!(organisational_domain("test"), "test");
        assert_eq!(organisational_domain("mail.station.com.cn"), "station.com.cn");
        assert_eq!(organisational_domain("com.cn"), "com.cn");
    }

    #[test]
    fn address_domains() {
        assert_eq!(domain_of("<Station-BJ01@Stations.Example.Test>").as_deref(), Some("stations.example.test"));
        assert_eq!(domain_of("no-at-sign"), None);
        assert_eq!(domain_of("a@"), None);
    }
}
