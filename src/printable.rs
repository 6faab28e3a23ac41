//! Text from mail made safe to print: control characters (terminal escape
//! sequences, OSC 52, bare line breaks that forge log lines) are shown as
//! `\u{..}` escapes instead of reaching a terminal or a log raw.

use std::borrow::Cow;

/// `s` with every control character except `\n` and `\t` escaped.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

/// `s` on one line: every control character, line breaks included, escaped.
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() || is_bidi(c)) && !keep(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bidirectional overrides, which reorder what a terminal shows.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reach_no_terminal() {
        assert_eq!(printable("ok 投诉"), "ok 投诉");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("\x1b]52;c;aGk=\x07"), "\\u{1b}]52;c;aGk=\\u{7}");
        assert_eq!(printable("line\nnext"), "line\nnext");
        assert_eq!(one_line("line\r\nfake"), "line\\u{d}\\u{a}fake");
        assert_eq!(printable("\u{202e}x"), "\\u{202e}x");
    }
}
