//! The desk board at scale: 100 000 tickets (stations, states, urgencies,
//! deadlines, some overdue, mail in and out and events for each) bulk-loaded
//! into SQLite, the real release daemon serving the board, a user logged in
//! over HTTP, and the "now" page and ticket pages timed from a plain client.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use complaintd::app::App;
use complaintd::clock::Clock;
use complaintd::config::Settings;
use complaintd::store::{Store, to_ms};

use crate::rig::{Daemon, Dist, Lab, Network, remove_database, write_config};

const USER: &str = "wang";
const PASSWORD: &str = "bench board 2026";
/// One ticket a minute: 100 000 span about ten weeks.
const STEP_MS: i64 = 60_000;
/// The newest tickets still being worked on (about two days of intake).
const RECENT: i64 = 2_400;
/// Of the older ones, every this-many-th is still open (stragglers, overdue).
const STRAGGLER: i64 = 97;

#[derive(Debug, Serialize)]
pub struct BoardRun {
    pub tickets: usize,
    pub open: i64,
    pub overdue: i64,
    pub events: i64,
    pub outbox: i64,
    pub inbound: i64,
    /// Bulk-loading everything, seconds.
    pub load_secs: f64,
    /// The "now" page, milliseconds (request to last byte).
    pub now_ms: Dist,
    /// A ticket's page (random tickets, open and closed), milliseconds.
    pub ticket_ms: Dist,
    /// The "now" page's size, bytes.
    pub now_bytes: usize,
    /// /proc/loadavg before and after the timed requests.
    pub load_before: String,
    pub load_after: String,
}

/// Tickets `0 ≤ i < $1`, ticket `i` received at `$2 − ($1 − i)·$3` ms; `$4`
/// handler, `$5` the form's fields; open: the newest `$6` and every `$7`-th.
const TICKETS: &str = "
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $1),
t AS (SELECT i, $2 - ($1 - i) * $3 AS rcv,
             ($1 - i <= $6 OR i % $7 = 0) AS live,
             CASE WHEN i % 10 = 0 THEN 'urgent' WHEN i % 10 < 3 THEN 'expedited' ELSE 'normal' END AS urg
      FROM s)
INSERT INTO tickets (number, kind, status, urgency, station, handler, subject, complaint_no, category,
    customer_name, phone, service_order, fields, source_message_id, received_at, dispatched_at,
    reply_due, escalate_at, result_due, close_due, extension_cap, first_reply_at, result_at, closed_at,
    valid, next_alert_at)
SELECT printf('TS-%s-%04d', strftime('%Y%m%d', (rcv + 28800000) / 1000, 'unixepoch'),
              ((rcv + 28800000) % 86400000) / $3 + 1),
    'complaint',
    CASE WHEN i % 211 = 0 AND live THEN 'unrouted' WHEN NOT live THEN 'closed' WHEN i % 53 = 0 THEN 'returned'
         WHEN i % 4 = 1 THEN 'contacted' WHEN i % 4 = 2 THEN 'resolved' ELSE 'open' END,
    urg,
    CASE WHEN i % 211 = 0 AND live THEN NULL ELSE
      CASE i % 5 WHEN 0 THEN 'BJ01' WHEN 1 THEN 'SH02' WHEN 2 THEN 'GZ03' WHEN 3 THEN 'CD04' ELSE 'HK05' END END,
    $4, '投诉转出-马丽' || i, 'HC' || i, '服务类-服务质量-维修周期', '马丽', printf('139%08d', i), 'SO-' || i, $5,
    'bench.' || i || '@hq.example.test', rcv, rcv,
    rcv + CASE urg WHEN 'urgent' THEN 14400000 WHEN 'expedited' THEN 86400000 ELSE 172800000 END,
    rcv + CASE urg WHEN 'normal' THEN 259200000 ELSE CASE urg WHEN 'urgent' THEN 14400000 ELSE 86400000 END END,
    rcv + 172800000, rcv + 259200000, rcv + 432000000,
    CASE WHEN NOT live OR i % 4 IN (1, 2) THEN rcv + 3600000 END,
    CASE WHEN NOT live OR i % 4 = 2 THEN rcv + 86400000 END,
    CASE WHEN NOT live THEN rcv + 172800000 END,
    CASE WHEN NOT live THEN (i % 7 <> 0) END,
    -- No alert planned: the daemon's sweep stays quiet while pages are timed.
    NULL
FROM t";

