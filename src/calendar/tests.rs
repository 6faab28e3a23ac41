//! Calendar tests. Expected instants are worked out by hand in the comments,
//! on the default day: 09:00-12:00 (3 h) and 13:00-18:00 (5 h), 8 h in all.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::*;
use crate::config::Settings;

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn settings(tz: &str, days: &[&str], hours: &[&str], files: &[PathBuf]) -> CalendarSettings {
    CalendarSettings {
        timezone: tz.into(),
        working_days: days.iter().map(|d| d.to_string()).collect(),
        working_hours: hours.iter().map(|h| h.to_string()).collect(),
        holiday_files: files.to_vec(),
    }
}

const WEEKDAYS: [&str; 5] = ["MON", "TUE", "WED", "THU", "FRI"];
const HOURS: [&str; 2] = ["09:00-12:00", "13:00-18:00"];

/// The shipped calendar, as `config/example.toml` describes it.
fn cn() -> Calendar {
    let s = settings("Asia/Shanghai", &WEEKDAYS, &HOURS, &[PathBuf::from("data/calendar/cn.toml")]);
    Calendar::from_settings(&s, |p| manifest(&p.to_string_lossy())).unwrap()
}

/// Shanghai wall time `YYYY-MM-DD HH:MM` as an instant.
fn at(wall: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M").unwrap();
    Shanghai.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

/// An instant as Shanghai wall time `YYYY-MM-DD HH:MM`.
fn wall(t: DateTime<Utc>) -> String {
    t.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn days(s: &str) -> BusinessDays {
    s.parse().unwrap()
}

/// Writes a scratch holiday file for one test.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("complaintd-calendar-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn with_files(files: &[PathBuf]) -> Result<Calendar, CalendarError> {
    Calendar::from_settings(&settings("Asia/Shanghai", &WEEKDAYS, &HOURS, files), Path::to_path_buf)
}

#[test]
fn example_config_loads_the_shipped_calendar() {
    let settings = Settings::load(&manifest("config/example.toml")).unwrap();
    let cal = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p)).unwrap();
    assert_eq!(cal.tz(), Shanghai);
    assert_eq!(cal.business_day(), Duration::hours(8));
    assert_eq!(cal.covered_years().iter().copied().collect::<Vec<_>>(), [2025, 2026]);
    assert!(!cal.is_working_day(date("2026-10-01")));
}

/// Every date of both notices, each with its weekday as the notice gives it.
#[test]
fn every_holiday_and_make_up_day_of_2025_and_2026() {
    let cal = cn();
    let holidays = [
        ("2025-01-01", "2025-01-01"), // 元旦
        ("2025-01-28", "2025-02-04"), // 春节
        ("2025-04-04", "2025-04-06"), // 清明
        ("2025-05-01", "2025-05-05"), // 劳动节
        ("2025-05-31", "2025-06-02"), // 端午
        ("2025-10-01", "2025-10-08"), // 国庆 + 中秋
        ("2026-01-01", "2026-01-03"), // 元旦
        ("2026-02-15", "2026-02-23"), // 春节
        ("2026-04-04", "2026-04-06"), // 清明
        ("2026-05-01", "2026-05-05"), // 劳动节
        ("2026-06-19", "2026-06-21"), // 端午
        ("2026-09-25", "2026-09-27"), // 中秋
        ("2026-10-01", "2026-10-07"), // 国庆
    ];
    for (from, to) in holidays {
        for day in date(from).iter_days().take_while(|d| *d <= date(to)) {
            assert!(!cal.is_working_day(day), "{day} is a holiday");
        }
        // The day after each block is worked.
        assert!(cal.is_working_day(date(to).succ_opt().unwrap()), "after {to}");
    }
    let make_up = [
        ("2025-01-26", Weekday::Sun),
        ("2025-02-08", Weekday::Sat),
        ("2025-04-27", Weekday::Sun),
        ("2025-09-28", Weekday::Sun),
        ("2025-10-11", Weekday::Sat),
        ("2026-01-04", Weekday::Sun),
        ("2026-02-14", Weekday::Sat),
        ("2026-02-28", Weekday::Sat),
        ("2026-05-09", Weekday::Sat),
        ("2026-09-20", Weekday::Sun),
        ("2026-10-10", Weekday::Sat),
    ];
    for (day, weekday) in make_up {
        assert_eq!(date(day).weekday(), weekday, "{day}");
        assert!(cal.is_working_day(date(day)), "{day} is a make-up day");
    }
    // Notice weekdays: 2025 元旦 Wed, 2026 春节 starts Sun, 2026 国庆 starts Thu.
    assert_eq!(date("2025-01-01").weekday(), Weekday::Wed);
    assert_eq!(date("2026-02-15").weekday(), Weekday::Sun);
    assert_eq!(date("2026-10-01").weekday(), Weekday::Thu);
    // Ordinary weekends stay off, ordinary weekdays stay on.
    assert!(!cal.is_working_day(date("2026-01-10")));
    assert!(!cal.is_working_day(date("2026-02-01")));
    assert!(cal.is_working_day(date("2026-03-10")));
}

