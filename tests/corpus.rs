//! Golden corpus: every `tests/fixtures/corpus/NNN.eml` parses (with
//! config/example.toml) to exactly the JSON in `NNN.json`.
//! `UPDATE_GOLDEN=1 cargo test --test corpus` rewrites the JSON files; review
//! the diff by eye before committing.

use std::path::{Path, PathBuf};

use complaintd::config::Settings;
use complaintd::intake;
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn settings() -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    Settings::load(&path).expect("config/example.toml loads")
}

/// Lines of `pretty(expected)` and `pretty(actual)` that differ, marked - and +.
fn diff(expected: &Value, actual: &Value) -> String {
    let expected = serde_json::to_string_pretty(expected).unwrap_or_default();
    let actual = serde_json::to_string_pretty(actual).unwrap_or_default();
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for line in &expected {
        if !actual.contains(line) {
            out.push_str(&format!("  - {line}\n"));
        }
    }
    for line in &actual {
        if !expected.contains(line) {
            out.push_str(&format!("  + {line}\n"));
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
        let actual = intake::parse(&raw, &settings).to_json();
        let golden = eml.with_extension("json");
        if update {
            let mut text = serde_json::to_string_pretty(&actual).expect("json");
            text.push('\n');
            std::fs::write(&golden, text).expect("write golden");
            continue;
        }
        let expected: Value = match std::fs::read_to_string(&golden) {
            Ok(text) => serde_json::from_str(&text).expect("golden is JSON"),
            Err(_) => {
                failures.push(format!("{}: no golden file", eml.display()));
                continue;
            }
        };
        if expected != actual {
            failures.push(format!("{}:\n{}", eml.display(), diff(&expected, &actual)));
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), emls.len(), failures.join("\n"));
}
