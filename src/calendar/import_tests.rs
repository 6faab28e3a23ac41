//! Import: holiday-cn JSON and our TOML, the checks, and an imported year
//! replacing a provisional one in the calendar.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::*;
use crate::calendar::{Calendar, CalendarSettings, YearStatus};

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// An arrangement for 2027 in holiday-cn's format, made up for the tests
/// (the real notice is not out): 春节 Feb 5-12 with Sat Feb 20 worked, etc.
const INVENTED_2027: &str = "tests/fixtures/calendar/holiday-cn-2027-invented.json";

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("complaintd-import-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn calendar(files: &[PathBuf]) -> Calendar {
    let settings = CalendarSettings {
        timezone: "Asia/Shanghai".into(),
        working_days: ["MON", "TUE", "WED", "THU", "FRI"].map(String::from).to_vec(),
        working_hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
        holiday_files: files.to_vec(),
    };
    Calendar::from_settings(&settings, Path::to_path_buf).unwrap()
}

fn error(name: &str, text: &str) -> String {
    let path = scratch(name, text);
    let e = read(&path).unwrap_err().to_string();
    std::fs::remove_file(path).unwrap();
    e
}

#[test]
fn holiday_cn_json_is_read_checked_and_written() {
    let (years, notes) = read(&manifest(INVENTED_2027)).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(years.len(), 1);
    let a = &years[0];
    assert_eq!((a.year, a.days.len()), (2027, 31));
    assert_eq!(a.days[0], Day { date: date("2027-01-01"), off: true, name: Some("元旦".into()) });
    let text = render(&years, "holiday-cn-2027.json");
    assert!(text.contains("\"2027-02-05..2027-02-12\", # 春节\n"), "{text}");
    assert!(text.contains("\"2027-02-20\", # 春节\n"), "{text}");
    // What is written reads back as the same days.
    let back = reread(&text).unwrap();
    assert_eq!(
        back[0].days.iter().map(|d| (d.date, d.off)).collect::<Vec<_>>(),
        a.days.iter().map(|d| (d.date, d.off)).collect::<Vec<_>>()
    );
}

#[test]
fn our_own_toml_imports_cleanly() {
    let (years, notes) = read(&manifest("data/calendar/cn.toml")).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(years.iter().map(|a| a.year).collect::<Vec<_>>(), [2025, 2026]);
}

#[test]
fn bad_arrangements_are_refused_with_the_reason() {
    let json = |days: &str| format!("{{\"year\": 2027, \"days\": [{days}]}}");
    let day = |d: &str, off: bool| format!("{{\"name\": \"x\", \"date\": \"{d}\", \"isOffDay\": {off}}}");
    let e = error("outside.json", &json(&day("2028-03-01", true)));
    assert!(e.contains("2028-03-01 is outside the year"), "{e}");
    let e = error("twice.json", &json(&[day("2027-01-01", true), day("2027-01-01", true)].join(",")));
    assert!(e.contains("2027-01-01 is listed twice"), "{e}");
    let e = error("weekday.json", &json(&day("2027-02-17", false)));
    assert!(e.contains("2027-02-17 is a Wed") && e.contains("Saturday or Sunday"), "{e}");
    let e = error("not-a-date.json", &json(&day("2027-02-30", true)));
    assert!(e.contains("\"2027-02-30\"") && e.contains("not a date"), "{e}");
    let e = error("not-json.json", "{\"year\": 2027}");
    assert!(e.contains("not holiday-cn JSON") && e.contains("days"), "{e}");
    let e = error("not-toml.toml", "[[year]\n");
    assert!(e.contains("not a holiday file"), "{e}");
    let e = error("placeholder.json", "{\"year\": 2027, \"papers\": [], \"days\": []}");
    assert!(e.contains("year 2027: no days listed"), "{e}");
    let e = error("empty.toml", "");
    assert!(e.contains("holds no year"), "{e}");
    // 2027 without 中秋 (Sep 15) off.
    let text = std::fs::read_to_string(manifest(INVENTED_2027)).unwrap();
    let text = text.replace("\"date\": \"2027-09-15\"", "\"date\": \"2027-09-18\"");
    let e = error("no-mid-autumn.json", &text);
    assert!(e.contains("2027-09-15 (中秋节) is a statutory holiday"), "{e}");
    let e = error("twice.toml", "[[year]]\nyear = 2027\n[[year]]\nyear = 2027\n");
    assert!(e.contains("year 2027"), "{e}");
    // Outside the statutory table the import goes on, and says so.
    let path = scratch("2024.json", &json(&day("2024-01-01", true)).replace("2027", "2024"));
    let (_, notes) = read(&path).unwrap();
    std::fs::remove_file(path).unwrap();
    assert!(notes[0].contains("not checked"), "{notes:?}");
}

#[test]
fn an_imported_year_replaces_the_provisional_one() {
    let cn = manifest("data/calendar/cn.toml");
    let before = calendar(std::slice::from_ref(&cn));
    assert_eq!(before.year_status(2027), YearStatus::Provisional);
    // Provisional: Tue Feb 9 is the 补假 of 初一; Thu Feb 11 is worked.
    assert!(!before.is_working_day(date("2027-02-09")) && before.is_working_day(date("2027-02-11")));

    let (years, _) = read(&manifest(INVENTED_2027)).unwrap();
    let imported = scratch("cn-2027.toml", &render(&years, INVENTED_2027));
    let after = calendar(&[cn, imported.clone()]);
    std::fs::remove_file(imported).unwrap();
    assert_eq!(after.year_status(2027), YearStatus::Official);
    // The notice's days now: Feb 11 off, Sat Feb 20 worked, no 补假 on Oct 4-5 beyond its block.
    assert!(!after.is_working_day(date("2027-02-11")) && after.is_working_day(date("2027-02-20")));
    assert!(!after.is_working_day(date("2027-10-07")) && after.is_working_day(date("2027-10-09")));
    let t = |d, h| Shanghai.with_ymd_and_hms(2027, 3, d, h, 0, 0).unwrap().with_timezone(&Utc);
    assert!(before.is_provisional(t(1, 9), t(5, 9)) && !after.is_provisional(t(1, 9), t(5, 9)));
    // Deadline repair's question: which years changed? Only 2027.
    assert_eq!(after.changed_years(&before.fingerprints()), [2027].into());
    assert!(after.changed_years(&after.fingerprints()).is_empty());
    assert_eq!(before.year_fingerprint(2026), after.year_fingerprint(2026));
}