/// Business days across each holiday block and make-up day.
#[test]
fn business_days_across_holidays() {
    let cal = cn();
    let cases = [
        // 2025 元旦: Tue Dec 31 2024 17:00 +4h: 1h that day; Jan 1 off; Thu 09-12.
        ("2024-12-31 17:00", "0.5", "2025-01-02 12:00"),
        // 2025 春节: Fri Jan 24 14:00 +8h: 4h Fri; Sat off; Sun Jan 26 (make-up) 09-12, 13-14.
        ("2025-01-24 14:00", "1", "2025-01-26 14:00"),
        // Mon Jan 27 15:00 +8h: 3h; Jan 28-Feb 4 off; Wed Feb 5 09-12, 13-15.
        ("2025-01-27 15:00", "1", "2025-02-05 15:00"),
        // Fri Feb 7 16:00 +4h: 2h; Sat Feb 8 (make-up) 09-11.
        ("2025-02-07 16:00", "0.5", "2025-02-08 11:00"),
        // 清明 Apr 4-6: Thu Apr 3 17:00 +4h: 1h; Mon Apr 7 09-12.
        ("2025-04-03 17:00", "0.5", "2025-04-07 12:00"),
        // 劳动节: Fri Apr 25 17:00 +4h: 1h; Sat off; Sun Apr 27 (make-up) 09-12.
        ("2025-04-25 17:00", "0.5", "2025-04-27 12:00"),
        // Wed Apr 30 16:00 +8h: 2h; May 1-5 off; Tue May 6 09-12, 13-16.
        ("2025-04-30 16:00", "1", "2025-05-06 16:00"),
        // 端午 May 31-Jun 2: Fri May 30 16:00 +4h: 2h; Tue Jun 3 09-11.
        ("2025-05-30 16:00", "0.5", "2025-06-03 11:00"),
        // 国庆+中秋: Fri Sep 26 17:00 +4h: 1h; Sat off; Sun Sep 28 (make-up) 09-12.
        ("2025-09-26 17:00", "0.5", "2025-09-28 12:00"),
        // Tue Sep 30 17:00 +8h: 1h; Oct 1-8 off; Thu Oct 9 09-12, 13-17.
        ("2025-09-30 17:00", "1", "2025-10-09 17:00"),
        // Fri Oct 10 14:00 +8h: 4h; Sat Oct 11 (make-up) 09-12, 13-14.
        ("2025-10-10 14:00", "1", "2025-10-11 14:00"),
        // Year boundary, 2026 元旦 Jan 1-3: Wed Dec 31 16:00 +8h: 2h; Sun Jan 4 (make-up) 09-12, 13-16.
        ("2025-12-31 16:00", "1", "2026-01-04 16:00"),
        // ... +16h: another 8h from Sun Jan 4 16:00: 2h; Mon Jan 5 09-12, 13-16.
        ("2025-12-31 16:00", "2", "2026-01-05 16:00"),
        // 2026 春节: Fri Feb 13 15:00 +4h: 3h; Sat Feb 14 (make-up) 09-10.
        ("2026-02-13 15:00", "0.5", "2026-02-14 10:00"),
        // The afternoon before 春节, on the make-up Saturday: 16:00 +8h: 2h;
        // Feb 15-23 off; Tue Feb 24 09-12, 13-16.
        ("2026-02-14 16:00", "1", "2026-02-24 16:00"),
        // Fri Feb 27 17:00 +4h: 1h; Sat Feb 28 (make-up) 09-12, ending at 12:00.
        ("2026-02-27 17:00", "0.5", "2026-02-28 12:00"),
        // 清明 Apr 4-6: Fri Apr 3 14:00 +8h: 4h; Tue Apr 7 09-12, 13-14.
        ("2026-04-03 14:00", "1", "2026-04-07 14:00"),
        // 劳动节 May 1-5: Thu Apr 30 10:00 +16h: 7h; Wed May 6 8h (15); Thu May 7 09-10.
        ("2026-04-30 10:00", "2", "2026-05-07 10:00"),
        // Fri May 8 10:00 +8h: 7h; Sat May 9 (make-up) 09-10.
        ("2026-05-08 10:00", "1", "2026-05-09 10:00"),
        // 端午 Jun 19-21: Thu Jun 18 13:00 +8h: 5h; Mon Jun 22 09-12.
        ("2026-06-18 13:00", "1", "2026-06-22 12:00"),
        // 国庆 make-up Sun Sep 20, from Sat Sep 19: clock starts Sun 09:00, +4h = 14:00.
        ("2026-09-19 10:00", "0.5", "2026-09-20 14:00"),
        // 中秋 Sep 25-27: Thu Sep 24 14:00 +8h: 4h; Mon Sep 28 09-12, 13-14.
        ("2026-09-24 14:00", "1", "2026-09-28 14:00"),
        // 国庆 Oct 1-7: Wed Sep 30 16:00 +4h: 2h; Thu Oct 8 09-11 (PRODUCT.md's example).
        ("2026-09-30 16:00", "0.5", "2026-10-08 11:00"),
        // Wed Sep 30 14:00 +16h: 4h; Thu Oct 8 8h (12); Fri Oct 9 09-12, 13-14.
        ("2026-09-30 14:00", "2", "2026-10-09 14:00"),
        // Fri Oct 9 15:00 +8h: 3h; Sat Oct 10 (make-up) 09-12, 13-15.
        ("2026-10-09 15:00", "1", "2026-10-10 15:00"),
        // Received during 国庆: clock starts Thu Oct 8 09:00, +8h = 18:00 that day.
        ("2026-10-03 10:00", "1", "2026-10-08 18:00"),
    ];
    for (start, n, expected) in cases {
        let due = cal.add_business_days(at(start), days(n));
        assert_eq!(wall(due), expected, "{start} + {n} bd");
    }
}

