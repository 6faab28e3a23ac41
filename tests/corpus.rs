//! Golden corpus: every `tests/fixtures/corpus/NNN.eml` parses (with
//! config/example.toml) to exactly the JSON in `NNN.json`. On a mismatch the
//! actual JSON is written next to it as `NNN.failed` (as Stalwart's
//! mail-parser does), so `diff NNN.json NNN.failed` shows it whole.
//! `UPDATE_GOLDEN=1 cargo test --test corpus` rewrites the JSON files; review
//! the diff by eye before committing.

use std::path::{Path, PathBuf};

use complaintd::config::Settings;
use complaintd::intake;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn settings() -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    Settings::load(&path).expect("config/example.toml loads")
}

/// A line diff of `expected` and `actual` in order (longest common
/// subsequence): removed lines marked -, added +, one line of context.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed = |k: usize| ops.get(k).is_some_and(|(op, _)| *op != ' ');
    let mut out = String::new();
    for (k, (op, line)) in ops.iter().enumerate() {
        if *op != ' ' || changed(k + 1) || (k > 0 && changed(k - 1)) {
            out.push_str(&format!("  {op} {line}\n"));
        }
    }
    out
}

#[test]
fn corpus_matches_golden_json() {
    let settings = settings();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut emls: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    assert!(!emls.is_empty(), "no fixtures in {}", corpus_dir().display());

    let mut failures = Vec::new();
    for eml in &emls {
        let raw = std::fs::read(eml).expect("read fixture");
        let mut actual = serde_json::to_string_pretty(&intake::parse(&raw, &settings).to_json()).expect("json");
        actual.push('\n');
        let golden = eml.with_extension("json");
        let failed = eml.with_extension("failed");
        if update {
            std::fs::write(&golden, &actual).expect("write golden");
            let _ = std::fs::remove_file(&failed);
            continue;
        }
        let Ok(expected) = std::fs::read_to_string(&golden) else {
            std::fs::write(&failed, &actual).expect("write .failed");
            failures.push(format!("{}: no golden file (actual in {})", eml.display(), failed.display()));
            continue;
        };
        if expected == actual {
            let _ = std::fs::remove_file(&failed);
        } else {
            std::fs::write(&failed, &actual).expect("write .failed");
            failures.push(format!("{} (actual in {}):\n{}", eml.display(), failed.display(), diff(&expected, &actual)));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), emls.len(), failures.join("\n"));
}
