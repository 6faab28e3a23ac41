//! Who is logged in to the board: the config's users, their Argon2 password
//! hashes, and sessions kept in memory (a restart logs everyone out, which a
//! read-only board can afford). A session names its user; the user is looked
//! up in the running config on every request, so a reload that removes a
//! user ends their sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::PasswordVerifier as _;
use argon2::password_hash::phc::PasswordHash;
use chrono::{DateTime, Duration, Utc};

use crate::config::BoardUser;

/// The cookie that carries the session token.
pub const COOKIE: &str = "complaintd_board";
/// How long a session lasts without use.
const IDLE: Duration = Duration::hours(12);
/// Hashed against when the name is unknown, so a wrong name takes as long
/// as a wrong password (`complaintd hash-password` of a random line).
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$bV8Yp5c8pm2DDdoVvVjUkxTQ+t8YfhYv3pgM0C4wzsk";

/// Whether `password` matches the PHC string `phc`; a malformed string matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The user `name` if `password` is theirs. Slow on purpose (Argon2): run
/// it off the async threads.
pub fn authenticate<'a>(users: &'a [BoardUser], name: &str, password: &str) -> Option<&'a BoardUser> {
    match users.iter().find(|u| u.name == name) {
        Some(user) => verify(password, &user.password_hash).then_some(user),
        None => {
            verify(password, DECOY);
            None
        }
    }
}

/// One logged-in browser.
struct Session {
    user: String,
    last_seen: DateTime<Utc>,
}

/// Every live session, by token.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session for `user`; returns its token (256 random bits).
    pub fn open(&self, user: &str, now: DateTime<Utc>) -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, s| now - s.last_seen < IDLE);
        live.insert(token.clone(), Session { user: user.to_owned(), last_seen: now });
        Ok(token)
    }

    /// The user of a live session, which this use keeps alive.
    pub fn user(&self, token: &str, now: DateTime<Utc>) -> Option<String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let session = live.get_mut(token)?;
        if now - session.last_seen >= IDLE {
            live.remove(token);
            return None;
        }
        session.last_seen = now;
        Some(session.user.clone())
    }

    pub fn close(&self, token: &str) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

/// The session token in a `Cookie` header, if any.
pub fn token_in(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v)
}

/// The `Set-Cookie` value for `token`: never readable by scripts, never sent
/// from another site, `Secure` when the board is reached over TLS.
pub fn set_cookie(token: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", IDLE.num_seconds())
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie(tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// Whether a POST comes from the board's own pages: its `Origin` (or, from
/// a browser that sent none, its `Referer`) names the host it was sent to.
///
/// Why this and SameSite=Strict suffice, without a token in the form: the
/// board is read-only and its only POSTs are log in and log out. A
/// cross-site request never carries the Strict session cookie, so a forged
/// one cannot act as the user; what is left is logging a victim in to the
/// attacker's account, or out of their own, and current Chromium and
/// Firefox send `Origin` on every POST, which a page cannot set. A request
/// naming neither is refused: the board is for browsers. Behind a TLS proxy
/// the proxy must pass `Host` on (nginx: `proxy_set_header Host $host`).
pub fn same_origin(host: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else { return false };
    // An opaque origin ("null": a sandboxed frame, a data: URL) is nobody's.
    let from = origin.filter(|o| o.trim() != "null").or(referer);
    let authority = from
        .and_then(|url| url.trim().split_once("://"))
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BoardRole;

    #[test]
    fn the_right_password_logs_in_and_a_wrong_one_or_name_does_not() {
        let hash = crate::cli::hash_password::hash("正确的密码").unwrap();
        let users = vec![BoardUser {
            name: "wang".into(),
            password_hash: hash,
            role: BoardRole::Supervisor,
            address: "wang@example.com".into(),
        }];
        assert!(authenticate(&users, "wang", "正确的密码").is_some());
        assert!(authenticate(&users, "wang", "错误").is_none());
        assert!(authenticate(&users, "li", "正确的密码").is_none());
        assert!(PasswordHash::new(DECOY).is_ok());
    }

    #[test]
    fn sessions_expire_when_idle_and_cookies_are_strict() {
        let s = Sessions::default();
        let t0 = Utc::now();
        let token = s.open("wang", t0).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(s.user(&token, t0 + Duration::hours(1)).as_deref(), Some("wang"));
        assert_eq!(s.user(&token, t0 + Duration::hours(14)), None);
        assert_eq!(token_in(&format!("a=b; {COOKIE}=xyz")), Some("xyz"));
        let c = set_cookie("xyz", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("; Secure"), "{c}");
        assert!(!set_cookie("xyz", false).contains("Secure"));
    }

    #[test]
    fn a_post_must_come_from_the_boards_own_host() {
        let host = Some("127.0.0.1:8025");
        assert!(same_origin(host, Some("http://127.0.0.1:8025"), None));
        assert!(same_origin(host, None, Some("http://127.0.0.1:8025/login?x=1")));
        assert!(same_origin(Some("Board.example"), Some("https://board.example"), None));
        assert!(!same_origin(host, Some("http://evil.example"), Some("http://127.0.0.1:8025/login")));
        assert!(!same_origin(host, Some("http://127.0.0.1:8025.evil.example"), None));
        assert!(!same_origin(host, Some("null"), None));
        assert!(!same_origin(host, None, None));
        assert!(!same_origin(None, Some("http://127.0.0.1:8025"), None));
    }
}
