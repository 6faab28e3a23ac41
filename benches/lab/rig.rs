//! The rig every benchmark shares: the lab's addresses, private mailboxes,
//! the mail to send, IMAP sessions, and the real `complaintd` binary as a
//! child process whose memory can be read.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use complaintd::mail::imap::Stream;
use tokio::net::TcpStream;

pub type Session = async_imap::Session<Stream>;

/// Where the lab listens (`scripts/lab env`, with its defaults).
#[derive(Clone)]
pub struct Lab {
    /// Postfix's SMTP `host:port`.
    pub smtp: String,
    /// Dovecot's plaintext IMAP `host:port`.
    pub imap: String,
    /// HQ's authenticated submission port: what it relays is DKIM-signed
    /// for hq.example.test, as the desk (enforcing authentication) needs.
    pub submission: String,
    /// The lab's DNS server (the DKIM keys).
    pub dns: String,
    /// The lab cluster's admin URL; benchmarks make their own databases.
    pub pg_url: String,
    /// Where `scripts/lab` keeps the servers' files (Postfix's queue).
    pub dir: PathBuf,
}

impl Lab {
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        Self {
            smtp: var("COMPLAINTD_LAB_SMTP", "127.0.0.1:10025"),
            imap: var("COMPLAINTD_LAB_IMAP", "127.0.0.1:10143"),
            submission: var("COMPLAINTD_LAB_SUBMISSION", "127.0.0.1:10587"),
            dns: var("COMPLAINTD_LAB_DNS", "127.0.0.1:10053"),
            pg_url: var("COMPLAINTD_LAB_PG_URL", "postgres://postgres@127.0.0.1:15432/complaintd"),
            dir: PathBuf::from(var("COMPLAINTD_LAB_DIR", "/tmp/complaintd-lab")),
        }
    }

    /// Waits until Postfix's queue is empty, so that a measurement does not
    /// pay for the tail of the one before (Bcc copies still being filed).
    pub async fn wait_for_empty_queue(&self, patience: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let out = Command::new("postqueue")
                .arg("-c")
                .arg(self.dir.join("postfix"))
                .arg("-p")
                .output()
                .context("postqueue -p")?;
            if String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty") {
                return Ok(());
            }
            anyhow::ensure!(started.elapsed() < patience, "Postfix's queue not empty after {patience:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The URL of another database on the lab cluster.
    pub fn pg_database(&self, name: &str) -> String {
        let base = self.pg_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&self.pg_url);
        format!("{base}/{name}")
    }
}

/// The project's root: config/, templates/, tests/fixtures/.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A prefix no other run (or test) uses, so benchmark mailboxes are private
/// on the shared lab.
pub fn unique_prefix(tag: &str) -> String {
    let rand: String = std::iter::repeat_with(fastrand::lowercase).take(5).collect();
    format!("b{tag}{}{rand}", std::process::id())
}

#[path = "../../tests/support/network.rs"]
mod network;
pub use network::Network;

/// The demo network's call-center handlers: localpart and name.
const HANDLERS: [(&str, &str); 2] = [("liujia", "刘嘉"), ("chenmin", "陈敏")];

/// The demo network's stations (config/example.toml), for spreading load.
pub const STATIONS: [(&str, &str); 5] = [
    ("BJ01", "北京海淀服务站"),
    ("SH02", "上海徐汇服务站"),
    ("GZ03", "广州天河服务站"),
    ("CD04", "成都武侯服务站"),
    ("HK05", "香港九龍服務站"),
];

impl Network {
    pub fn new(tag: &str) -> Self {
        Self { prefix: unique_prefix(tag) }
    }
    pub fn dispatch(&self) -> String {
        self.hq("complaints")
    }
    /// The call-center handler who files the `seq`-th complaint: the demo
    /// network's two (config/example.toml), taking turns.
    pub fn handler(&self, seq: usize) -> (String, &'static str) {
        let (local, name) = HANDLERS[seq % HANDLERS.len()];
        (self.hq(local), name)
    }

