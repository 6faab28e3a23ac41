//! Output hygiene through the real binary: escape sequences from mail never
//! reach the operator's terminal, a closed pipe ends a command quietly.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::*;

fn binary() -> std::ffi::OsString {
    std::env::var_os("COMPLAINTD_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_complaintd").into())
}

#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly() {
    let mut child = Command::new(binary())
        .args(["deadline", "--config"])
        .arg(root().join("config/example.toml"))
        .args(["--received", "2026-11-16T09:30:00+08:00", "--urgency", "urgent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // The reader goes away before anything is written (`… | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_sequences_from_mail_never_reach_the_terminal() {
    use base64::Engine as _;
    let prefix = unique_prefix();
    let db = test_settings(&prefix).await.database.url;
    let config = private_config(&prefix, &db);
    let net = Network { prefix: prefix.clone() };
    let (handler, desk) = (net.hq("liujia"), net.hq("complaints"));
    // OSC 52 (writes the clipboard), a screen clear and a forged line.
    let subject = "投诉\x1b]52;c;aGk=\x07\x1b[2J\r\n  2026-11-16 09:00  in    handled";
    let form = form_for_customer("H", 1).replace("马丽", "马丽\x1b[31m");
    let mut raw = complaint_mail(&handler, &desk, &format!("{prefix}.esc@hq.example.test"), &form);
    let encoded = base64::engine::general_purpose::STANDARD.encode(subject.as_bytes());
    let original = base64::engine::general_purpose::STANDARD.encode("投诉转出-马丽".as_bytes());
    raw = String::from_utf8(raw).expect("ascii").replace(&original, &encoded).into_bytes();
    append(&desk, "INBOX", &hq_signed(&raw)).await;
    let mut daemon = start_daemon(&config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&net.station("BJ01"), "INBOX").await < 1 {
        assert!(tokio::time::Instant::now() < deadline, "no forward");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
    let run = |args: &[&str]| {
        let out = Command::new(binary()).arg("tickets").arg("--config").arg(&config).args(args).output().expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let list = run(&["list"]);
    let number = list.lines().nth(1).and_then(|l| l.split_whitespace().next()).expect("a ticket").to_owned();
    let show = run(&["show", &number]);
    for out in [&list, &show] {
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "raw control characters:\n{out}");
    }
    assert!(show.contains("\\u{1b}]52"), "{show}");
    assert!(!show.lines().any(|l| l.starts_with("  2026-11-16 09:00  in")), "no forged timeline line:\n{show}");
}
