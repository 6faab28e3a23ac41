//! The desk board in a real browser, against the daemon on the lab: log in,
//! a fresh complaint within 2 s of its forward, its page, overdue after the
//! clock moves, a manager kept to their region, a wrong password refused.

use std::time::{Duration, Instant};

use complaintd::config::{BoardRole, BoardUser, HttpSettings};
use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::*;

const PASSWORD: &str = "看板 密码 2026";

fn user(name: &str, role: BoardRole, address: String) -> BoardUser {
    let password_hash = complaintd::cli::hash_password::hash(PASSWORD).expect("hash");
    BoardUser { name: name.into(), password_hash, role, address }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_board_shows_complaints_to_whom_they_concern() {
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        let net = |local: &str| s.desk.supervisor.replace("supervisor", local);
        let users = vec![
            user("wang", BoardRole::Supervisor, net("supervisor")),
            // East: SH02 only, not BJ01.
            user("zhao", BoardRole::Manager, net("manager-east")),
        ];
        s.http = Some(HttpSettings { listen: "127.0.0.1:0".parse().unwrap(), tls: false, users });
    })
    .await;
    let base = format!("http://{}", app.board_addr.expect("board served"));
    let b = Browser::start("board").await;

    // A wrong password is refused, and so is a page without a session.
    b.log_in(&base, "wang", "wrong").await;
    let err = b.client.find(Locator::Id("login-error")).await.expect("refused");
    assert_eq!(err.text().await.unwrap(), "用户名或密码错误");
    b.shot("01-login-refused").await;
    b.client.goto(&format!("{base}/board")).await.unwrap();
    assert!(b.client.current_url().await.unwrap().path() == "/login");

    b.log_in(&base, "wang", PASSWORD).await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/board");
    assert!(b.text().await.contains("当前投诉"));

    let (handler, desk, station) = (app.net.hq("liujia"), app.net.hq("complaints"), app.net.station("BJ01"));
    let id = format!("{}.1@hq.example.test", app.net.prefix);
    smtp_send(&handler, &[&desk], &complaint_mail(&handler, &desk, &id, FORM_BJ01)).await;
    wait_for_mail(&station, 1, |m| m.subject.contains("[TS-20261116-0001]")).await;
    let forwarded = Instant::now();
    loop {
        b.client.goto(&format!("{base}/board")).await.unwrap();
        let text = b.text().await;
        if text.contains("TS-20261116-0001") {
            break;
        }
        if forwarded.elapsed() >= Duration::from_secs(2) {
            b.shot("02-now-missing").await;
        }
        assert!(forwarded.elapsed() < Duration::from_secs(2), "not on the board 2 s after its forward: {text}");
    }
    assert!(forwarded.elapsed() < Duration::from_secs(2));
    b.shot("02-now").await;

    b.client.find(Locator::LinkText("TS-20261116-0001")).await.expect("link").click().await.unwrap();
    let text = b.text().await;
    assert!(text.contains("TS-20261116-0001") && text.contains("首次回复"), "{text}");
    assert!(text.contains(&handler) && text.contains(&station), "mail in and out: {text}");
    b.shot("03-ticket").await;

    // Expedited: the first reply was due 2026-11-17 09:30.
    app.set_local_time("2026-11-17 10:00");
    // A day without use ended the session (12 idle hours at most).
    b.client.goto(&format!("{base}/board")).await.unwrap();
    assert_eq!(b.client.current_url().await.unwrap().path(), "/login");
    b.log_in(&base, "wang", PASSWORD).await;
    b.shot("04-overdue").await;
    let page = b.text().await;
    let overdue = b.client.find(Locator::Css("#overdue + div table")).await.unwrap_or_else(|e| panic!("{e}: {page}"));
    let text = overdue.text().await.unwrap();
    assert!(text.contains("TS-20261116-0001") && text.contains("已超时"), "{text}");

    b.client.goto(&format!("{base}/board/search?q=13900002222")).await.unwrap();
    assert!(b.text().await.contains("TS-20261116-0001"));
    b.shot("05-search").await;
    b.client.goto(&format!("{base}/board/assessment?month=2026-11")).await.unwrap();
    b.client.find(Locator::Css("#chart svg")).await.expect("chart");
    b.shot("06-assessment").await;

    // The east region's manager sees nothing of Beijing's.
    b.client.find(Locator::Css("header button")).await.expect("logout").click().await.unwrap();
    b.log_in(&base, "zhao", PASSWORD).await;
    assert!(!b.text().await.contains("TS-20261116-0001"));
    b.client.goto(&format!("{base}/board/ticket/TS-20261116-0001")).await.unwrap();
    b.client.find(Locator::Id("missing")).await.expect("another region's ticket is not shown");
    b.shot("07-manager").await;

    b.close().await;
    app.stop().await;
}
