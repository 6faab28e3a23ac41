//! `Authentication-Results` (RFC 8601): parsing, and picking the ones our
//! own mail server added.
//!
//! Anyone can write an `Authentication-Results` header naming our server.
//! Our server adds its own on top of what it received, so only the topmost
//! ones count: the run of headers with a trusted authserv-id that comes
//! before any other `Authentication-Results` and before the first `Received`
//! below them, and never below a `Received` added by our server itself (by
//! the convention that its authserv-id is its host name): anything further
//! down was in the message when it arrived.

/// One `Authentication-Results` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who wrote it, lowercased.
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// One `method=result` with its properties, e.g. `dkim=pass header.d=x.test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// Lowercased, without a version (`dkim`, `dmarc`, `spf`, ...).
    pub method: String,
    /// Lowercased (`pass`, `fail`, `none`, `temperror`, ...).
    pub result: String,
    /// `(ptype.property lowercased, value)`, e.g. `("header.d", "x.test")`.
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of a property such as `header.d`, if given.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses one header's value; `None` when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let mut segments = split_outside_quotes(&strip_comments(value), ';').into_iter();
    let head = segments.next()?;
    let authserv_id = tokens(&head).into_iter().next().and_then(|t| match t {
        Token::Word(w) if !w.is_empty() => Some(w.to_ascii_lowercase()),
        _ => None,
    })?;
    let mut results = Vec::new();
    for segment in segments {
        if let Some(r) = method_result(&tokens(&segment)) {
            results.push(r);
        }
    }
    Some(AuthResults { authserv_id, results })
}

/// The headers our own server added: the topmost run of trusted ones.
/// `headers` are `(name, value)` from the top of the message down.
pub fn ours<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>, trusted: &[String]) -> Vec<AuthResults> {
    let mut taken = Vec::new();
    for (name, value) in headers {
        let name = name.trim();
        if name.eq_ignore_ascii_case("Received") {
            if taken.is_empty() && !received_by(value, trusted) {
                continue; // our delivery agent's own hop, above the MX's results
            }
            break;
        }
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        match parse(value) {
            Some(ar) if trusted.iter().any(|t| t.eq_ignore_ascii_case(&ar.authserv_id)) => taken.push(ar),
            // Another server's results (or an unreadable header) on top: what
            // follows is no longer known to be ours.
            _ => break,
        }
    }
    taken
}

/// Whether a `Received` header says it was added `by` one of `hosts`.
fn received_by(value: &str, hosts: &[String]) -> bool {
    let clean = strip_comments(value);
    let mut words = clean.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("by") {
            return words.next().is_some_and(|host| hosts.iter().any(|h| h.eq_ignore_ascii_case(host)));
        }
    }
    false
}

/// Replaces each comment (nested parentheses, outside quoted strings) with a space.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(' ');
                }
            }
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn split_outside_quotes(value: &str, sep: char) -> Vec<String> {
    let (mut parts, mut current, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Eq,
}

/// Words (quoted strings unquoted) and `=` signs; whitespace separates.
fn tokens(segment: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = segment.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            out.push(Token::Eq);
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => word.extend(chars.next()),
                    '"' => break,
                    _ => word.push(c),
                }
            }
            out.push(Token::Word(word));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '=' || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(Token::Word(word));
        }
    }
    out
}

