//! `spawn_app` and the lab clients the tests share.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use complaintd::app::App;
use complaintd::clock::Clock;
use complaintd::config::Settings;
use complaintd::store::Store;
use futures_util::TryStreamExt;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Where the lab listens (from `scripts/lab env`, with its defaults).
pub struct Lab {
    pub smtp: String,
    pub imap: String,
    /// IMAP with TLS from the first byte.
    pub imaps: String,
    /// The test CA that signed the lab's server certificate.
    pub ca: PathBuf,
    pub pg_url: String,
    /// The "station mail server" (signs d=stations.example.test).
    pub station_smtp: String,
    /// HQ's authenticated submission port (signs d=hq.example.test).
    pub submission: String,
    /// The lab's DNS server (the DKIM keys).
    pub dns: String,
    /// Where the lab's DKIM keys are.
    pub dkim_dir: PathBuf,
    /// The lab's Postfix configuration (for `postqueue`).
    pub postfix_dir: PathBuf,
}

pub fn lab() -> Lab {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    Lab {
        smtp: var("COMPLAINTD_LAB_SMTP", "127.0.0.1:10025"),
        imap: var("COMPLAINTD_LAB_IMAP", "127.0.0.1:10143"),
        imaps: var("COMPLAINTD_LAB_IMAPS", "127.0.0.1:10993"),
        ca: var("COMPLAINTD_LAB_CA", "/tmp/complaintd-lab/tls/ca.crt").into(),
        pg_url: var("COMPLAINTD_LAB_PG_URL", "postgres://postgres@127.0.0.1:15432/complaintd"),
        station_smtp: var("COMPLAINTD_LAB_STATION_SMTP", "127.0.0.1:10026"),
        submission: var("COMPLAINTD_LAB_SUBMISSION", "127.0.0.1:10587"),
        dns: var("COMPLAINTD_LAB_DNS", "127.0.0.1:10053"),
        dkim_dir: var("COMPLAINTD_LAB_DKIM_DIR", "/tmp/complaintd-lab/dkim").into(),
        postfix_dir: PathBuf::from(var("COMPLAINTD_LAB_DIR", "/tmp/complaintd-lab")).join("postfix"),
    }
}

/// The project's root, where config/ and templates/ live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A prefix no other test (or earlier run) uses, so each test has its own
/// mailboxes on the shared lab.
pub fn unique_prefix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let rand: String = std::iter::repeat_with(fastrand::lowercase).take(5).collect();
    format!("t{}{n}{rand}", std::process::id())
}

#[path = "../support/network.rs"]
mod network;
pub use network::Network;

fn prefix_address(prefix: &str, a: &str) -> String {
    if a.starts_with('@') { a.to_owned() } else { format!("{prefix}-{a}") }
}

/// config/example.toml with every address made private to `prefix`, the
/// lab's ports, and a fresh database.
pub async fn test_settings(prefix: &str) -> Settings {
    let mut s = Settings::load(&root().join("config/example.toml")).expect("example config loads");
    let lab = lab();
    let p = |a: &str| prefix_address(prefix, a);
    s.mailbox.server = lab.imap.clone();
    s.mailbox.user = p(&s.mailbox.user);
    s.mailbox.poll_seconds = 5;
    s.mailbox.password_env = None;
    s.mailbox.password = Some("lab".into());
    s.smtp.server = lab.smtp.clone();
    s.smtp.from = p(&s.smtp.from);
    s.smtp.sent_copy = s.smtp.sent_copy.as_deref().map(p);
    s.desk.dispatch_address = p(&s.desk.dispatch_address);
    s.desk.pre_report_addresses = s.desk.pre_report_addresses.iter().map(|a| p(a)).collect();
    s.desk.handlers = s.desk.handlers.iter().map(|h| h.map_address(p)).collect();
    s.desk.supervisor = p(&s.desk.supervisor);
    s.desk.channel_management = p(&s.desk.channel_management);
    for st in &mut s.stations {
        st.emails = st.emails.iter().map(|a| p(a)).collect();
        st.manager = p(&st.manager);
        st.backups = st.backups.iter().map(|a| p(a)).collect();
    }
    s.database.url = database_url(prefix).await;
    s.auth.resolver = Some(lab.dns.clone());
    // The desk signs as HQ's mail server would (the lab's key for hq).
    s.dkim = Some(complaintd::auth::DkimSettings {
        domain: "hq.example.test".into(),
        selector: std::env::var("COMPLAINTD_LAB_DKIM_SELECTOR").unwrap_or_else(|_| "lab".into()),
        key_file: lab.dkim_dir.join("hq.example.test.private"),
    });
    s
}

