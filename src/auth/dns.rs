//! DNS for verification: the system resolver or a configured one, bounded
//! timeouts, and parsed TXT records (keys, DMARC policies) cached until
//! their TTL runs out.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::{MessageAuthenticator, ResolverCache, Txt};

use super::AuthError;

/// Entries kept at most; past this the expired ones go, then everything
/// (a burst of distinct domains must not grow memory without bound).
const CACHE_CAPACITY: usize = 4096;

/// A resolver for `server` (`ip:port`), or the system's when `None`. Each
/// query waits at most `timeout` and is tried twice.
pub fn authenticator(server: Option<SocketAddr>, timeout: Duration) -> Result<MessageAuthenticator, AuthError> {
    let (config, mut opts) = match server {
        Some(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            (ResolverConfig::from_name_servers(vec![ns]), ResolverOpts::default())
        }
        None => read_system_conf().map_err(|e| AuthError::Resolver(e.to_string()))?,
    };
    opts.timeout = timeout;
    opts.attempts = 1;
    MessageAuthenticator::new(config, opts).map_err(|e| AuthError::Resolver(e.to_string()))
}

/// Parsed TXT records until their DNS expiry.
#[derive(Default)]
pub struct TxtCache {
    entries: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
}

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(name) {
            Some((txt, until)) if *until > Instant::now() => Some(txt.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(name).map(|(t, _)| t)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_ttl() {
        let cache = TxtCache::default();
        let now = Instant::now();
        cache.insert("live.".into(), Txt::Error(mail_auth::Error::ParseError), now + Duration::from_secs(60));
        cache.insert("dead.".into(), Txt::Error(mail_auth::Error::ParseError), now);
        assert!(cache.get("live.").is_some());
        assert!(cache.get("dead.").is_none());
        assert!(cache.remove("live.").is_some());
        assert!(cache.get("live.").is_none());
    }
}