/// Per ticket: the complaint in, and for a worked one the station's reply.
const INBOUND: &str = "
INSERT INTO inbound (mailbox, uidvalidity, uid, message_id, sender, subject, kind, ticket, outcome, received_at)
SELECT 'INBOX', 1, rowid, source_message_id, handler, subject, 'complaint', number, 'handled', received_at
FROM tickets;
INSERT INTO inbound (mailbox, uidvalidity, uid, message_id, sender, subject, kind, ticket, outcome, received_at)
SELECT 'INBOX', 2, rowid, 'reply.' || number || '@stations.example.test', 'station@stations.example.test',
       'Re: [' || number || '] ' || subject, 'reply', number, 'handled', first_reply_at
FROM tickets WHERE first_reply_at IS NOT NULL;";

/// Per ticket: received and forwarded, the reply's action, the close.
const EVENTS: &str = "
INSERT INTO events (ticket, at, kind, actor, message_id, detail)
SELECT number, received_at, 'received', handler, source_message_id, NULL FROM tickets;
INSERT INTO events (ticket, at, kind, actor, message_id, detail)
SELECT number, received_at, 'forwarded', NULL, source_message_id, station FROM tickets WHERE station IS NOT NULL;
INSERT INTO events (ticket, at, kind, actor, message_id, detail)
SELECT number, first_reply_at, 'reply:contacted', 'station@stations.example.test',
       'reply.' || number || '@stations.example.test', '已联系客户' || char(10) || '已电话联系，约定明日上门。'
FROM tickets WHERE first_reply_at IS NOT NULL;
INSERT INTO events (ticket, at, kind, actor, message_id, detail)
SELECT number, closed_at, 'reply:close', handler, NULL, '结案' FROM tickets WHERE closed_at IS NOT NULL;";

/// Per ticket: the forward and the acknowledgement (sent), the reply passed
/// to the handler; a short body (the pages never read it).
const OUTBOX: &str = "
INSERT INTO outbox (key, ticket, message_id, envelope_from, recipients, subject, body, created_at,
                    next_attempt_at, attempts, sent_at)
SELECT number || ':forward:' || source_message_id, number, 'fwd.' || number || '@desk.example.test',
       'complaints@hq.example.test', '[\"station@stations.example.test\"]', '[' || number || '] ' || subject,
       randomblob(600), received_at, received_at, 1, received_at + 2000
FROM tickets WHERE station IS NOT NULL;
INSERT INTO outbox (key, ticket, message_id, envelope_from, recipients, subject, body, created_at,
                    next_attempt_at, attempts, sent_at)
SELECT number || ':ack:' || source_message_id, number, 'ack.' || number || '@desk.example.test',
       'complaints@hq.example.test', json_array(handler), '[' || number || '] 已受理', randomblob(400),
       received_at, received_at, 1, received_at + 2000
FROM tickets;
INSERT INTO outbox (key, ticket, message_id, envelope_from, recipients, subject, body, created_at,
                    next_attempt_at, attempts, sent_at)
SELECT number || ':reply:reply.' || number || '@stations.example.test', number, 'rel.' || number || '@desk.example.test',
       'complaints@hq.example.test', json_array(handler), 'Re: [' || number || '] ' || subject, randomblob(500),
       first_reply_at, first_reply_at, 1, first_reply_at + 2000
FROM tickets WHERE first_reply_at IS NOT NULL;";

async fn count(p: &sqlx::SqlitePool, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(p).await?)
}

/// Loads `n` tickets and their mail into the database of `settings`.
async fn seed(settings: &Settings, n: usize) -> anyhow::Result<(Store, f64)> {
    // The schema, and the calendar years recorded, as the daemon leaves them.
    let app = App::build(settings.clone(), Clock::System).await?;
    let store = app.store.clone();
    let Store::Sqlite(p) = &store else { bail!("the board benchmark runs on SQLite") };
    let handler = settings.desk.handlers.first().context("a handler")?.address().to_owned();
    let fields = {
        let raw = Network { prefix: "x".into() }.complaint(1, crate::rig::STATIONS[0]);
        serde_json::to_string(&complaintd::intake::parse(&raw, settings).fields)?
    };
    let started = Instant::now();
    sqlx::query(TICKETS)
        .bind(n as i64)
        .bind(to_ms(chrono::Utc::now()))
        .bind(STEP_MS)
        .bind(&handler)
        .bind(&fields)
        .bind(RECENT)
        .bind(STRAGGLER)
        .execute(p)
        .await
        .context("tickets")?;
    for (what, sql) in [("inbound", INBOUND), ("events", EVENTS), ("outbox", OUTBOX)] {
        sqlx::raw_sql(sql).execute(p).await.context(what)?;
    }
    sqlx::query("ANALYZE").execute(p).await?;
    Ok((store, started.elapsed().as_secs_f64()))
}