/// Working time around lunch, period ends, nights and weekends (Tue 2026-03-10).
#[test]
fn working_time_boundaries() {
    let cal = cn();
    let cases = [
        // Across lunch: 11-12 1h, 13-14 1h.
        ("2026-03-10 11:00", 120, "2026-03-10 14:00"),
        // Runs out at the end of the morning: ends at 12:00, not 13:00.
        ("2026-03-10 09:00", 180, "2026-03-10 12:00"),
        // Runs out at the end of the day: 18:00, not 09:00 next morning.
        ("2026-03-10 14:00", 240, "2026-03-10 18:00"),
        // Starting at 12:00 starts at 13:00.
        ("2026-03-10 12:00", 60, "2026-03-10 14:00"),
        // Starting at lunch.
        ("2026-03-10 12:30", 30, "2026-03-10 13:30"),
        // Starting at 18:00 starts next morning.
        ("2026-03-10 18:00", 60, "2026-03-11 10:00"),
        // Night, before the day starts.
        ("2026-03-10 02:00", 60, "2026-03-10 10:00"),
        // Night, after the day ends.
        ("2026-03-10 22:00", 60, "2026-03-11 10:00"),
        // Weekend: Sat -> Mon 09:00 + 1h.
        ("2026-03-14 10:00", 60, "2026-03-16 10:00"),
        // Friday evening past the weekend: 17-18, Mon 09-12.
        ("2026-03-13 17:00", 240, "2026-03-16 12:00"),
        // Zero: the clock start.
        ("2026-03-10 12:00", 0, "2026-03-10 13:00"),
        ("2026-03-10 10:15", 0, "2026-03-10 10:15"),
    ];
    for (start, minutes, expected) in cases {
        let end = cal.add_working(at(start), Duration::minutes(minutes));
        assert_eq!(wall(end), expected, "{start} + {minutes} min");
    }
    // Negative durations count as zero.
    assert_eq!(wall(cal.add_working(at("2026-03-10 12:00"), Duration::minutes(-5))), "2026-03-10 13:00");
    // Seconds survive: 10:00:30 + 2h = 12:00:30 is past noon, so 13:00:30.
    let start = at("2026-03-10 10:00") + Duration::seconds(30);
    assert_eq!(cal.add_working(start, Duration::hours(2)), at("2026-03-10 13:00") + Duration::seconds(30));
}

