//! SIGHUP to the real binary: a valid change (a new station, a new Sent
//! copy address for the outbox) applies without losing mail or the IMAP
//! session; an invalid one (a broken file, a broken board page) is refused
//! and the running config stays.

use std::process::Command;
use std::time::Duration;

use crate::helpers::*;

const WH06: &str = "\n[[stations]]\ncode = \"WH06\"\nname = \"武汉洪山服务站\"\n\
emails = [\"PREFIX-station-wh06@stations.example.test\"]\nregions = [\"湖北\"]\n\
manager = \"PREFIX-manager-east@hq.example.test\"\n";

fn hangup(daemon: &std::process::Child) {
    let ok = Command::new("kill").args(["-HUP", &daemon.id().to_string()]).status().expect("kill runs").success();
    assert!(ok, "SIGHUP sent");
}

/// Waits until the daemon's log holds `n` lines with `what`.
async fn wait_for_log(config: &std::path::Path, what: &str, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(config.with_file_name("daemon.log")).unwrap_or_default();
        if log.matches(what).count() >= n {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {what:?} in the log:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A copy of the shipped templates (the board's pages too) under `dir`.
fn copy_templates(dir: &std::path::Path) -> std::path::PathBuf {
    let to = dir.join("templates");
    for sub in ["", "board"] {
        std::fs::create_dir_all(to.join(sub)).expect("dir");
        for entry in std::fs::read_dir(root().join("templates").join(sub)).expect("templates") {
            let entry = entry.expect("entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(sub).join(entry.file_name())).expect("copy");
            }
        }
    }
    to
}

async fn wait_for_count(user: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(user, "INBOX").await < n {
        assert!(tokio::time::Instant::now() < deadline, "{user}: fewer than {n} mails");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_station_applies_on_sighup_and_a_broken_config_is_refused() {
    let prefix = unique_prefix();
    let db = test_settings(&prefix).await.database.url;
    let config = private_config(&prefix, &db);
    let net = Network { prefix: prefix.clone() };
    let (handler, desk) = (net.hq("liujia"), net.hq("complaints"));
    let wh06 = net.station("WH06");
    let form_wh06 =
        FORM_BJ01.replace("BJ01 北京海淀服务站", "WH06 武汉洪山服务站").replace("北京市海淀区", "湖北省武汉市");
    // The board served (its pages checked on reload), from a copy of the templates.
    let templates = copy_templates(config.parent().expect("dir"));
    let hash = complaintd::cli::hash_password::hash("pw").expect("hash");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("\"{}\"", root().join("templates").display()), &format!("\"{}\"", templates.display()))
        + &format!(
            "\n[http]\nlisten = \"127.0.0.1:0\"\n[[http.users]]\nname = \"wang\"\npassword_hash = \"{hash}\"\n\
         role = \"supervisor\"\naddress = \"{prefix}-supervisor@hq.example.test\"\n"
        );
    std::fs::write(&config, &text).unwrap();
    let mut daemon = start_daemon(&config);
    wait_for_log(&config, "complaintd running", 1).await;

    // Mail queued before the reload: one in the inbox as the signal comes.
    let send = |n: u32, form: &str| {
        let id = format!("{prefix}.{n}@hq.example.test");
        complaint_mail(&handler, &desk, &id, form)
    };
    smtp_send(&handler, &[&desk], &send(1, FORM_BJ01)).await;
    // WH06, and the outbox's Bcc copies to the supervisor from now on.
    let supervisor = net.hq("supervisor");
    let reloaded = text.replace(
        &format!("sent_copy = \"{prefix}-complaints+Sent@hq.example.test\""),
        &format!("sent_copy = \"{supervisor}\""),
    );
    assert_ne!(reloaded, text, "sent_copy replaced");
    std::fs::write(&config, reloaded.clone() + &WH06.replace("PREFIX", &prefix)).unwrap();
    hangup(&daemon);
    wait_for_log(&config, "reload: applied", 1).await;
    smtp_send(&handler, &[&desk], &send(2, &form_wh06)).await;
    wait_for_count(&net.station("BJ01"), 1).await;
    wait_for_count(&wh06, 1).await;
    // The outbox sent the next mail with the reloaded setting: the copy of
    // WH06's forward went to the new address.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !mailbox(&supervisor, "INBOX").await.iter().any(|m| m.to.iter().any(|t| t == &wh06)) {
        assert!(tokio::time::Instant::now() < deadline, "no copy of WH06's forward for {supervisor}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken file: refused, the daemon keeps WH06 and keeps working.
    std::fs::write(&config, text.replace("[[stations]]", "[[stations]\n")).unwrap();
    hangup(&daemon);
    let log = wait_for_log(&config, "reload: refused", 1).await;
    assert!(log.contains("the running config stays"), "{log}");
    smtp_send(&handler, &[&desk], &send(3, &form_wh06)).await;
    wait_for_count(&wh06, 2).await;

    // A board page with a misspelt key: refused, the daemon keeps its pages.
    let now_page = templates.join("board/now.html");
    std::fs::write(&config, reloaded + &WH06.replace("PREFIX", &prefix)).unwrap();
    let page = std::fs::read_to_string(&now_page).unwrap();
    std::fs::write(&now_page, page.replace("page.open", "page.opne")).unwrap();
    hangup(&daemon);
    let log = wait_for_log(&config, "reload: refused", 2).await;
    assert!(log.contains("board page now.html"), "{log}");
    assert!(daemon.try_wait().expect("status").is_none(), "the daemon still runs");
    // One IMAP session for the whole run: the reloads kept it.
    let log = std::fs::read_to_string(config.with_file_name("daemon.log")).unwrap();
    assert_eq!(log.matches("intake: mailbox open").count(), 1, "{log}");
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
    assert_eq!(mailbox(&desk, "INBOX").await.len(), 0, "nothing left behind");
    assert_eq!(mailbox(&desk, "Handled").await.len(), 3);
}