/// config/example.toml made private to `prefix`, with absolute paths.
pub fn private_config(prefix: &str, db: &str) -> std::path::PathBuf {
    let root = root();
    let mut text = std::fs::read_to_string(root.join("config/example.toml")).expect("example config");
    for local in [
        "complaints",
        "baobei",
        "liujia",
        "chenmin",
        "supervisor",
        "channel",
        "manager-north",
        "manager-east",
        "manager-south",
        "manager-west",
        "station-bj01",
        "station-bj01-backup",
        "station-sh02",
        "station-gz03",
        "station-cd04",
        "station-hk05",
    ] {
        for at in ["@", "+"] {
            text = text.replace(&format!("\"{local}{at}"), &format!("\"{prefix}-{local}{at}"));
        }
    }
    text = text
        .replace("\"../templates\"", &format!("\"{}\"", root.join("templates").display()))
        .replace("\"../data/calendar/cn.toml\"", &format!("\"{}\"", root.join("data/calendar/cn.toml").display()))
        .replace("sqlite://../var/complaintd.db", db);
    let lab = lab();
    text = text
        .replace("127.0.0.1:10143", &lab.imap)
        .replace("127.0.0.1:10025", &lab.smtp)
        .replace("127.0.0.1:10053", &lab.dns);
    let dir = std::env::temp_dir().join(format!("complaintd-config-{prefix}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// SQLite in a temp dir, or a fresh PostgreSQL database when
/// `COMPLAINTD_TEST_DB=postgres`.
async fn database_url(prefix: &str) -> String {
    if std::env::var("COMPLAINTD_TEST_DB").as_deref() == Ok("postgres") {
        postgres_database(prefix).await
    } else {
        let dir = std::env::temp_dir().join(format!("complaintd-test-{prefix}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        format!("sqlite://{}", dir.join("complaintd.db").display())
    }
}

/// A fresh database named `prefix` on the lab's PostgreSQL; its URL.
pub async fn postgres_database(prefix: &str) -> String {
    let admin = lab().pg_url;
    let pool = sqlx::PgPool::connect(&admin).await.expect("lab postgres is up (scripts/lab up)");
    let create = format!("CREATE DATABASE {prefix}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&pool).await.expect("create test database");
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{prefix}")
}

/// A daemon running in-process against the lab.
pub struct TestApp {
    pub net: Network,
    pub settings: Settings,
    pub clock: Clock,
    pub store: Store,
    /// Where `/metrics` and `/health` answer, when `[metrics]` is set.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where the desk board answers, when `[http]` has users.
    pub board_addr: Option<std::net::SocketAddr>,
    sweep_wake: Arc<Notify>,
    outbox_wake: Arc<Notify>,
    report_wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts a daemon on a private network, at `now` on a manual clock.
pub async fn spawn_app_at(now: DateTime<Utc>) -> TestApp {
    spawn_app_with(now, |_| {}).await
}

/// Like `spawn_app_at`, with the test's own changes to the settings.
pub async fn spawn_app_with(now: DateTime<Utc>, edit: impl FnOnce(&mut Settings)) -> TestApp {
    let prefix = unique_prefix();
    let mut settings = test_settings(&prefix).await;
    edit(&mut settings);
    start(Network { prefix }, settings, Clock::manual(now)).await
}

/// Starts a daemon on a private network and its own PostgreSQL database
/// (whatever `COMPLAINTD_TEST_DB` says), at a working-day morning.
pub async fn spawn_app_on_postgres() -> TestApp {
    spawn_app_on_postgres_with(Clock::manual("2026-11-16T01:30:00Z".parse().expect("date"))).await
}

/// Like [`spawn_app_on_postgres`], on the given clock (the outage tests
/// run on real time: their retries wait on it).
pub async fn spawn_app_on_postgres_with(clock: Clock) -> TestApp {
    let prefix = unique_prefix();
    let mut settings = test_settings(&prefix).await;
    settings.database.url = postgres_database(&format!("{prefix}pg")).await;
    start(Network { prefix }, settings, clock).await
}

/// Runs `scripts/lab ARGS` (e.g. `restart dovecot`) and checks it worked.
pub fn lab_script(args: &[&str]) {
    let status = std::process::Command::new(root().join("scripts/lab")).args(args).status().expect("scripts/lab runs");
    assert!(status.success(), "scripts/lab {args:?} failed");
}

/// Starts a daemon on a private network, on a manual clock set to a
/// working-day morning.
pub async fn spawn_app() -> TestApp {
    spawn_app_at("2026-11-16T01:30:00Z".parse().expect("date")).await
}

/// Starts a daemon on `net` with settings prepared by the test, on a
/// manual clock set to a working-day morning.
pub async fn spawn_app_on(net: Network, settings: Settings) -> TestApp {
    start(net, settings, Clock::manual("2026-11-16T01:30:00Z".parse().expect("date"))).await
}

async fn start(net: Network, settings: Settings, clock: Clock) -> TestApp {
    let app = App::build(settings.clone(), clock.clone()).await.expect("app builds");
    let store = app.store.clone();
    let metrics_addr = app.metrics_addr();
    let board_addr = app.board_addr();
    let (sweep_wake, outbox_wake, report_wake) =
        (app.sweep_wake.clone(), app.outbox_wake.clone(), app.report_wake.clone());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(app.run(stop_rx));
    TestApp {
        net,
        settings,
        clock,
        store,
        metrics_addr,
        board_addr,
        sweep_wake,
        outbox_wake,
        report_wake,
        stop,
        task: Some(task),
    }
}

impl TestApp {
    /// Stops the daemon and waits for its workers to finish.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app ran");
        }
    }

    /// Moves the daemon's clock to `to` (local time in Asia/Shanghai,
    /// `2026-11-16 14:31`) and lets the sweep and the outbox look at once.
    pub fn set_local_time(&self, to: &str) {
        let local = chrono::NaiveDateTime::parse_from_str(to, "%Y-%m-%d %H:%M").expect("local time");
        let at = local.and_local_timezone(chrono_tz::Asia::Shanghai).single().expect("unambiguous");
        self.clock.set(at.with_timezone(&Utc));
        self.sweep_wake.notify_one();
        self.outbox_wake.notify_one();
        self.report_wake.notify_one();
    }

    /// A second instance on the same network, database and clock.
    pub async fn twin(&self) -> TestApp {
        start(Network { prefix: self.net.prefix.clone() }, self.settings.clone(), self.clock.clone()).await
    }

    /// Ends the daemon abruptly, as a crash would: its tasks are dropped
    /// wherever they are, leases and half-done rounds left behind.
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Stops and starts again on the same database and clock, with the
    /// test's changes to the settings (a holiday file added).
    pub async fn restart_with(mut self, edit: impl FnOnce(&mut Settings)) -> TestApp {
        self.stop().await;
        let TestApp { net, mut settings, clock, .. } = self;
        edit(&mut settings);
        start(net, settings, clock).await
    }

    /// Stops and starts again on the same database and clock.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let TestApp { net, settings, clock, .. } = self;
        start(net, settings, clock).await
    }
}

/// Sends a raw message as its sender's own mail server would: a station's
/// through the station server (signed d=stations.example.test), HQ's
/// through the authenticated submission port (signed d=hq.example.test),
/// anything else (and bounces) from "the internet", unsigned. The desk
/// enforces authentication, so this is how genuine mail reaches it.
pub async fn smtp_send(from: &str, to: &[&str], raw: &[u8]) {
    let lab = lab();
    let domain = from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    match domain.as_str() {
        "stations.example.test" => smtp_send_via(&lab.station_smtp, None, from, to, raw).await,
        "hq.example.test" => smtp_send_via(&lab.submission, Some(from), from, to, raw).await,
        _ => smtp_send_plain(from, to, raw).await,
    }
}

/// `raw` DKIM-signed with the lab's key for hq.example.test, as HQ's mail
/// server signs it: for mail appended over IMAP (no server on the way)
/// that must still count as genuinely HQ's.
pub fn hq_signed(raw: &[u8]) -> Vec<u8> {
    let lab = lab();
    let dkim = complaintd::auth::DkimSettings {
        domain: "hq.example.test".into(),
        selector: std::env::var("COMPLAINTD_LAB_DKIM_SELECTOR").unwrap_or_else(|_| "lab".into()),
        key_file: "hq.example.test.private".into(),
    };
    let signer = complaintd::auth::Signer::load(&dkim, &lab.dkim_dir).expect("the lab's hq key");
    signer.sign(raw).expect("signed")
}

/// Sends a raw message from "the internet" (the MX's port), unsigned: how
/// a forgery arrives.
pub async fn smtp_send_plain(from: &str, to: &[&str], raw: &[u8]) {
    smtp_send_via(&lab().smtp, None, from, to, raw).await
}

/// Submits through one of the lab's SMTP ports, logging in as `login`
/// (password "lab") when given.
pub async fn smtp_send_via(server: &str, login: Option<&str>, from: &str, to: &[&str], raw: &[u8]) {
    use lettre::address::Envelope;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let (host, port) = server.rsplit_once(':').expect("host:port");
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port.parse().expect("port"));
    if let Some(user) = login {
        builder =
            builder.credentials(Credentials::new(user.into(), "lab".into())).authentication(vec![Mechanism::Plain]);
    }
    let envelope =
        // An empty sender is the null reverse-path of bounces.
        Envelope::new((!from.is_empty()).then(|| from.parse().expect("from")), to.iter().map(|t| t.parse().expect("to")).collect())
            .expect("envelope");
    builder.build().send_raw(&envelope, raw).await.expect("lab accepts the mail");
}

/// A message as read back from a lab inbox.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    pub message_id: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub text: String,
    pub headers: Vec<(String, String)>,
    /// The whole message, for reading its parts and attachments.
    pub raw: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn addresses(a: Option<&mail_parser::Address>) -> Vec<String> {
    a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_ascii_lowercase)).collect()).unwrap_or_default()
}