/// One HTTP/1.1 request on a fresh connection; (status, headers, body).
async fn request(addr: &str, head: &str, body: &str) -> anyhow::Result<(u16, String, String)> {
    let mut tcp = TcpStream::connect(addr).await.with_context(|| format!("board at {addr}"))?;
    tcp.set_nodelay(true)?;
    let req = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    tcp.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    Ok((status, headers.to_owned(), body.to_owned()))
}

/// Logs in; returns the `Cookie` header line to send.
async fn log_in(addr: &str) -> anyhow::Result<String> {
    let form = format!("name={USER}&password={}", PASSWORD.replace(' ', "+"));
    let head =
        format!("POST /login HTTP/1.1\r\nOrigin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded");
    let (status, headers, _) = request(addr, &head, &form).await?;
    ensure!(status == 303, "login answered {status}: {headers}");
    let cookie = headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?;
    Ok(format!("Cookie: {cookie}"))
}

/// Milliseconds of `n` GETs of each path in turn; the last body's size.
async fn time_pages(addr: &str, cookie: &str, paths: &[String], n: usize) -> anyhow::Result<(Dist, usize)> {
    let mut ms = Vec::with_capacity(n);
    let mut size = 0;
    for k in 0..n {
        let path = &paths[k % paths.len()];
        let t = Instant::now();
        let (status, _, body) = request(addr, &format!("GET {path} HTTP/1.1\r\n{cookie}"), "").await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(status == 200, "{path} answered {status}");
        size = body.len();
    }
    Ok((Dist::of(&ms), size))
}

/// Appends an `[http]` section with one supervisor on a free port.
fn with_board(config: &Path) -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let hash = complaintd::cli::hash_password::hash(PASSWORD)?;
    let mut text = std::fs::read_to_string(config)?;
    text.push_str(&format!(
        "\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[[http.users]]\nname = \"{USER}\"\npassword_hash = \"{hash}\"\n\
         role = \"supervisor\"\naddress = \"supervisor@hq.example.test\"\n"
    ));
    std::fs::write(config, text)?;
    Ok(format!("127.0.0.1:{port}"))
}

pub async fn run(lab: &Lab, tickets: usize, requests: usize, work: &Path) -> anyhow::Result<BoardRun> {
    let net = Network::new("w");
    let dir = work.join(&net.prefix);
    let config = write_config(lab, &net, &dir)?;
    let addr = with_board(&config)?;
    let db = format!("sqlite://{}", dir.join("complaintd.db").display());
    let mut settings = Settings::load(&config)?;
    settings.database.url = db.clone();
    let (store, load_secs) = seed(&settings, tickets).await?;
    let Store::Sqlite(p) = &store else { bail!("SQLite") };
    let now = to_ms(chrono::Utc::now());
    let open = count(p, "SELECT COUNT(*) FROM tickets WHERE status <> 'closed'").await?;
    let overdue: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE status <> 'closed' AND first_reply_at IS NULL AND reply_due <= $1",
    )
    .bind(now)
    .fetch_one(p)
    .await?;
    let (events, outbox, inbound) = (
        count(p, "SELECT COUNT(*) FROM events").await?,
        count(p, "SELECT COUNT(*) FROM outbox").await?,
        count(p, "SELECT COUNT(*) FROM inbound").await?,
    );
    let sample: Vec<String> =
        sqlx::query_scalar("SELECT number FROM tickets ORDER BY random() LIMIT 100").fetch_all(p).await?;
    store.close().await;

    let daemon = Daemon::start(&config, &db, &dir.join("complaintd.log")).await?;
    let cookie = log_in(&addr).await?;
    let now_page = ["/board".to_owned()];
    let ticket_pages: Vec<String> = sample.iter().map(|n| format!("/board/ticket/{n}")).collect();
    // Warm the page cache and the statement caches first.
    time_pages(&addr, &cookie, &now_page, 3).await?;
    time_pages(&addr, &cookie, &ticket_pages, 3).await?;
    let load_before = crate::rig::loadavg();
    let (now_ms, now_bytes) = time_pages(&addr, &cookie, &now_page, requests).await?;
    let (ticket_ms, _) = time_pages(&addr, &cookie, &ticket_pages, requests).await?;
    let load_after = crate::rig::loadavg();
    daemon.stop()?;
    remove_database(&dir);
    Ok(BoardRun {
        tickets,
        open,
        overdue,
        events,
        outbox,
        inbound,
        load_secs,
        now_ms,
        ticket_ms,
        now_bytes,
        load_before,
        load_after,
    })
}
