//! Limits checked on the raw bytes before a message reaches the MIME parser.
//!
//! mail-parser recurses once per nested multipart and `message/rfc822` part,
//! so a crafted mail of a few megabytes can exhaust any thread's stack; that
//! abort cannot be caught. This scan is linear, allocates little and never
//! recurses: it bounds the parts, the nesting, the headers and the From
//! count, and refuses (with the reason) what exceeds them.

pub use crate::config::ParseLimits;

/// Why a message is refused before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    #[error("MIME nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} MIME parts")]
    TooManyParts(usize),
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("header larger than {0} bytes")]
    HeaderTooLarge(usize),
    #[error("decoded content larger than {0} bytes")]
    DecodedTooLarge(usize),
    #[error("no From header")]
    NoFrom,
    #[error("{0} From headers (exactly one is allowed)")]
    SeveralFrom(usize),
}

/// A message read from its header alone (refused, or given up on): who
/// sent it, its subject and Message-ID, and `reason` as its one problem.
/// The header is cut at the first blank line and at the header limit, and
/// parsed without its body, so nothing in it can recurse.
pub fn refused(raw: &[u8], reason: &str) -> super::Parsed {
    let limit = ParseLimits::default().max_header_bytes;
    let head = &raw[..raw.len().min(limit)];
    let end = find_ci(head, b"\r\n\r\n").or_else(|| find_ci(head, b"\n\n")).map_or(head.len(), |e| e + 2);
    let mut parsed = super::Parsed::unrecognized(reason);
    if let Some(header) = mail_parser::MessageParser::new().parse_headers(&head[..end]) {
        // The first From: the one an MX checking DMARC looks at.
        parsed.from = header
            .header_values("From")
            .find_map(|v| v.as_address()?.first()?.address.as_ref().map(|a| a.to_lowercase()))
            .unwrap_or_default();
        parsed.subject = header.subject().unwrap_or_default().to_owned();
        parsed.message_id = header.message_id().map(str::to_owned);
    }
    parsed
}

/// Whether a message was sent by a machine or a list (RFC 3834 section 2:
/// `Auto-Submitted` other than `no`, `List-Id`, `Precedence` list, bulk or
/// junk): such mail is never answered.
pub fn do_not_answer(message: &mail_parser::Message<'_>) -> bool {
    let text = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    let auto = text("Auto-Submitted").is_some_and(|v| !v.is_empty() && !v.starts_with("no"));
    let precedence = text("Precedence").is_some_and(|v| ["list", "bulk", "junk"].iter().any(|p| v.starts_with(p)));
    auto || precedence || message.header_raw("List-Id").is_some()
}

/// Lines of `raw`, each without its line ending.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    raw.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The field name of a header line (`None` for a continuation line).
fn field_name(line: &[u8]) -> Option<&[u8]> {
    if line.first().is_none_or(|b| *b == b' ' || *b == b'\t') {
        return None;
    }
    let colon = line.iter().position(|b| *b == b':')?;
    Some(line[..colon].trim_ascii())
}

/// Case-insensitive search of `needle` (lowercase ASCII) in `hay`.
fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// The `boundary=` parameter of a Content-Type value, if any.
fn boundary_of(value: &[u8]) -> Option<Vec<u8>> {
    let at = find_ci(value, b"boundary")?;
    let rest = value[at + 8..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let b = if let Some(quoted) = rest.strip_prefix(b"\"") {
        &quoted[..quoted.iter().position(|b| *b == b'"').unwrap_or(quoted.len())]
    } else {
        let end = rest.iter().position(|b| matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(rest.len());
        &rest[..end]
    };
    (!b.is_empty()).then(|| b.to_vec())
}

/// What a level of nesting is: a multipart body (closed by its boundary) or
/// a `message/rfc822` part (closed with the part that holds it).
#[derive(PartialEq, Eq)]
enum Level {
    /// The boundary, and whether it is a `multipart/digest`, whose parts
    /// without a Content-Type are messages.
    Multipart(Vec<u8>, bool),
    Message,
}

/// A header field whose value the scan needs, read over its folded lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    ContentType,
    TransferEncoding,
}

/// A body encoding mail-parser undoes before it parses a `message/rfc822`
/// part's content as a message of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoded {
    Base64,
    QuotedPrintable,
}

