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

/// POSTs the login form to the board with `headers`: status and headers.
async fn post_login(addr: std::net::SocketAddr, password: &str, headers: &[String]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let form = format!("name=wang&password={}", password.replace(' ', "+"));
    let mut request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        form.len()
    );
    for h in headers {
        request.push_str(&format!("{h}\r\n"));
    }
    request.push_str(&format!("\r\n{form}"));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("board accepts");
    tcp.write_all(request.as_bytes()).await.expect("sent");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_posted_from_another_site_is_refused() {
    let mut app = spawn_app_with("2026-11-16T01:30:00Z".parse().unwrap(), |s| {
        let users = vec![user("wang", BoardRole::Supervisor, s.desk.supervisor.clone())];
        s.http = Some(HttpSettings { listen: "127.0.0.1:0".parse().unwrap(), tls: false, users });
    })
    .await;
    let addr = app.board_addr.expect("board served");
    let own = format!("http://{addr}");
    // The right password, from a page of another site (login CSRF), with
    // an opaque origin, or from no page at all: refused before it is checked.
    for headers in [
        vec!["Origin: http://evil.example".to_owned()],
        vec!["Origin: null".to_owned()],
        vec![format!("Origin: {own}.evil.example")],
        vec![format!("Referer: http://evil.example/{addr}")],
        vec![],
    ] {
        let (status, text) = post_login(addr, PASSWORD, &headers).await;
        assert_eq!(status, 403, "{headers:?}: {text}");
        assert!(!text.to_ascii_lowercase().contains("set-cookie"), "{text}");
    }
    // From the board's own login page: logged in (Origin, or Referer alone).
    for header in [format!("Origin: {own}"), format!("Referer: {own}/login")] {
        let (status, text) = post_login(addr, PASSWORD, &[header]).await;
        assert_eq!(status, 303, "{text}");
        assert!(text.to_ascii_lowercase().contains("set-cookie: complaintd_board="), "{text}");
    }
    app.stop().await;
}
