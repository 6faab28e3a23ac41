//! Parse throughput: `intake::parse` over the golden corpus, next to the
//! MIME parser it is built on and Python's standard `email` package on the
//! same files in the same run.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use complaintd::config::Settings;
use serde::Serialize;

use crate::rig::root;

#[derive(Debug, Serialize)]
pub struct Throughput {
    pub what: String,
    pub mails_per_sec: f64,
    pub mb_per_sec: f64,
}

#[derive(Debug, Serialize)]
pub struct Parse {
    /// Corpus size.
    pub mails: usize,
    pub bytes: usize,
    /// complaintd, the MIME parser alone, then Python.
    pub results: Vec<Throughput>,
}

fn corpus() -> anyhow::Result<Vec<PathBuf>> {
    let dir = root().join("tests/fixtures/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs `f` over every mail, round after round, for at least `seconds`.
fn measure(what: &str, mails: &[Vec<u8>], seconds: f64, mut f: impl FnMut(&[u8])) -> Throughput {
    mails.iter().for_each(|m| f(m));
    let bytes: usize = mails.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut rounds = 0usize;
    while started.elapsed().as_secs_f64() < seconds {
        mails.iter().for_each(|m| f(m));
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    Throughput {
        what: what.to_owned(),
        mails_per_sec: (rounds * mails.len()) as f64 / secs,
        mb_per_sec: (rounds * bytes) as f64 / secs / 1e6,
    }
}

pub fn run(seconds: f64) -> anyhow::Result<Parse> {
    let settings = Settings::load(&root().join("config/example.toml"))?;
    let files = corpus()?;
    let mails: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let bytes = mails.iter().map(Vec::len).sum();
    let mut results = vec![
        measure("complaintd intake::parse (classify, decode, read the form)", &mails, seconds, |m| {
            std::hint::black_box(complaintd::intake::parse(m, &settings));
        }),
        measure("mail-parser alone (the MIME parser intake uses)", &mails, seconds, |m| {
            std::hint::black_box(mail_parser::MessageParser::default().parse(m));
        }),
    ];

    let script = root().join("benches/lab/parse_email.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(seconds.to_string())
        .args(&files)
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr));
    }
    let py: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let version = py["python"].as_str().unwrap_or("3");
    let py_bytes = py["bytes"].as_f64().unwrap_or(0.0);
    for (key, what) in
        [("parse", "BytesParser(policy=default)"), ("decode", "BytesParser + get_content() of every part")]
    {
        let r = &py[key];
        let (rounds, secs) = (r["rounds"].as_f64().unwrap_or(0.0), r["seconds"].as_f64().unwrap_or(f64::NAN));
        results.push(Throughput {
            what: format!("Python {version} email: {what}"),
            mails_per_sec: rounds * mails.len() as f64 / secs,
            mb_per_sec: rounds * py_bytes / secs / 1e6,
        });
    }
    Ok(Parse { mails: mails.len(), bytes, results })
}