/// mail-parser parses what it decodes from an encoded `message/rfc822` part
/// (and that one's, and so on) up to three levels deep; each such level is
/// scanned decoded too, since its structure cannot be seen in the raw bytes.
const ENCODED_LEVELS: usize = 3;

/// Checks `raw` against `limits` in one pass over its lines (and one over
/// each decoded `message/rfc822` part, at most three levels of them),
/// without recursing on the mail's own structure.
///
/// Nesting is tracked as a stack: a Content-Type with a boundary or of
/// `message/rfc822` opens a level; a delimiter line of an open boundary
/// closes every level opened inside it. Content-Type lines in a text body
/// count too, so the depth can only be overestimated, never missed.
pub fn screen(raw: &[u8], limits: &ParseLimits) -> Result<(), Refusal> {
    let mut parts = 0;
    match scan(raw, limits, 0, ENCODED_LEVELS, &mut parts)? {
        1 => Ok(()),
        0 => Err(Refusal::NoFrom),
        n => Err(Refusal::SeveralFrom(n)),
    }
}

/// Scans one message (the mail, or a decoded part `depth` levels inside it)
/// and returns how many From fields its own header has.
fn scan(
    raw: &[u8],
    limits: &ParseLimits,
    depth: usize,
    encoded_left: usize,
    parts: &mut usize,
) -> Result<usize, Refusal> {
    let (mut headers, mut header_bytes, mut froms) = (0usize, 0usize, 0usize);
    let mut in_top_header = true;
    let mut stack: Vec<Level> = Vec::new();
    // The field being read (it may be folded over several lines).
    let mut field: Option<(Field, Vec<u8>)> = None;
    // Whether a line is in a header (the message's, a part's or a nested
    // message's), and what that header says of its body.
    let mut in_header = true;
    let (mut is_message, mut encoded, mut typed, mut in_digest) = (false, None, false, false);
    // The body of an encoded message part, collected up to its delimiter.
    let mut collected: Option<(Encoded, Vec<u8>)> = None;
    let finish = |field: &mut Option<(Field, Vec<u8>)>,
                  stack: &mut Vec<Level>,
                  is_message: &mut bool,
                  encoded: &mut Option<Encoded>|
     -> Result<(), Refusal> {
        let Some((name, value)) = field.take() else { return Ok(()) };
        if name == Field::TransferEncoding {
            // Its first token: comments or parameters do not hide it.
            let value = value.trim_ascii_start();
            let end = value.iter().position(|b| matches!(b, b' ' | b'\t' | b';' | b'(')).unwrap_or(value.len());
            let value = &value[..end];
            *encoded = if value.eq_ignore_ascii_case(b"base64") {
                Some(Encoded::Base64)
            } else if value.eq_ignore_ascii_case(b"quoted-printable") {
                Some(Encoded::QuotedPrintable)
            } else {
                None
            };
            return Ok(());
        }
        let level = match boundary_of(&value) {
            Some(b) => Level::Multipart(b, find_ci(&value, b"digest").is_some()),
            None if find_ci(&value, b"message/rfc822").is_some() || find_ci(&value, b"message/global").is_some() => {
                *is_message = true;
                Level::Message
            }
            None => return Ok(()),
        };
        push_level(stack, level, depth, limits)
    };
    for line in lines(raw) {
        let delimiter = delimiter_of(line, &stack);
        if let Some((how, body)) = collected.as_mut() {
            if delimiter.is_none() {
                body.extend_from_slice(line);
                body.push(b'\n');
                continue;
            }
            let (how, body) = (*how, std::mem::take(body));
            collected = None;
            if let Some(decoded) = decode(how, &body) {
                scan(&decoded, limits, depth + stack.len(), encoded_left - 1, parts)?;
            }
        }
        if in_top_header && depth == 0 {
            header_bytes += line.len() + 2;
            if header_bytes > limits.max_header_bytes {
                return Err(Refusal::HeaderTooLarge(limits.max_header_bytes));
            }
        }
        if in_top_header {
            if line.is_empty() {
                in_top_header = false;
            } else if let Some(name) = field_name(line) {
                headers += 1;
                if depth == 0 && headers > limits.max_headers {
                    return Err(Refusal::TooManyHeaders(limits.max_headers));
                }
                if name.eq_ignore_ascii_case(b"from") {
                    froms += 1;
                }
            }
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some((_, value)) = field.as_mut() {
                value.extend_from_slice(line);
                // A folded value cannot legitimately grow without bound.
                if value.len() > 4096 {
                    finish(&mut field, &mut stack, &mut is_message, &mut encoded)?;
                }
            }
            continue;
        }
        finish(&mut field, &mut stack, &mut is_message, &mut encoded)?;
        let name = field_name(line);
        if name.is_some_and(|n| n.eq_ignore_ascii_case(b"content-type")) {
            typed |= in_header;
            field = Some((Field::ContentType, value_of(line).to_vec()));
        } else if in_header && name.is_some_and(|n| n.eq_ignore_ascii_case(b"content-transfer-encoding")) {
            field = Some((Field::TransferEncoding, value_of(line).to_vec()));
        } else if let Some((at, closing)) = delimiter {
            *parts += 1;
            if *parts > limits.max_parts {
                return Err(Refusal::TooManyParts(limits.max_parts));
            }
            in_digest = matches!(stack[at], Level::Multipart(_, true));
            stack.truncate(if closing { at } else { at + 1 });
            (in_header, is_message, encoded, typed) = (!closing, false, None, false);
        } else if in_header && line.is_empty() {
            // The header ends: a message part's body is a header again
            // (read on), or encoded (decoded and scanned on its own).
            if in_digest && !typed {
                is_message = true;
                push_level(&mut stack, Level::Message, depth, limits)?;
            }
            in_header = is_message && encoded.is_none();
            if is_message && encoded_left > 0 {
                collected = encoded.map(|how| (how, Vec::new()));
            }
            (is_message, encoded, typed, in_digest) = (false, None, false, false);
        }
    }
    if let Some((how, body)) = collected
        && let Some(decoded) = decode(how, &body)
    {
        scan(&decoded, limits, depth + stack.len(), encoded_left - 1, parts)?;
    }
    finish(&mut field, &mut stack, &mut is_message, &mut encoded)?;
    Ok(froms)
}

