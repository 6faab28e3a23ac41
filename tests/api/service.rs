//! The real binary under a service manager's eyes: `complaintd run` with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` set, as systemd starts a
//! `Type=notify` unit, tells READY=1, pets the watchdog while healthy, and
//! says STOPPING=1 on SIGTERM before it exits cleanly.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::net::UnixDatagram;

use crate::helpers::*;

/// The next notification, as its text (`READY=1`).
async fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), socket.recv(&mut buf))
        .await
        .expect("a notification within 20 s")
        .expect("notification read");
    String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_tells_systemd_ready_then_pets_the_watchdog_then_stopping() {
    let prefix = unique_prefix();
    let dir = std::env::temp_dir().join(format!("complaintd-notify-{prefix}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = private_config(&prefix, &format!("sqlite://{}", dir.join("complaintd.db").display()));
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("notify socket");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_complaintd"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");

    assert_eq!(next(&socket).await, "READY=1");
    // Pets twice per period once the workers run (intake is fresh at start).
    assert_eq!(next(&socket).await, "WATCHDOG=1");
    assert_eq!(next(&socket).await, "WATCHDOG=1");

    let term = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().expect("kill runs");
    assert!(term.success());
    let mut said = next(&socket).await;
    while said == "WATCHDOG=1" {
        said = next(&socket).await;
    }
    assert_eq!(said, "STOPPING=1");
    let status = tokio::task::spawn_blocking(move || daemon.wait()).await.expect("joined").expect("exit status");
    assert!(status.success(), "{status}");
}