fn read(raw: Vec<u8>) -> Received {
    let m = mail_parser::MessageParser::default().parse(&raw).expect("parsable mail");
    let headers = m.headers_raw().map(|(n, v)| (n.to_owned(), v.trim().to_owned())).collect();
    Received {
        subject: m.subject().unwrap_or_default().to_owned(),
        message_id: m.message_id().unwrap_or_default().to_owned(),
        to: addresses(m.to()),
        cc: addresses(m.cc()),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        headers,
        raw: raw.clone(),
    }
}

/// A logged-in IMAP session on `user`'s lab mailbox.
async fn imap_session(user: &str) -> async_imap::Session<complaintd::mail::imap::Stream> {
    let tcp = TcpStream::connect(lab().imap).await.expect("lab imap");
    let mut client = async_imap::Client::new(complaintd::mail::imap::Stream::Plain(tcp));
    client.read_response().await.expect("greeting");
    client.login(user, "lab").await.map_err(|(e, _)| e).expect("login")
}

/// Puts a message straight into `folder` (IMAP APPEND), bypassing SMTP.
pub async fn append(user: &str, folder: &str, raw: &[u8]) {
    let mut session = imap_session(user).await;
    session.append(folder, None, None, raw).await.expect("append");
    let _ = session.logout().await;
}