    pub fn handlers(&self) -> Vec<String> {
        HANDLERS.iter().map(|(local, _)| self.hq(local)).collect()
    }

    /// The `seq`-th complaint of this network for `station`, as the call
    /// center's mail client writes it (UTF-8 plain text in base64, like
    /// `tests/api/helpers.rs`): own complaint number, phone and service
    /// order, so none is taken for a repeat of another.
    pub fn complaint(&self, seq: usize, station: (&str, &str)) -> Vec<u8> {
        let (code, name) = station;
        let (handler, handler_name) = self.handler(seq);
        let form = format!(
            "投诉单号：HC{seq:08}\n紧急程度：加急\n投诉分类：服务类-服务质量-维修周期\n服务站：{code} {name}\n\
             客户姓名：马丽\n联系电话：139{seq:08}\n服务单号：SO-{}-{seq:06}\n产品型号：超翔 E500\n\
             所在地区：北京市海淀区\n投诉内容：报修后五天无人联系，客户多次致电无果。\n客户诉求：尽快上门。\n受理人：{handler_name}\n",
            self.prefix
        );
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let body = b64(&form);
        let folded: Vec<&str> = body.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
        format!(
            "From: =?utf-8?B?{}?= <{}>\r\nTo: {}\r\nSubject: =?utf-8?B?{}?=\r\n\
             Date: Mon, 16 Nov 2026 09:30:00 +0800\r\nMessage-ID: <{}.{seq}@hq.example.test>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(handler_name),
            handler,
            self.dispatch(),
            b64("投诉转出-马丽"),
            self.prefix,
            folded.join("\r\n")
        )
        .into_bytes()
    }
}

/// config/example.toml with every address made private to `net`, the lab's
/// ports, and absolute paths, written to `dir/complaintd.toml`.
pub fn write_config(lab: &Lab, net: &Network, dir: &Path) -> anyhow::Result<PathBuf> {
    let root = root();
    let text = std::fs::read_to_string(root.join("config/example.toml")).context("reading config/example.toml")?;
    let mut out = String::with_capacity(text.len() + 1024);
    for line in text.lines() {
        let mut line = line
            .replace("\"127.0.0.1:10143\"", &format!("\"{}\"", lab.imap))
            .replace("\"127.0.0.1:10025\"", &format!("\"{}\"", lab.smtp))
            .replace("\"127.0.0.1:10053\"", &format!("\"{}\"", lab.dns))
            .replace("\"../", &format!("\"{}/", root.display()))
            // The backlogs are put in by IMAP APPEND, unsigned: verdicts are
            // computed and recorded (their cost stays in the figures), not enforced.
            .replace("mode = \"enforce\"", "mode = \"report\"");
        if !line.trim_start().starts_with('#') {
            line = prefix_addresses(&line, &net.prefix);
        }
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join("complaintd.toml");
    std::fs::write(&path, out)?;
    Ok(path)
}

/// Puts `prefix-` before every quoted address of a TOML line; `"@domain"`
/// entries (whole domains) stay as they are.
fn prefix_addresses(line: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(line.len() + 32);
    for (i, part) in line.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        // Odd parts are inside quotes.
        if i % 2 == 1 && part.contains('@') && !part.starts_with('@') && !part.contains("://") {
            out.push_str(prefix);
            out.push('-');
        }
        out.push_str(part);
    }
    out
}

/// A logged-in IMAP session on the lab.
pub async fn imap_login(lab: &Lab, user: &str) -> anyhow::Result<Session> {
    let tcp = TcpStream::connect(&lab.imap).await.context("lab IMAP (scripts/lab up)")?;
    tcp.set_nodelay(true)?;
    let mut client = async_imap::Client::new(Stream::Plain(tcp));
    client.read_response().await?.context("IMAP greeting")?;
    client.login(user, "lab").await.map_err(|(e, _)| e).with_context(|| format!("IMAP login {user}"))
}