#[test]
fn working_instants() {
    let cal = cn();
    let cases = [
        // (instant, is working, next working instant)
        ("2026-03-10 09:00", true, "2026-03-10 09:00"),
        ("2026-03-10 11:59", true, "2026-03-10 11:59"),
        ("2026-03-10 12:00", false, "2026-03-10 13:00"),
        ("2026-03-10 13:00", true, "2026-03-10 13:00"),
        ("2026-03-10 17:59", true, "2026-03-10 17:59"),
        ("2026-03-10 18:00", false, "2026-03-11 09:00"),
        ("2026-03-10 08:59", false, "2026-03-10 09:00"),
        ("2026-03-14 10:00", false, "2026-03-16 09:00"),
        // 国庆 2026: off Oct 1-7, back Thu Oct 8.
        ("2026-10-01 10:00", false, "2026-10-08 09:00"),
        // 春节 2026: the make-up Saturday before it is worked.
        ("2026-02-14 10:00", true, "2026-02-14 10:00"),
        ("2026-02-14 18:30", false, "2026-02-24 09:00"),
        // Year boundary: New Year's Eve night -> the make-up Sunday Jan 4.
        ("2025-12-31 23:00", false, "2026-01-04 09:00"),
    ];
    for (t, working, next) in cases {
        assert_eq!(cal.is_working(at(t)), working, "is_working {t}");
        assert_eq!(wall(cal.next_working_instant(at(t))), next, "next {t}");
    }
}

#[test]
fn working_time_between_instants() {
    let cal = cn();
    let cases = [
        // A business day: Mon 10:00 -> Tue 10:00.
        ("2026-03-09 10:00", "2026-03-10 10:00", 480),
        // Across lunch: 11:30-12 and 13-13:30.
        ("2026-03-10 11:30", "2026-03-10 13:30", 60),
        // Inside lunch.
        ("2026-03-10 12:10", "2026-03-10 12:50", 0),
        // Over a weekend: Fri 17-18, Mon 09-10.
        ("2026-03-13 17:00", "2026-03-16 10:00", 120),
        // Over 国庆 2026: Wed Sep 30 17-18, Thu Oct 8 09-10.
        ("2026-09-30 17:00", "2026-10-08 10:00", 120),
        // Both at night.
        ("2026-03-10 20:00", "2026-03-11 08:00", 0),
        // Backwards is negative.
        ("2026-03-16 10:00", "2026-03-13 17:00", -120),
    ];
    for (a, b, minutes) in cases {
        assert_eq!(cal.working_between(at(a), at(b)), Duration::minutes(minutes), "{a} -> {b}");
    }
    // Consistent with add_working.
    let start = at("2026-02-13 15:20");
    let end = cal.add_working(start, Duration::minutes(1000));
    assert_eq!(cal.working_between(start, end), Duration::minutes(1000));
}

#[test]
fn coverage_warnings_name_missing_years() {
    let cal = cn();
    // Covered now, next year's notice not yet due.
    assert!(cal.coverage_warnings(date("2026-03-01")).is_empty());
    // From November, 2027 is wanted.
    let w = cal.coverage_warnings(date("2026-11-15"));
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("2027"), "{w:?}");
    // In 2027 the current year is missing, and from November 2028 as well.
    let w = cal.coverage_warnings(date("2027-01-02"));
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("2027") && w[0].contains("current year"), "{w:?}");
    assert_eq!(cal.coverage_warnings(date("2027-12-01")).len(), 2);
    assert!(cal.coverage_warnings(date("2025-12-31")).is_empty());
}

