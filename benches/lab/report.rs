//! The run's results as JSON and as the markdown BENCHMARKS.md quotes, with
//! the machine they were taken on.

use std::fmt::Write as _;
use std::process::Command;

use serde::Serialize;

use crate::backlog::Backlog;
use crate::board::BoardRun;
use crate::hostile::Hostile;
use crate::latency::Latency;
use crate::parse::Parse;
use crate::rig::{Dist, Lab};
use crate::sweep::SweepRun;

/// What the run was taken on: the lab shares its two cores with everyone.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
    /// Versions of the servers and tools in the run.
    pub software: Vec<String>,
    /// /proc/loadavg at the start and at the end: other work on the box.
    pub load_before: String,
    pub load_after: String,
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|| format!("{cmd}: not found"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    pub async fn probe(lab: &Lab, load_before: String) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown")
            .to_owned();
        let mem_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .unwrap_or("unknown")
            .trim_matches('"')
            .to_owned();
        let pg = match sqlx::PgPool::connect(&lab.pg_url).await {
            Ok(p) => {
                let v: Result<String, _> = sqlx::query_scalar("SHOW server_version").fetch_one(&p).await;
                p.close().await;
                v.map(|v| format!("PostgreSQL {v}")).unwrap_or_default()
            }
            Err(_) => "PostgreSQL: not reached".into(),
        };
        let sqlite = match sqlx::SqlitePool::connect("sqlite::memory:").await {
            Ok(p) => sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
                .fetch_one(&p)
                .await
                .map(|v| format!("SQLite {v} (bundled)"))
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let lab_dir = std::env::var("COMPLAINTD_LAB_DIR").unwrap_or_else(|_| "/tmp/complaintd-lab".into());
        let postfix_dir = format!("{lab_dir}/postfix");
        Self {
            cpu,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            memory_gib: mem_kib / 1024.0 / 1024.0,
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            software: vec![
                format!("Postfix {}", first_line("postconf", &["-c", &postfix_dir, "-h", "mail_version"])),
                format!("Dovecot {}", first_line("dovecot", &["--version"])),
                pg,
                sqlite,
                first_line("rustc", &["--version"]),
                first_line("python3", &["--version"]),
            ],
            load_before,
            load_after: String::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    /// Smaller samples (`--quick`): not for BENCHMARKS.md.
    pub quick: bool,
    pub wall_secs: f64,
    pub machine: Machine,
    pub latency: Option<Latency>,
    pub backlog: Option<Backlog>,
    pub hostile: Option<Hostile>,
    pub auth: Option<crate::auth::Auth>,
    pub sweep: Option<Vec<SweepRun>>,
    pub parse: Option<Parse>,
    pub board: Option<BoardRun>,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn ms(s: f64) -> String {
    format!("{:.0} ms", s * 1000.0)
}

fn dist_row(out: &mut String, name: &str, d: &Dist) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} |",
        d.n,
        ms(d.p50),
        ms(d.p95),
        ms(d.p99),
        ms(d.min),
        ms(d.max)
    );
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(o, "## Run of {}{}\n", self.started, if self.quick { " (--quick)" } else { "" });
        let _ = writeln!(
            o,
            "Machine: {} × {}, {:.1} GiB, {} (kernel {}); {}. Load average before/after: {} / {}. \
             Wall time {:.0} s.\n",
            m.cores,
            m.cpu,
            m.memory_gib,
            m.os,
            m.kernel,
            m.software.iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(", "),
            m.load_before,
            m.load_after,
            self.wall_secs
        );
        if let Some(l) = &self.latency {
            self.latency_md(&mut o, l);
        }
        if let Some(b) = &self.backlog {
            self.backlog_md(&mut o, b);
        }
        if let Some(h) = &self.hostile {
            self.hostile_md(&mut o, h);
        }
        if let Some(a) = &self.auth {
            a.markdown(&mut o);
        }
        if let Some(s) = &self.sweep {
            self.sweep_md(&mut o, s);
        }
        if let Some(b) = &self.board {
            board_md(&mut o, b);
        }
        if let Some(p) = &self.parse {
            let _ = writeln!(o, "### Parse throughput\n");
            let _ = writeln!(o, "Corpus: {} mails, {:.0} KB (tests/fixtures/corpus).\n", p.mails, p.bytes as f64 / 1e3);
            let _ = writeln!(o, "| parser | mails/s | MB/s |\n|---|---:|---:|");
            for r in &p.results {
                let _ = writeln!(o, "| {} | {:.0} | {:.1} |", r.what, r.mails_per_sec, r.mb_per_sec);
            }
            let _ = writeln!(o);
        }
        o
    }

    fn latency_md(&self, o: &mut String, l: &Latency) {
        let _ = writeln!(o, "### Dispatch latency\n");
        let _ = writeln!(
            o,
            "| from SMTP accept to … | n | p50 | p95 | p99 | min | max |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        dist_row(o, "raw floor: mail straight to an inbox, first readable (10 ms poll)", &l.floor_readable);
        dist_row(o, "raw floor: mail straight to an inbox, IDLE notice", &l.floor_idle);
        dist_row(o, "**complaint → forward readable in the station inbox**", &l.readable);
        dist_row(o, "complaint → the station's IDLE announces the forward", &l.idle_seen);
        let _ = writeln!(o, "\nWhere the time goes (per complaint, from the daemon's log):\n");
        let _ = writeln!(o, "| stage | n | p50 | p95 | p99 | min | max |\n|---|---:|---:|---:|---:|---:|---:|");
        for s in &l.stages {
            dist_row(o, s.name, &s.dist);
        }
        let _ = writeln!(
            o,
            "\nTarget p50 < 800 ms: {} ({}); p99 < 1500 ms: {} ({}). Lost: {}.\n",
            verdict(l.readable.p50 < 0.8),
            ms(l.readable.p50),
            verdict(l.readable.p99 < 1.5),
            ms(l.readable.p99),
            l.lost
        );
    }

    fn backlog_md(&self, o: &mut String, b: &Backlog) {
        let _ = writeln!(o, "### Backlog of {} complaints ({} bytes each)\n", b.mails, b.mail_bytes);
        let _ = writeln!(o, "| | seconds | per second |\n|---|---:|---:|");
        let row = |o: &mut String, name: &str, secs: f64| {
            let _ = writeln!(o, "| {name} | {secs:.2} | {:.0} |", b.mails as f64 / secs);
        };
        row(o, "fill the shared mailbox (IMAP APPEND, 4 connections)", b.fill_secs);
        row(o, "raw IMAP: one `UID FETCH 1:* BODY.PEEK[]` of the backlog", b.raw_fetch_secs);
        row(o, "raw Postfix: the same number of mails straight to station inboxes, accepted", b.raw_smtp_accepted_secs);
        row(o, "raw Postfix: … and all in the station inboxes", b.raw_smtp_secs);
        row(
            o,
            "raw Postfix: the desk's mail for as many complaints (station + handler copy, acknowledgement, each with its Bcc to Sent), all delivered",
            b.raw_desk_pattern_secs,
        );
        row(o, "complaintd: start → first forward in a station inbox", b.desk_first_secs);
        row(o, "**complaintd: start → every forward in the station inboxes**", b.desk_secs);
        row(o, "complaintd: start → every copy and acknowledgement in the handler's inbox too", b.desk_drain_secs);
        let _ = writeln!(
            o,
            "\ncomplaintd's rate: {:.0}% of raw Postfix (target ≥ 50%: {}), {:.1}% of the raw IMAP FETCH; \
             {:.0}% of raw Postfix delivering the same mail the desk sends.\n",
            b.fraction_of_smtp * 100.0,
            verdict(b.fraction_of_smtp >= 0.5),
            b.fraction_of_fetch * 100.0,
            b.fraction_of_same_mail * 100.0
        );
        let _ = writeln!(
            o,
            "The daemon used {:.1} s of CPU for the backlog ({:.1} ms per complaint).\n",
            b.desk_cpu_secs,
            b.desk_cpu_secs * 1000.0 / b.mails as f64
        );
        let _ = writeln!(o, "### Memory (VmHWM / VmRSS of the `complaintd run` process)\n");
        let idle = self.latency.as_ref().map(|l| mib(l.idle_rss_kib)).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            o,
            "Idle after start: {idle}; peak during the backlog: {} (target < 64 MiB: {}); idle after the backlog: {}.\n",
            mib(b.peak_rss_kib),
            verdict(b.peak_rss_kib < 64 * 1024),
            mib(b.idle_rss_after_kib)
        );
        if !b.warnings.is_empty() {
            let _ = writeln!(
                o,
                "The daemon warned {} time(s) during the backlog (first: `{}`).\n",
                b.warnings.len(),
                b.warnings[0]
            );
        }
    }

    fn hostile_md(&self, o: &mut String, h: &Hostile) {
        let _ = writeln!(
            o,
            "### Hostile backlog: {} complaints, {} mails of {:.0} MiB and a bomb of {} nested parts ({:.1} MB) waiting
",
            h.mails,
            h.big_mails,
            h.big_bytes as f64 / 1048576.0,
            h.bomb_levels,
            h.bomb_bytes as f64 / 1e6
        );
        let _ = writeln!(
            o,
            "| | value |
|---|---:|"
        );
        let _ = writeln!(
            o,
            "| complaintd: start → every complaint's forward in the station inboxes | {:.2} s |",
            h.desk_secs
        );
        let _ = writeln!(o, "| complaints per second | {:.0} |", h.desk_rate);
        let _ = writeln!(
            o,
            "| an urgent complaint sent 1 s after start: 250 → forward in the station inbox | {:.2} s |",
            h.urgent_secs
        );
        let _ = writeln!(o, "| peak resident memory | {} |", mib(h.peak_rss_kib));
        let _ = writeln!(o, "| daemon CPU | {:.1} s |", h.desk_cpu_secs);
        let clean = self.backlog.as_ref().filter(|b| b.mails == h.mails).map(|b| h.desk_rate / b.desk_rate);
        let _ = writeln!(
            o,
            "
Throughput against the clean backlog of this run: {} (target within 10 %: {}); peak RSS under 128 MiB: {}; the urgent complaint within 5 s: {}.\n",
            clean.map_or("–".to_owned(), |r| format!("{:.0} %", r * 100.0)),
            clean.map_or("–", |r| verdict(r >= 0.9)),
            verdict(h.peak_rss_kib < 128 * 1024),
            verdict(h.urgent_secs <= 5.0)
        );
    }

    fn sweep_md(&self, o: &mut String, runs: &[SweepRun]) {
        let _ = writeln!(o, "### Deadline sweep (`SweepWorker::try_step`)\n");
        let dues: Vec<usize> = runs.first().map(|r| r.due.iter().map(|d| d.due).collect()).unwrap_or_default();
        let _ = write!(
            o,
            "| backend | tickets | open | load | nothing due | due query | MIN(next_alert_at) | … WHERE NOT NULL |"
        );
        for d in &dues {
            let _ = write!(o, " {d} due | per ticket |");
        }
        let _ = writeln!(o, "\n|---|---:|---:|---:|---:|---:|---:|---:|{}", "---:|---:|".repeat(dues.len()));
        for r in runs {
            let _ = write!(
                o,
                "| {} | {} | {} | {:.1} s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
                r.backend,
                r.tickets,
                r.open,
                r.load_secs,
                r.empty_ms.p50,
                r.due_query_ms.p50,
                r.next_alert_ms.p50,
                r.next_alert_indexed_ms.p50
            );
            for d in &r.due {
                let _ = write!(o, " {:.1} ms | {:.2} ms |", d.ms.p50, d.ms.p50 / d.due as f64);
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(
            o,
            "\nMedians. Each due ticket queues {:.1} mails (escalation of the overdue reply, result reminder).\n",
            runs.first().and_then(|r| r.due.first()).map(|d| d.mails / d.due as f64).unwrap_or(f64::NAN)
        );
        let largest = runs.iter().map(|x| x.tickets).max().unwrap_or(0);
        for r in runs.iter().filter(|r| r.tickets == largest) {
            let verdicts: Vec<String> = r
                .due
                .iter()
                .map(|d| format!("{} due {:.1} ms: {}", d.due, d.ms.p50, verdict(d.ms.p50 < 50.0)))
                .collect();
            let _ = writeln!(
                o,
                "At {} tickets on {} (target < 50 ms): nothing due {:.2} ms: {}; {}. Plan: `{}`.\n",
                r.tickets,
                r.backend,
                r.empty_ms.p50,
                verdict(r.empty_ms.p50 < 50.0),
                verdicts.join("; "),
                r.plan
            );
        }
    }
}

fn board_md(o: &mut String, b: &BoardRun) {
    let _ = writeln!(o, "### Board pages\n");
    let _ = writeln!(
        o,
        "{} tickets ({} open, {} with the first reply overdue), {} events, {} outbox rows, {} inbound rows, \
         loaded in {:.1} s; the release daemon on SQLite, one request at a time from a plain HTTP client \
         (a connection each); load average {} before, {} after.\n",
        b.tickets, b.open, b.overdue, b.events, b.outbox, b.inbound, b.load_secs, b.load_before, b.load_after
    );
    let _ = writeln!(o, "| page | n | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|");
    for (name, d) in [(format!("now ({} KB)", b.now_bytes / 1000), &b.now_ms), ("a ticket".to_owned(), &b.ticket_ms)] {
        let _ =
            writeln!(o, "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |", d.n, d.p50, d.p95, d.p99, d.max);
    }
    let _ = writeln!(
        o,
        "\nTarget p99 under 200 ms: now {}, ticket {}.\n",
        verdict(b.now_ms.p99 < 200.0),
        verdict(b.ticket_ms.p99 < 200.0)
    );
}
