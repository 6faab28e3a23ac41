//! The hostile backlog (issue 13): the clean backlog's complaints with big
//! mails and a nesting bomb among them, already waiting when the daemon
//! starts, and an urgent complaint sent once it runs. Timed like the clean
//! backlog (every forward in a station inbox); the urgent complaint from
//! Postfix's 250 to its forward in the station's inbox.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::backlog::{Counter, fill, station_inboxes};
use crate::rig::{Daemon, Lab, Network, STATIONS, Smtp, imap_login, remove_database, write_config};

#[derive(Debug, Serialize)]
pub struct Hostile {
    /// Complaints in the backlog.
    pub mails: usize,
    /// Big mails among them, and the size of each, bytes.
    pub big_mails: usize,
    pub big_bytes: usize,
    /// Levels and bytes of the nested message/rfc822 bomb.
    pub bomb_levels: usize,
    pub bomb_bytes: usize,
    /// Daemon start → every complaint's forward in a station inbox, seconds.
    pub desk_secs: f64,
    /// Complaints per second.
    pub desk_rate: f64,
    /// The urgent complaint, sent 1 s after the daemon started: Postfix's
    /// 250 → its forward readable in the station inbox, seconds.
    pub urgent_secs: f64,
    /// Peak resident memory of the daemon (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// CPU time the daemon used, seconds.
    pub desk_cpu_secs: f64,
}

/// A mail of about `bytes` from a handler: a complaint with a big attachment.
fn big_mail(net: &Network, seq: usize, bytes: usize) -> Vec<u8> {
    let (handler, _) = net.handler(seq);
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n";
    let mut mail = format!(
        "From: {handler}\r\nTo: {}\r\nSubject: big {seq}\r\nMessage-ID: <{}.big{seq}@hq.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n见附件。\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"scan.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        net.dispatch(),
        net.prefix
    )
    .into_bytes();
    while mail.len() < bytes {
        mail.extend_from_slice(line.as_bytes());
    }
    mail.extend_from_slice(b"--b--\r\n");
    mail
}

/// `levels` message/rfc822 parts, each inside the one before.
fn bomb(net: &Network, levels: usize) -> Vec<u8> {
    let (handler, _) = net.handler(0);
    let mut mail = format!(
        "From: {handler}\r\nTo: {}\r\nSubject: nested\r\nMessage-ID: <{}.bomb@hq.example.test>\r\nMIME-Version: 1.0\r\n",
        net.dispatch(),
        net.prefix
    )
    .into_bytes();
    for _ in 0..levels {
        mail.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    mail.extend_from_slice(b"Subject: x\r\n\r\nx\r\n");
    mail
}

/// The urgent complaint (紧急 in the form and the subject), to BJ01.
fn urgent(net: &Network) -> Vec<u8> {
    let (handler, handler_name) = net.handler(1);
    let form = format!(
        "投诉单号：HCURGENT\n紧急程度：紧急\n投诉分类：服务类-服务质量-维修周期\n服务站：BJ01 北京海淀服务站\n\
         客户姓名：王强\n联系电话：13700009999\n服务单号：SO-{}-URGENT\n所在地区：北京市海淀区\n\
         投诉内容：客户已联系媒体。\n客户诉求：今天上门。\n受理人：{handler_name}\n",
        net.prefix
    );
    format!(
        "From: {handler}\r\nTo: {}\r\nSubject: =?utf-8?B?{}?= urgent-{}\r\nMessage-ID: <{}.urgent@hq.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{form}",
        net.dispatch(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "【紧急】投诉转出".as_bytes()),
        net.prefix,
        net.prefix
    )
    .into_bytes()
}

pub async fn run(lab: &Lab, n: usize, big_mails: usize, work: &Path) -> anyhow::Result<Hostile> {
    let (big_bytes, bomb_levels) = (20 << 20, 35_000);
    let patience = Duration::from_secs(if n > 1000 { 900 } else { 300 });
    let net = Network::new("h");
    // The complaints, then the big mails and the bomb spread among them
    // (appended after: intake takes the backlog oldest first, so they sit
    // in front of the urgent one like every other waiting mail).
    fill(lab, &net, n).await.context("filling the shared mailbox")?;
    let mut s = imap_login(lab, &net.dispatch()).await?;
    for i in 0..big_mails {
        s.append("INBOX", None, None, big_mail(&net, i, big_bytes)).await?;
    }
    let bomb_mail = bomb(&net, bomb_levels);
    s.append("INBOX", None, None, &bomb_mail).await?;
    s.logout().await?;
    lab.wait_for_empty_queue(patience).await?;

    let dir = work.join(&net.prefix);
    let config = write_config(lab, &net, &dir)?;
    let db = format!("sqlite://{}", dir.join("complaintd.db").display());
    let mut stations = Counter::new(lab, &station_inboxes(&net)).await?;
    let mut bj01 = imap_login(lab, &net.station(STATIONS[0].0)).await?;
    bj01.select("INBOX").await?;
    let smtp = Smtp::new(lab, 1)?;
    let started = Instant::now();
    let daemon = Daemon::start(&config, &db, &dir.join("complaintd.log")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (handler, _) = net.handler(1);
    smtp.send(&handler, &net.dispatch(), &urgent(&net)).await?;
    let sent = Instant::now();
    // The forward's subject is the desk's own; its body carries the form.
    let query = "BODY \"13700009999\"".to_owned();
    let (mut urgent_secs, mut desk_secs) = (None, None);
    while urgent_secs.is_none() || desk_secs.is_none() {
        if started.elapsed() > patience {
            bail!("hostile backlog not done in {patience:?} (see {})", daemon.log.display());
        }
        if urgent_secs.is_none() && !bj01.uid_search(&query).await?.is_empty() {
            urgent_secs = Some(sent.elapsed().as_secs_f64());
        }
        if desk_secs.is_none() && stations.total().await? > n {
            desk_secs = Some(started.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let desk_cpu_secs = daemon.cpu_secs()?;
    let (_, peak_rss_kib) = daemon.rss_kib()?;
    daemon.stop()?;
    remove_database(&dir);
    let desk_secs = desk_secs.unwrap_or(f64::NAN);
    Ok(Hostile {
        mails: n,
        big_mails,
        big_bytes,
        bomb_levels,
        bomb_bytes: bomb_mail.len(),
        desk_secs,
        desk_rate: n as f64 / desk_secs,
        urgent_secs: urgent_secs.unwrap_or(f64::NAN),
        peak_rss_kib,
        desk_cpu_secs,
    })
}