#[test]
fn bad_settings_are_refused_with_the_setting_named() {
    let build = |tz: &str, days: &[&str], hours: &[&str]| {
        Calendar::from_settings(&settings(tz, days, hours, &[]), Path::to_path_buf).unwrap_err().to_string()
    };
    let e = build("Asia/Shangai", &WEEKDAYS, &HOURS);
    assert!(e.contains("calendar.timezone") && e.contains("Asia/Shangai"), "{e}");
    let e = build("Asia/Shanghai", &["MON", "Funday"], &HOURS);
    assert!(e.contains("calendar.working_days") && e.contains("Funday"), "{e}");
    for bad in ["9-12", "09:00", "09:00-09:00", "12:00-09:00", "09:60-10:00", "23:00-24:30"] {
        let e = build("Asia/Shanghai", &WEEKDAYS, &[bad]);
        assert!(e.contains("calendar.working_hours") && e.contains(bad), "{e}");
    }
    let e = build("Asia/Shanghai", &WEEKDAYS, &["09:00-12:00", "11:00-13:00"]);
    assert!(e.contains("overlaps"), "{e}");
    let e = build("Asia/Shanghai", &WEEKDAYS, &["13:00-18:00", "09:00-12:00"]);
    assert!(e.contains("in order"), "{e}");
    assert!(build("Asia/Shanghai", &[], &HOURS).contains("no working time"));
    assert!(build("Asia/Shanghai", &WEEKDAYS, &[]).contains("no working time"));
}

#[test]
fn settings_accept_names_in_any_case_and_a_whole_day() {
    let s = settings("UTC", &["mon", "Tuesday", "SUN"], &["0:00-24:00"], &[]);
    let cal = Calendar::from_settings(&s, Path::to_path_buf).unwrap();
    assert_eq!(cal.business_day(), Duration::hours(24));
    let mon = Utc.with_ymd_and_hms(2026, 3, 9, 23, 0, 0).unwrap();
    // Mon 23:00 + 2h runs through midnight into Tuesday.
    assert_eq!(cal.add_working(mon, Duration::hours(2)), Utc.with_ymd_and_hms(2026, 3, 10, 1, 0, 0).unwrap());
    // Tue 23:00 + 2h skips Wed-Sat: Tue 1h, Sun 00:00-01:00.
    let tue = Utc.with_ymd_and_hms(2026, 3, 10, 23, 0, 0).unwrap();
    assert_eq!(cal.add_working(tue, Duration::hours(2)), Utc.with_ymd_and_hms(2026, 3, 15, 1, 0, 0).unwrap());
    assert!(cal.coverage_warnings(date("2026-03-01"))[0].contains("2026"));
}

#[test]
fn later_holiday_files_override_earlier_ones() {
    // A company file: Fri Oct 9 2026 off as well, Sun Oct 4 (inside 国庆) worked.
    let extra =
        scratch("override", "[[year]]\nyear = 2026\nholidays = [\"2026-10-09\"]\nworkdays = [\"2026-10-04\"]\n");
    let cal = with_files(&[manifest("data/calendar/cn.toml"), extra]).unwrap();
    assert!(!cal.is_working_day(date("2026-10-09")));
    assert!(cal.is_working_day(date("2026-10-04")));
    assert!(!cal.is_working_day(date("2026-10-05")));
    // Sat Oct 3 10:00: starts Sun Oct 4 09:00 + 8h = 18:00.
    assert_eq!(wall(cal.add_business_days(at("2026-10-03 10:00"), days("1"))), "2026-10-04 18:00");
}