/// Deletes every message in `folder` of `user`'s lab mailbox.
pub async fn empty_folder(user: &str, folder: &str) {
    let mut session = imap_session(user).await;
    session.select(folder).await.expect("select");
    let flagged: Vec<_> =
        session.store("1:*", "+FLAGS (\\Deleted)").await.expect("store").try_collect().await.expect("flag");
    assert!(!flagged.is_empty(), "{folder} of {user} was empty already");
    let _: Vec<_> = session.expunge().await.expect("expunge").try_collect().await.expect("expunged");
    let _ = session.logout().await;
}

/// How many messages `folder` of `user`'s lab mailbox holds (cheap: no bodies).
pub async fn count(user: &str, folder: &str) -> usize {
    let mut session = imap_session(user).await;
    let n = session.examine(folder).await.map(|m| m.exists as usize).unwrap_or(0);
    let _ = session.logout().await;
    n
}

/// Every message in `folder` of `user`'s lab mailbox.
pub async fn mailbox(user: &str, folder: &str) -> Vec<Received> {
    let mut session = imap_session(user).await;
    let out = match session.select(folder).await {
        Ok(mb) if mb.exists > 0 => {
            let fetched: Vec<_> =
                session.fetch("1:*", "BODY.PEEK[]").await.expect("fetch").try_collect().await.expect("fetch all");
            fetched.iter().filter_map(|f| f.body().map(|b| read(b.to_vec()))).collect()
        }
        _ => Vec::new(),
    };
    let _ = session.logout().await;
    out
}