/// Opens a level `depth` levels inside the mail, if the limits allow it.
fn push_level(stack: &mut Vec<Level>, level: Level, depth: usize, limits: &ParseLimits) -> Result<(), Refusal> {
    stack.push(level);
    if depth + stack.len() > limits.max_depth { Err(Refusal::TooDeep(limits.max_depth)) } else { Ok(()) }
}

/// The value of a header line (after its colon).
fn value_of(line: &[u8]) -> &[u8] {
    &line[line.iter().position(|b| *b == b':').map_or(0, |c| c + 1)..]
}

/// Whether `line` is a delimiter of an open boundary: where in the stack
/// that boundary is, and whether it closes the multipart.
fn delimiter_of(line: &[u8], stack: &[Level]) -> Option<(usize, bool)> {
    let rest = line.strip_prefix(b"--")?.trim_ascii_end();
    let (name, closing) = match rest.strip_suffix(b"--") {
        Some(name) => (name, true),
        None => (rest, false),
    };
    let at = stack.iter().rposition(|l| matches!(l, Level::Multipart(b, _) if b == name))?;
    Some((at, closing))
}

/// A part's body decoded as mail-parser decodes it (`None` where it would
/// give up and keep the raw bytes, which the outer scan has read).
fn decode(how: Encoded, body: &[u8]) -> Option<Vec<u8>> {
    match how {
        Encoded::QuotedPrintable => mail_parser::decoders::quoted_printable::quoted_printable_decode(body),
        Encoded::Base64 => {
            // mail-parser's MIME decoder skips `-` as well as white space.
            let kept: Vec<u8> = body.iter().copied().filter(|b| *b != b'-').collect();
            mail_parser::decoders::base64::base64_decode(&kept)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn mail(header: &str, body: &str) -> Vec<u8> {
        format!("{header}\r\n\r\n{body}").into_bytes()
    }

    /// `levels` message/rfc822 parts, each inside the one before.
    pub(crate) fn nested_rfc822(levels: usize) -> Vec<u8> {
        let mut out = b"From: a@example.com\r\nSubject: bomb\r\n".to_vec();
        for _ in 0..levels {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\n");
        }
        out.extend_from_slice(b"\r\nend\r\n");
        out
    }

    #[test]
    fn refused_mail_keeps_its_first_sender() {
        let m = mail("From: A@example.com\r\nFrom: b@example.com\r\nSubject: hi\r\nMessage-ID: <x@y>", "body");
        let p = refused(&m, "two");
        assert_eq!(
            (p.from.as_str(), p.subject.as_str(), p.message_id.as_deref()),
            ("a@example.com", "hi", Some("x@y"))
        );
        assert_eq!(p.problems, vec!["two".to_owned()]);
    }

    #[test]
    fn a_plain_mail_passes() {
        let m = mail("From: a@example.com\r\nSubject: hi", "hello");
        assert_eq!(screen(&m, &ParseLimits::default()), Ok(()));
    }

    #[test]
    fn from_must_be_there_once() {
        let none = mail("Subject: hi", "x");
        assert_eq!(screen(&none, &ParseLimits::default()), Err(Refusal::NoFrom));
        let two = mail("From: a@example.com\r\nFrom: b@example.com", "x");
        assert_eq!(screen(&two, &ParseLimits::default()), Err(Refusal::SeveralFrom(2)));
        // A From inside the body or a forwarded part does not count.
        let inner = mail("From: a@example.com", "From: b@example.com\r\n");
        assert_eq!(screen(&inner, &ParseLimits::default()), Ok(()));
    }

    #[test]
    fn nesting_bombs_are_refused_quickly() {
        assert_eq!(screen(&nested_rfc822(35_000), &ParseLimits::default()), Err(Refusal::TooDeep(20)));
        let start = std::time::Instant::now();
        assert_eq!(screen(&nested_rfc822(150_000), &ParseLimits::default()), Err(Refusal::TooDeep(20)));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        // A forward of a forward is fine.
        assert_eq!(screen(&nested_rfc822(3), &ParseLimits::default()), Ok(()));
    }

    /// `inner` as the base64 or quoted-printable body of a message/rfc822
    /// part of a multipart mail.
    pub(crate) fn encoded_forward(inner: &[u8], encoding: &str) -> Vec<u8> {
        use base64::Engine;
        let body = match encoding {
            "base64" => base64::engine::general_purpose::STANDARD
                .encode(inner)
                .as_bytes()
                .chunks(76)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\r\n"),
            // Every byte escaped: nothing of the structure shows raw.
            _ => inner
                .chunks(25)
                .map(|c| c.iter().map(|b| format!("={b:02X}")).collect::<String>())
                .collect::<Vec<_>>()
                .join("=\r\n"),
        };
        let part = format!(
            "--x\r\nContent-Type: text/plain\r\n\r\nsee the forward\r\n--x\r\nContent-Type: message/rfc822\r\n\
             Content-Transfer-Encoding:\r\n {encoding}\r\n\r\n{body}\r\n--x--\r\n"
        );
        mail("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x", &part)
    }

    #[test]
    fn bombs_hidden_in_encoded_forwards_are_refused() {
        for encoding in ["base64", "quoted-printable"] {
            let bomb = encoded_forward(&nested_rfc822(5_000), encoding);
            assert_eq!(screen(&bomb, &ParseLimits::default()), Err(Refusal::TooDeep(20)), "{encoding}");
            // Three encoded levels, as deep as mail-parser decodes.
            let mut layered = nested_rfc822(30);
            for _ in 0..3 {
                layered = encoded_forward(&layered, encoding);
            }
            assert_eq!(screen(&layered, &ParseLimits::default()), Err(Refusal::TooDeep(20)), "{encoding}");
            // A forward of a forward, encoded, is fine; its From does not count.
            let fine = encoded_forward(&nested_rfc822(3), encoding);
            assert_eq!(screen(&fine, &ParseLimits::default()), Ok(()), "{encoding}");
        }
    }

    #[test]
    fn a_digests_untyped_encoded_parts_are_messages_too() {
        use base64::Engine;
        let inner = base64::engine::general_purpose::STANDARD.encode(nested_rfc822(5_000));
        let body = format!("--d\r\nContent-Transfer-Encoding: BASE64 (hidden)\r\n\r\n{inner}\r\n--d--\r\n");
        let m = mail("From: a@example.com\r\nContent-Type: multipart/digest; boundary=d", &body);
        assert_eq!(screen(&m, &ParseLimits::default()), Err(Refusal::TooDeep(20)));
    }

    #[test]
    fn nested_multiparts_count_as_levels() {
        let mut body = String::new();
        for i in 0..30 {
            body.push_str(&format!("--b{i}\r\nContent-Type: multipart/mixed;\r\n boundary=\"b{}\"\r\n\r\n", i + 1));
        }
        let m = mail("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0", &body);
        assert_eq!(screen(&m, &ParseLimits::default()), Err(Refusal::TooDeep(20)));
    }

    /// The deepest nesting check-config allows passes the screen and parses
    /// on the workers' 2 MiB stack, both kinds of level.
    #[test]
    fn the_deepest_allowed_nesting_parses_on_a_worker_stack() {
        let depth = crate::config::MAX_SAFE_DEPTH;
        let limits = ParseLimits { max_depth: depth, ..ParseLimits::default() };
        let mut body = String::new();
        for i in 0..depth - 1 {
            body.push_str(&format!("--b{i}\r\nContent-Type: multipart/mixed;\r\n boundary=\"b{}\"\r\n\r\n", i + 1));
        }
        let multiparts = mail("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b0", &body);
        for m in [nested_rfc822(depth), multiparts] {
            assert_eq!(screen(&m, &limits), Ok(()));
            let parsed = std::thread::Builder::new()
                .stack_size(2 * 1024 * 1024)
                .spawn(move || mail_parser::MessageParser::default().parse(&m).is_some())
                .expect("thread")
                .join()
                .expect("no overflow");
            assert!(parsed);
        }
    }

    #[test]
    fn sibling_forwards_are_not_depth() {
        let part = "--x\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\n\r\nhi\r\n";
        let body = format!("{}--x--\r\n", part.repeat(50));
        let m = mail("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x", &body);
        assert_eq!(screen(&m, &ParseLimits::default()), Ok(()));
    }

    #[test]
    fn parts_headers_and_header_size_are_bounded() {
        let body = "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n".repeat(1001);
        let m = mail("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x", &body);
        let limits = ParseLimits { max_depth: 2000, ..ParseLimits::default() };
        assert_eq!(screen(&m, &limits), Err(Refusal::TooManyParts(1000)));
        let many = format!("From: a@example.com\r\n{}", "X-A: 1\r\n".repeat(501));
        assert_eq!(screen(&mail(&many, ""), &ParseLimits::default()), Err(Refusal::TooManyHeaders(500)));
        let big = format!("From: a@example.com\r\nX-A: {}", "a".repeat(300 * 1024));
        assert_eq!(screen(&mail(&big, ""), &ParseLimits::default()), Err(Refusal::HeaderTooLarge(256 * 1024)));
    }
}
