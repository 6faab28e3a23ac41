//! The lab benchmarks (`scripts/bench`): the real daemon and library against
//! the raw lab, side by side in one run. They report figures and never fail
//! on a slow one; they are not tests.
//!
//!     cargo bench --bench lab -- [--quick] [--only latency,backlog,hostile,auth,sweep,parse,board] [--out DIR]
//!
//! Needs the lab (`scripts/lab up` and `eval "$(scripts/lab env)"`).

mod auth;
mod backlog;
mod board;
mod daemon_log;
mod hostile;
mod latency;
mod parse;
mod report;
mod rig;
mod sweep;
mod watch;

use std::path::PathBuf;

use anyhow::Context as _;

/// What one run measures and how much.
struct Plan {
    /// Smaller samples, for iterating on the benchmark itself.
    quick: bool,
    /// Only these benchmarks (all when empty).
    only: Vec<String>,
    /// Where results and work files go.
    out: PathBuf,
}

impl Plan {
    fn from_args() -> anyhow::Result<Option<Self>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes --bench; `cargo test`/nextest run this target
        // without it (nextest asks for --list): a benchmark is no test.
        if !args.iter().any(|a| a == "--bench") {
            return Ok(None);
        }
        let mut plan = Plan { quick: false, only: Vec::new(), out: rig::root().join("var/bench") };
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bench" => {}
                "--quick" => plan.quick = true,
                "--only" => {
                    plan.only = it.next().context("--only needs a list")?.split(',').map(str::to_owned).collect()
                }
                "--out" => plan.out = it.next().context("--out needs a directory")?.into(),
                other => anyhow::bail!(
                    "unknown argument {other:?} (--quick, --only latency,backlog,hostile,auth,sweep,parse,board, --out DIR)"
                ),
            }
        }
        Ok(Some(plan))
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn main() -> anyhow::Result<()> {
    let Some(plan) = Plan::from_args()? else { return Ok(()) };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(plan))
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let lab = rig::Lab::from_env();
    let work = plan.out.join("work");
    std::fs::create_dir_all(&work)?;
    let started = std::time::Instant::now();
    let mut report = report::Report {
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        quick: plan.quick,
        wall_secs: 0.0,
        machine: report::Machine::probe(&lab, rig::loadavg()).await,
        latency: None,
        backlog: None,
        hostile: None,
        auth: None,
        sweep: None,
        parse: None,
        board: None,
    };
    let q = plan.quick;
    if plan.wants("parse") {
        eprintln!("bench: parse throughput");
        report.parse = Some(parse::run(if q { 0.5 } else { 3.0 })?);
    }
    if plan.wants("latency") {
        eprintln!("bench: dispatch latency");
        let (complaints, floor) = if q { (20, 10) } else { (200, 50) };
        report.latency = Some(latency::run(&lab, complaints, floor, &work).await?);
    }
    if plan.wants("backlog") {
        eprintln!("bench: backlog");
        report.backlog = Some(backlog::run(&lab, if q { 500 } else { 5000 }, &work).await?);
    }
    if plan.wants("hostile") {
        eprintln!("bench: hostile backlog");
        let (n, big) = if q { (500, 2) } else { (5000, 20) };
        report.hostile = Some(hostile::run(&lab, n, big, &work).await?);
    }
    if plan.wants("auth") {
        eprintln!("bench: backlog, auth on against off");
        report.auth = Some(auth::run(&lab, if q { 500 } else { 2000 }, &work).await?);
    }
    if plan.wants("sweep") {
        eprintln!("bench: deadline sweep");
        let sizes: &[usize] = if q { &[10_000, 100_000] } else { &[10_000, 100_000, 1_000_000] };
        report.sweep = Some(sweep::run(&lab, sizes, &work).await?);
    }
    if plan.wants("board") {
        eprintln!("bench: board pages");
        report.board = Some(board::run(&lab, 100_000, if q { 50 } else { 300 }, &work).await?);
    }
    report.machine.load_after = rig::loadavg();
    report.wall_secs = started.elapsed().as_secs_f64();

    let markdown = report.markdown();
    let json = serde_json::to_string_pretty(&report)?;
    let stamp = report.started.replace(':', "");
    for (name, text) in [(format!("{stamp}.md"), &markdown), (format!("{stamp}.json"), &json)] {
        std::fs::write(plan.out.join(&name), text)?;
    }
    std::fs::write(plan.out.join("latest.md"), &markdown)?;
    std::fs::write(plan.out.join("latest.json"), &json)?;
    println!("{markdown}");
    eprintln!("bench: results in {}/{stamp}.{{md,json}} (and latest.*)", plan.out.display());
    Ok(())
}
