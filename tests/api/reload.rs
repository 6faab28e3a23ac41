//! SIGHUP to the real binary: a valid change (a new station) applies
//! without losing mail or the IMAP session; an invalid one is refused and
//! the running config stays.

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
    let mut daemon = start_daemon(&config);
    wait_for_log(&config, "complaintd running", 1).await;

    // Mail queued before the reload: one in the inbox as the signal comes.
    let send = |n: u32, form: &str| {
        let id = format!("{prefix}.{n}@hq.example.test");
        complaint_mail(&handler, &desk, &id, form)
    };
    smtp_send(&handler, &[&desk], &send(1, FORM_BJ01)).await;
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.clone() + &WH06.replace("PREFIX", &prefix)).unwrap();
    hangup(&daemon);
    wait_for_log(&config, "reload: applied", 1).await;
    smtp_send(&handler, &[&desk], &send(2, &form_wh06)).await;
    wait_for_count(&net.station("BJ01"), 1).await;
    wait_for_count(&wh06, 1).await;

    // A broken file: refused, the daemon keeps WH06 and keeps working.
    std::fs::write(&config, text.replace("[[stations]]", "[[stations]\n")).unwrap();
    hangup(&daemon);
    let log = wait_for_log(&config, "reload: refused", 1).await;
    assert!(log.contains("the running config stays"), "{log}");
    smtp_send(&handler, &[&desk], &send(3, &form_wh06)).await;
    wait_for_count(&wh06, 2).await;
    assert!(daemon.try_wait().expect("status").is_none(), "the daemon still runs");
    // One IMAP session for the whole run: the reloads kept it.
    let log = std::fs::read_to_string(config.with_file_name("daemon.log")).unwrap();
    assert_eq!(log.matches("intake: mailbox open").count(), 1, "{log}");
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");
    assert_eq!(mailbox(&desk, "INBOX").await.len(), 0, "nothing left behind");
    assert_eq!(mailbox(&desk, "Handled").await.len(), 3);
}