/// How many messages `folder` of a logged-in session holds.
pub async fn count(session: &mut Session, folder: &str) -> anyhow::Result<usize> {
    Ok(session.status(folder, "(MESSAGES)").await?.exists as usize)
}

/// An SMTP client with a pool of connections to the lab's Postfix (HQ's
/// submission port): the daemon's own sender, so raw and desk runs submit
/// mail alike.
#[derive(Clone)]
pub struct Smtp {
    sender: complaintd::mail::smtp::Sender,
}

impl Smtp {
    pub fn new(lab: &Lab, connections: u32) -> anyhow::Result<Self> {
        let mut settings = complaintd::config::Settings::load(&root().join("config/example.toml"))?.smtp;
        // Through HQ's submission port, signed: the desk refuses unsigned
        // mail in HQ's name. Any lab account may send as anyone of HQ's.
        settings.server = lab.submission.clone();
        settings.user = Some(settings.from.clone());
        settings.pool_size = connections;
        Ok(Self { sender: complaintd::mail::smtp::Sender::new(&settings, Some("lab".into()), None)? })
    }

    /// Submits one message; returns once Postfix has accepted it (250 after DATA).
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) -> anyhow::Result<SystemTime> {
        self.send_to(from, &[to.to_owned()], raw).await
    }

    pub async fn send_to(&self, from: &str, to: &[String], raw: &[u8]) -> anyhow::Result<SystemTime> {
        self.sender.send(from, to, raw).await.context("lab SMTP")?;
        Ok(SystemTime::now())
    }
}

/// The real `complaintd run` as a child process.
pub struct Daemon {
    child: Child,
    /// Its stderr: JSON log lines with microsecond timestamps.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts the release binary on `config` and `database_url`, and waits
    /// until its intake has opened the mailbox.
    pub async fn start(config: &Path, database_url: &str, log: &Path) -> anyhow::Result<Self> {
        let stderr = std::fs::File::create(log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_complaintd"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("COMPLAINTD_DATABASE_URL", database_url)
            .env("COMPLAINTD_LOG_FORMAT", "json")
            // IMAP at debug for the "IDLE ended" line the latency breakdown reads.
            .env("COMPLAINTD_LOG", "info,complaintd::mail::imap=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting complaintd")?;
        let daemon = Self { child, log: log.to_owned() };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains("intake: mailbox open") {
                return Ok(daemon);
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("complaintd did not open the mailbox in 30 s (see {})", log.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (current, peak) resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    /// CPU time the process has used (user + system), seconds.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the parenthesised name; utime and stime are the 14th and 15th.
        let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // USER_HZ is 100 on Linux.
        Ok((ticks(11) + ticks(12)) / 100.0)
    }

    /// SIGTERM (a clean stop), then waits for the process.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A benchmark that fails half-way must not leave a daemon behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes a run's SQLite files once the daemon has stopped; its log stays
/// beside them for inspection.
pub fn remove_database(dir: &Path) {
    for name in ["complaintd.db", "complaintd.db-wal", "complaintd.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Seconds between two wall-clock instants (negative when `b` is earlier).
pub fn secs_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// A distribution of durations in seconds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dist {
    /// Sample size.
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Dist {
    pub fn of(sample: &[f64]) -> Self {
        let mut v = sample.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let mean = if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
        Self {
            n: v.len(),
            min: v.first().copied().unwrap_or(f64::NAN),
            p50: percentile(&v, 50.0),
            p95: percentile(&v, 95.0),
            p99: percentile(&v, 99.0),
            max: v.last().copied().unwrap_or(f64::NAN),
            mean,
        }
    }
}

/// Percentile (nearest rank) of a sorted sample; NaN when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// /proc/loadavg's three averages: how much else the machine was doing.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
