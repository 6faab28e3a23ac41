//! `[mailbox.limits]`: the bounds a message must stay within to reach the
//! MIME parser, and their check.

use serde::Deserialize;

/// The bounds a message must stay within to be parsed (checked by
/// `intake::screen` on the raw bytes, and on what the parser decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseLimits {
    /// Multipart bodies and `message/rfc822` parts nested in each other.
    pub max_depth: usize,
    /// MIME parts in the whole message (delimiter lines seen).
    pub max_parts: usize,
    /// Header fields in the message's own header.
    pub max_headers: usize,
    /// Bytes of the message's own header.
    pub max_header_bytes: usize,
    /// Bytes of decoded content (attachments and texts) kept.
    pub max_decoded_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_depth: 20,
            max_parts: 1000,
            max_headers: 500,
            max_header_bytes: 256 * 1024,
            max_decoded_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The parser recurses once per level on a 2 MiB stack: deeper than this
/// is not proven safe (a unit test parses this depth on such a stack).
pub const MAX_SAFE_DEPTH: usize = 100;

impl ParseLimits {
    /// What is wrong with the limits, as (key, message); `max_attachment`
    /// is `mailbox.max_attachment_bytes`, which decoding must allow.
    pub(super) fn problems(&self, max_attachment: u64) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut problem = |key: &str, message: String| found.push((format!("mailbox.limits.{key}"), message));
        if !(1..=MAX_SAFE_DEPTH).contains(&self.max_depth) {
            problem("max_depth", format!("must be from 1 to {MAX_SAFE_DEPTH} (the parser recurses per level)"));
        }
        if self.max_parts == 0 {
            problem("max_parts", "must be at least 1".into());
        }
        if self.max_headers < 4 {
            problem("max_headers", "must be at least 4 (From, To, Subject, Date)".into());
        }
        if self.max_header_bytes < 1024 {
            problem("max_header_bytes", "must be at least 1024".into());
        }
        if (self.max_decoded_bytes as u64) < max_attachment {
            let message = format!("must be at least mailbox.max_attachment_bytes ({max_attachment})");
            problem("max_decoded_bytes", message);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::ParseLimits;
    use crate::config::Settings;

    /// The example writes the defaults out; check-config names each bad
    /// limit by its key, and omitted keys keep their defaults.
    #[test]
    fn parse_limits_default_as_written_and_are_checked() {
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let mut s = Settings::read(&example).unwrap();
        assert_eq!(s.mailbox.limits, ParseLimits::default());
        s.mailbox.limits = toml::from_str("max_depth = 30").unwrap();
        assert_eq!(s.mailbox.limits.max_parts, 1000);
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        s.mailbox.limits = toml::from_str("max_depth = 5000\nmax_parts = 0\nmax_decoded_bytes = 1024").unwrap();
        let keys: Vec<String> = s.problems().into_iter().map(|(k, _)| k).collect();
        let expected = ["mailbox.limits.max_depth", "mailbox.limits.max_parts", "mailbox.limits.max_decoded_bytes"];
        assert_eq!(keys, expected);
    }
}
