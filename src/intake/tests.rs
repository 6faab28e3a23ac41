//! Whole-message reading: the corpus's fixtures, and hostile input.

use std::path::Path;

use super::*;

fn settings() -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    Settings::load(&path).expect("example config")
}

fn fixture(n: u32) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/corpus/{n:03}.eml"));
    std::fs::read(path).expect("fixture")
}

#[test]
fn reply_text_is_the_replys_own_text() {
    let settings = settings();
    let foxmail = parse(&fixture(35), &settings);
    assert_eq!(foxmail.reply_text, "处理结果：已更换主板，客户确认正常。\n费用全免。");
    let qq_html = parse(&fixture(41), &settings);
    assert_eq!(qq_html.reply_text, "已联系用户，今天下午上门处理漏水。\n\n成都武侯服务站");
    let thunderbird_html = parse(&fixture(59), &settings);
    assert_eq!(thunderbird_html.reply_text, "已解决：已更换工程师重新上门并道歉。");
    let gmail = parse(&fixture(44), &settings);
    assert_eq!(gmail.reply_text, "Contacted the customer, laptop will be returned on Friday.");
}

#[test]
fn references_are_newest_first_without_brackets() {
    let parsed = parse(&fixture(39), &settings());
    assert_eq!(
        parsed.references,
        [
            "TS-20261117-0003.result.m4n5b6@hq.example.test",
            "reply.035@stations.example.test",
            "TS-20261117-0003.forward.k3j9x2@hq.example.test",
        ]
    );
}

#[test]
fn attachments_keep_their_bytes() {
    let parsed = parse(&fixture(21), &settings());
    assert_eq!(parsed.attachments.len(), 1);
    assert!(parsed.attachments[0].data.starts_with(b"\xff\xd8\xff\xe0JFIF"));
    assert_eq!(parsed.attachments[0].size, parsed.attachments[0].data.len());
}

#[test]
fn json_has_exactly_the_contract_keys() {
    let json = parse(&fixture(4), &settings()).to_json();
    let mut keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action",
            "action_line",
            "attachments",
            "fields",
            "from",
            "kind",
            "message_id",
            "problems",
            "routed_to",
            "subject",
            "ticket"
        ]
    );
}

/// Deterministic pseudo-random bytes, so a failure reproduces.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// Calls the parser without its panic guard, so a panic fails the test.
fn parse_unguarded(raw: &[u8], settings: &Settings) {
    let parsed = parse_message(raw, settings);
    assert!(parsed.reply_text.len() <= text::MAX_TEXT_BYTES * 2);
}

#[test]
fn garbage_truncated_and_huge_inputs_do_not_panic() {
    let settings = settings();
    for seed in 0..200 {
        parse_unguarded(&noise(seed, (seed as usize * 37) % 3000), &settings);
    }
    for n in [4, 8, 11, 12, 21, 22, 41, 48, 49] {
        let raw = fixture(n);
        for cut in (0..raw.len()).step_by(7) {
            parse_unguarded(&raw[..cut], &settings);
        }
    }

    let mut deep = String::new();
    for i in 0..2000 {
        deep.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
    }
    parse_unguarded(deep.as_bytes(), &settings);

    let mut nested = "Subject: x\r\n\r\n紧急程度：一般\r\n".as_bytes().to_vec();
    for _ in 0..50 {
        let mut outer = b"Content-Type: message/rfc822\r\n\r\n".to_vec();
        outer.extend_from_slice(&nested);
        nested = outer;
    }
    parse_unguarded(&nested, &settings);

    let mut huge = b"Content-Type: text/html\r\n\r\n".to_vec();
    huge.extend("<style><tr><td>紧急程度<td>".repeat(200_000).as_bytes());
    huge.extend("<".repeat(1_000_000).as_bytes());
    parse_unguarded(&huge, &settings);

    let mut lines = b"Subject: Re: [TS-20261116-0001]\r\n\r\n".to_vec();
    lines.extend("投诉内容：".repeat(1_000_000).as_bytes());
    lines.extend("\n>".repeat(500_000).as_bytes());
    lines.extend("发件人: x\n".repeat(100_000).as_bytes());
    parse_unguarded(&lines, &settings);
    parse_unguarded(&[], &settings);
    parse_unguarded(b"\r\n\r\n", &settings);
}

#[test]
fn a_bomb_in_an_encoded_forward_is_refused_on_a_parse_threads_stack() {
    // The daemon parses on 2 MiB threads: the nesting hidden in base64 must
    // be refused before mail-parser builds (and recursively drops) it.
    let bomb = super::limits::tests::encoded_forward(&super::limits::tests::nested_rfc822(35_000), "base64");
    let settings = settings();
    let parsed = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || parse(&bomb, &settings))
        .expect("thread")
        .join()
        .expect("no overflow");
    assert_eq!(parsed.problems, vec!["MIME nesting deeper than 20 levels".to_owned()]);
}