/// Waits (on real mail delivery, not on deadlines) until `user`'s inbox
/// holds `count` messages matching `pred`, and returns them.
pub async fn wait_for_mail(user: &str, count: usize, pred: impl Fn(&Received) -> bool) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<Received> = mailbox(user, "INBOX").await.into_iter().filter(|m| pred(m)).collect();
        if found.len() >= count || tokio::time::Instant::now() > deadline {
            assert!(found.len() >= count, "{user}: expected {count} matching mails, found {}", found.len());
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The photo [`complaint_with_photo`] attaches.
pub fn photo() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// A complaint form mail with [`photo`] attached as `photo.jpg`.
pub fn complaint_with_photo(from: &str, to: &str, message_id: &str, form: &str) -> Vec<u8> {
    use base64::Engine as _;
    // Folded at 76 as mail clients write it: a longer line is rewrapped on
    // the way, which breaks the DKIM body hash of the submission port.
    let b64 = |b: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(b);
        text.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
    };
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{s}?=\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{form}\r\n--b1\r\nContent-Type: image/jpeg\r\n\
         Content-Disposition: attachment; filename=photo.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n{p}\r\n--b1--\r\n",
        s = b64("投诉转出".as_bytes()),
        form = b64(form.as_bytes()),
        p = b64(&photo()),
    )
    .into_bytes()
}

/// `mail` carries [`photo`] as `photo.jpg`, byte for byte.
pub fn assert_carries_the_photo(mail: &Received) {
    use mail_parser::MimeHeaders as _;
    let message = mail_parser::MessageParser::default().parse(&mail.raw).expect("a message");
    let attachment = message.attachments().next().unwrap_or_else(|| panic!("no attachment in {:?}", mail.subject));
    assert_eq!(attachment.attachment_name(), Some("photo.jpg"));
    assert_eq!(attachment.contents(), photo().as_slice());
}

/// A complaint form mail as the call center writes it (plain UTF-8, base64).
pub fn complaint_mail(from: &str, to: &str, message_id: &str, form: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(form.as_bytes());
    let folded: Vec<&str> = body.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{}?=\r\nDate: Mon, 16 Nov 2026 09:30:00 +0800\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64::engine::general_purpose::STANDARD.encode("投诉转出-马丽".as_bytes()),
        folded.join("\r\n")
    )
    .into_bytes()
}