/// `method[/version] = result [reason=...] [ptype.prop=value ...]`.
fn method_result(tokens: &[Token]) -> Option<MethodResult> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
            (Token::Word(k), Some(Token::Eq), Some(Token::Word(v))) => {
                pairs.push((k.to_ascii_lowercase(), v.clone()));
                i += 3;
            }
            _ => i += 1, // a stray word or sign: skipped, the rest still read
        }
    }
    let mut pairs = pairs.into_iter();
    let (method, result) = pairs.next()?;
    let method = method.split('/').next().unwrap_or_default().to_owned();
    let props = pairs.filter(|(k, _)| k != "reason").collect();
    Some(MethodResult { method, result: result.to_ascii_lowercase(), props })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<String> {
        vec!["mx.hq.example.test".into()]
    }

    #[test]
    fn reads_methods_properties_and_comments() {
        let ar = parse(
            "MX.HQ.example.test 1; (our MX)\r\n\tDKIM=Pass (2048-bit key; unprotected) header.d=stations.example.test \
             header.i=@stations.example.test header.b=\"dPcp;uTeO\";\r\n\tdmarc=fail (p=reject) header.from=x.test; \
             spf = softfail smtp.mailfrom=a@x.test",
        )
        .unwrap();
        assert_eq!(ar.authserv_id, "mx.hq.example.test");
        assert_eq!(ar.results.len(), 3);
        let dkim = &ar.results[0];
        assert_eq!((dkim.method.as_str(), dkim.result.as_str()), ("dkim", "pass"));
        assert_eq!(dkim.prop("header.d"), Some("stations.example.test"));
        assert_eq!(dkim.prop("HEADER.B"), Some("dPcp;uTeO"), "a quoted ; does not split");
        assert_eq!((ar.results[1].method.as_str(), ar.results[1].result.as_str()), ("dmarc", "fail"));
        assert_eq!(ar.results[1].prop("header.from"), Some("x.test"));
        assert_eq!(ar.results[2].result, "softfail", "spaces around = are allowed");
    }

    #[test]
    fn comments_nest_and_hide_what_they_contain() {
        let ar =
            parse("mx.hq.example.test; dkim=fail (nested (dkim=pass) header.d=evil.test) header.d=x.test").unwrap();
        assert_eq!(ar.results.len(), 1);
        assert_eq!(ar.results[0].result, "fail");
        assert_eq!(ar.results[0].prop("header.d"), Some("x.test"));
        assert_eq!(parse("(only a comment)"), None);
        assert_eq!(parse("mx.hq.example.test; none").unwrap().results, vec![]);
        assert_eq!(parse("mx.hq.example.test; dkim/1=pass header.d=x.test").unwrap().results[0].method, "dkim");
    }

    #[test]
    fn only_the_topmost_run_of_our_own_counts() {
        let forged = "mx.hq.example.test; dkim=pass header.d=hq.example.test";
        let headers = vec![
            ("Return-Path", "<a@x.test>"),
            ("Received", "from mx by lmtp"),
            ("Authentication-Results", "mx.hq.example.test; dkim=none"),
            ("Authentication-Results", "Mx.Hq.Example.Test; dmarc=none"),
            ("Received", "from outside by mx.hq.example.test"),
            ("Authentication-Results", forged),
        ];
        let ours = ours(headers, &trusted());
        assert_eq!(ours.len(), 2, "both of ours, not the forged one below our Received");
        assert!(ours.iter().all(|ar| ar.results.iter().all(|r| r.result == "none")));
    }

    #[test]
    fn a_forged_header_below_another_servers_or_alone_under_a_foreign_one_is_ignored() {
        let forged = "mx.hq.example.test; dkim=pass header.d=hq.example.test";
        let foreign_on_top =
            vec![("Authentication-Results", "spam.filter.test; spf=pass"), ("Authentication-Results", forged)];
        assert!(ours(foreign_on_top, &trusted()).is_empty());
        let untrusted = vec![("Authentication-Results", "mx.evil.test; dkim=pass header.d=hq.example.test")];
        assert!(ours(untrusted, &trusted()).is_empty());
        let garbled_on_top = vec![("Authentication-Results", "(nothing)"), ("Authentication-Results", forged)];
        assert!(ours(garbled_on_top, &trusted()).is_empty());
        // With no results of ours on top (unsigned mail: OpenDKIM adds none),
        // a forged one below our server's own Received is still not ours.
        let below_our_hop = vec![
            ("Received", "from mx.hq.example.test by lmtp.hq.example.test with LMTP"),
            ("Received", "from evil.test (evil [192.0.2.1])\r\n\tby MX.HQ.example.test (Postfix) with ESMTP id 1"),
            ("Authentication-Results", forged),
        ];
        assert!(ours(below_our_hop, &trusted()).is_empty());
        // Without such a Received (a server whose id is not its host name),
        // a lone "ours" is the topmost: that server must add its own always.
        let lone = vec![("Received", "by lmtp"), ("Authentication-Results", forged)];
        assert_eq!(ours(lone, &trusted()).len(), 1);
    }
}