#[test]
fn bad_holiday_files_name_the_file_and_entry() {
    let missing = manifest("data/calendar/nowhere.toml");
    let e = with_files(std::slice::from_ref(&missing)).unwrap_err().to_string();
    assert!(e.contains("nowhere.toml") && e.contains("cannot read"), "{e}");

    let cases = [
        ("bad-date", "[[year]]\nyear = 2026\nholidays = [\"2026-02-30\"]\n", "\"2026-02-30\""),
        ("far-year", "[[year]]\nyear = 2026\nholidays = [\"2062-01-01\"]\n", "not near"),
        ("reversed", "[[year]]\nyear = 2026\nholidays = [\"2026-02-23..2026-02-15\"]\n", "ends before"),
        ("long-range", "[[year]]\nyear = 2026\nholidays = [\"2026-01-01..2026-12-31\"]\n", "typo"),
        ("workday-range", "[[year]]\nyear = 2026\nworkdays = [\"2026-01-03..2026-01-04\"]\n", "one by one"),
        (
            "both",
            "[[year]]\nyear = 2026\nholidays = [\"2026-01-01..2026-01-04\"]\nworkdays = [\"2026-01-04\"]\n",
            "also listed as a holiday",
        ),
        ("twice", "[[year]]\nyear = 2026\n[[year]]\nyear = 2026\n", "appears twice"),
        ("unknown-key", "[[year]]\nyear = 2026\nholiday = []\n", "holiday"),
        ("not-toml", "[[year]\n", "invalid holiday file"),
    ];
    for (name, text, needle) in cases {
        let path = scratch(name, text);
        let e = with_files(std::slice::from_ref(&path)).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains(needle), "{name}: {e}");
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn holiday_data_cannot_stop_work_for_months() {
    // Two ranges of 40 days, back to back across the New Year; the run
    // starts on the Saturday before.
    let path = scratch(
        "months-off",
        "[[year]]\nyear = 2026\nholidays = [\"2026-11-01..2026-12-10\", \"2026-12-11..2027-01-19\"]\n",
    );
    let e = with_files(std::slice::from_ref(&path)).unwrap_err();
    assert!(matches!(e, CalendarError::TooManyDaysOff { from } if from == date("2026-10-31")), "{e}");
    std::fs::remove_file(path).unwrap();
}

/// A zone with DST: periods follow the wall clock.
#[test]
fn dst_zones_follow_the_wall_clock() {
    let cal = Calendar::from_settings(&settings("Europe/Berlin", &WEEKDAYS, &["09:00-17:00"], &[]), Path::to_path_buf)
        .unwrap();
    // Fri 2026-03-27 16:00 CET (15:00 UTC) + 2h: 1h Fri; clocks go forward on
    // Sunday; Mon 09:00-10:00 CEST, which is 08:00 UTC.
    let friday = Utc.with_ymd_and_hms(2026, 3, 27, 15, 0, 0).unwrap();
    assert_eq!(cal.add_working(friday, Duration::hours(2)), Utc.with_ymd_and_hms(2026, 3, 30, 8, 0, 0).unwrap());
    assert_eq!(cal.working_between(friday, Utc.with_ymd_and_hms(2026, 3, 30, 8, 0, 0).unwrap()), Duration::hours(2));

    // New York springs forward on Sun 2026-03-08 at 02:00: that day has 23 h.
    let all_week = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let ny =
        Calendar::from_settings(&settings("America/New_York", &all_week, &["00:00-24:00"], &[]), Path::to_path_buf)
            .unwrap();
    let midnight = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap(); // 00:00 EST
    let next_midnight = Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap(); // 00:00 EDT
    assert_eq!(ny.working_between(midnight, next_midnight), Duration::hours(23));
    // 00:00 + 3h of working time is 04:00 EDT (08:00 UTC): 02:00-03:00 never happens.
    assert_eq!(ny.add_working(midnight, Duration::hours(3)), Utc.with_ymd_and_hms(2026, 3, 8, 8, 0, 0).unwrap());

    // A period starting inside the gap starts when the gap ends.
    let gap =
        Calendar::from_settings(&settings("America/New_York", &all_week, &["02:30-05:00"], &[]), Path::to_path_buf)
            .unwrap();
    // 02:30 EST would be 07:30 UTC = 03:30 EDT; 05:00 EDT = 09:00 UTC.
    assert_eq!(gap.next_working_instant(midnight), Utc.with_ymd_and_hms(2026, 3, 8, 7, 30, 0).unwrap());
    assert_eq!(gap.working_between(midnight, next_midnight), Duration::minutes(90));
}

#[test]
fn business_days_parse_in_half_days() {
    assert_eq!(days("0.5").half_days(), 1);
    assert_eq!(days("2").half_days(), 4);
    assert_eq!(days(" 1.5 ").half_days(), 3);
    assert_eq!(days("0").half_days(), 0);
    for bad in ["0.3", "-1", "abc", "", "NaN", "inf", "101"] {
        assert_eq!(bad.parse::<BusinessDays>(), Err(BadBusinessDays(bad.into())));
    }
    assert_eq!(days("2.5").to_string(), "2.5");
    assert_eq!(days("3").to_string(), "3");
    // Half a business day of a 7.5 h day.
    assert_eq!(days("0.5").working_time(Duration::minutes(450)), Duration::seconds(225 * 60));
}