pub const FORM_BJ01: &str = "投诉单号：HC20261116001\n紧急程度：加急\n投诉分类：服务类-服务质量-维修周期\n\
服务站：BJ01 北京海淀服务站\n客户姓名：马丽\n联系电话：13900002222\n服务单号：SO-2026-110001\n\
产品型号：超翔 E500\n所在地区：北京市海淀区\n投诉内容：报修后五天无人联系。\n客户诉求：尽快上门。\n受理人：刘嘉\n";

/// A pre-report form mail as a station writes it: `to` in the headers (the
/// pre-report address), `cc` maybe the regional manager.
pub fn pre_report_mail(from: &str, to: &str, cc: Option<&str>, message_id: &str, form: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: =?utf-8?B?{}?=\r\nDate: Mon, 16 Nov 2026 10:30:00 +0800\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64("投诉报备"),
        b64(form)
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join("\r\n")
    )
    .into_bytes()
}

/// [`FORM_BJ01`] about customer `i` (own phone and service order, so no
/// two are repeats); `tag` keeps orders apart between tests.
pub fn form_for_customer(tag: &str, i: usize) -> String {
    FORM_BJ01.replace("13900002222", &format!("139{i:08}")).replace("SO-2026-110001", &format!("SO-{tag}-{i}"))
}

/// The pre-report of `samples/pre-report.eml` (GZ03, not major).
pub const PRE_REPORT_GZ03: &str = "投诉报备表\n服务站：GZ03\n报备人：林工\n客户姓名：郑洁\n联系电话：13700004444\n\
服务单号：SO-2026-110003\n投诉内容：上门超时两小时，客户不满。\n已采取措施：已致歉并改约今日下午。\n是否重大投诉：否\n";

/// A reply as a station's or handler's mail client writes it.
pub fn reply_mail(from: &str, to: &str, message_id: &str, in_reply_to: &str, subject: &str, text: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{}?=\r\nDate: Mon, 16 Nov 2026 11:30:00 +0800\r\n\
         Message-ID: <{message_id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(subject),
        b64(&format!("{text}\n\n> 原邮件内容\n"))
    )
    .into_bytes()
}

/// Waits until the lab's Postfix holds no mail for the addresses of
/// `prefix`: whatever it accepted for this test is in its mailboxes.
pub async fn wait_for_postfix_to_deliver(prefix: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let queue = std::process::Command::new("postqueue")
            .arg("-c")
            .arg(&lab().postfix_dir)
            .arg("-j")
            .output()
            .expect("postqueue");
        assert!(queue.status.success(), "postqueue: {}", String::from_utf8_lossy(&queue.stderr));
        if !String::from_utf8_lossy(&queue.stdout).contains(prefix) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "Postfix still holds mail for {prefix}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the outbox holds `n` unsent mails (0: everything accepted).
pub async fn wait_for_unsent(app: &TestApp, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let unsent = app.store.unsent_count().await.expect("outbox");
        if unsent == n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{unsent} mails unsent, expected {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `user`'s `folder` holds at least `count` messages.
pub async fn wait_for_folder(user: &str, folder: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while mailbox(user, folder).await.len() < count {
        assert!(tokio::time::Instant::now() < deadline, "{user}/{folder}: fewer than {count} messages");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the real binary (`COMPLAINTD_TEST_BIN` when set: a target
/// directory shared by several checkouts may hold another one's build);
/// its log is appended to `daemon.log` beside the config.
pub fn start_daemon(config: &std::path::Path) -> std::process::Child {
    use std::process::{Command, Stdio};
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("daemon.log"))
        .expect("daemon log");
    let bin = std::env::var_os("COMPLAINTD_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_complaintd").into());
    Command::new(bin)
        .args(["run", "--config"])
        .arg(config)
        .env("COMPLAINTD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("daemon starts")
}
