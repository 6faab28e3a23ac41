//! `complaintd calendar import|show` and `complaintd deadline` through the
//! real binary, on the shipped data (2027 provisional) and on an imported
//! 2027 (an invented arrangement in holiday-cn's JSON).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn complaintd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_complaintd")).args(args).current_dir(root()).output().expect("run complaintd")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A scratch directory of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("complaintd-calendar-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example config with `extra` holiday files after the shipped one.
fn config_with(dir: &Path, extra: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("config/example.toml")).unwrap();
    let abs = |p: &str| root().join(p).display().to_string();
    let text = text
        .replace(
            "holiday_files = [\"../data/calendar/cn.toml\"]",
            &format!("holiday_files = [{:?}, {:?}]", abs("data/calendar/cn.toml"), extra.display().to_string()),
        )
        .replace("dir = \"../templates\"", &format!("dir = {:?}", abs("templates")));
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn show_marks_a_provisional_year() {
    let out = stdout(&complaintd(&["calendar", "show", "--year", "2027", "--config", "config/example.toml"]));
    assert!(out.starts_with("2027: provisional"), "{out}");
    assert!(out.contains("  2027-02-05 Fri  春节  (provisional)\n"), "{out}");
    assert!(out.contains("  2027-02-09 Tue  补假 for 春节 2027-02-06  (provisional)\n"), "{out}");
    assert!(out.contains("make-up working days (调休):\n  none known\n"), "{out}");
    let out = stdout(&complaintd(&["calendar", "show", "--year", "2026"]));
    assert!(out.starts_with("2026: official") && out.contains("  2026-02-14 Sat\n") && !out.contains("provisional)"));
}

#[test]
fn a_deadline_into_2027_is_provisional_and_skips_new_years_day() {
    let args = ["deadline", "--received", "2026-12-31T16:00:00+08:00", "--urgency", "normal"];
    let json: serde_json::Value = serde_json::from_str(&stdout(&complaintd(&args))).unwrap();
    assert_eq!(json["provisional"], true);
    assert_eq!(json["reply_due"], "2027-01-05T16:00:00+08:00");
    for alert in json["alerts"].as_array().unwrap() {
        assert!(!alert["send_at"].as_str().unwrap().starts_with("2027-01-01"), "{alert}");
    }
    let args = ["deadline", "--received", "2026-12-01T10:00:00+08:00", "--urgency", "urgent"];
    let json: serde_json::Value = serde_json::from_str(&stdout(&complaintd(&args))).unwrap();
    assert_eq!(json["provisional"], false);
}

#[test]
fn an_imported_year_is_official() {
    let dir = scratch("import");
    let written = dir.join("cn-2027.toml");
    let fixture = root().join("tests/fixtures/calendar/holiday-cn-2027-invented.json");
    let out = complaintd(&["calendar", "import", fixture.to_str().unwrap(), "--out", written.to_str().unwrap()]);
    let said = stdout(&out);
    assert!(said.contains("2027: 28 days off, 3 make-up working days") && said.contains("holiday_files"), "{said}");
    let config = config_with(&dir, &written);
    let config = config.to_str().unwrap();
    let out = stdout(&complaintd(&["calendar", "show", "--year", "2027", "--config", config]));
    assert!(out.starts_with("2027: official"), "{out}");
    assert!(out.contains("  2027-02-11 Thu\n") && out.contains("(调休):\n  2027-02-20 Sat\n"), "{out}");
    let args = ["deadline", "--config", config, "--received", "2026-12-31T16:00:00+08:00", "--urgency", "normal"];
    let json: serde_json::Value = serde_json::from_str(&stdout(&complaintd(&args))).unwrap();
    assert_eq!(json["provisional"], false);
    // The invented notice has Jan 1-3 off too: the same deadline, now official.
    assert_eq!(json["reply_due"], "2027-01-05T16:00:00+08:00");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_bad_file_is_refused_and_nothing_is_written() {
    let dir = scratch("bad");
    let bad = dir.join("2027.json");
    std::fs::write(&bad, r#"{"year": 2027, "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true}]}"#)
        .unwrap();
    let written = dir.join("out.toml");
    let out = complaintd(&["calendar", "import", bad.to_str().unwrap(), "--out", written.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2027-02-05 (春节) is a statutory holiday but is not listed as a day off"), "{err}");
    assert!(!written.exists());
    std::fs::remove_dir_all(dir).unwrap();
}
