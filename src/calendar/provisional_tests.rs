//! Provisional years in the calendar: which years, their days off, the
//! deadlines through them, and the warnings.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use super::*;
use crate::deadline::{self, DeadlinePolicy, Milestone};
use crate::ticket::Urgency;

fn cn() -> Calendar {
    let settings = CalendarSettings {
        timezone: "Asia/Shanghai".into(),
        working_days: ["MON", "TUE", "WED", "THU", "FRI"].map(String::from).to_vec(),
        working_hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
        holiday_files: vec![PathBuf::from("data/calendar/cn.toml")],
    };
    Calendar::from_settings(&settings, |p| Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn at(wall: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(wall, "%Y-%m-%d %H:%M").unwrap();
    Shanghai.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

#[test]
fn years_without_a_notice_are_provisional() {
    let cal = cn();
    assert_eq!(cal.year_status(2026), YearStatus::Official);
    for year in 2027..=statutory::LAST_YEAR {
        assert_eq!(cal.year_status(year), YearStatus::Provisional, "{year}");
    }
    // Before the 2024 revision, or past the table: nothing is known.
    assert_eq!(cal.year_status(2024), YearStatus::Unknown);
    assert_eq!(cal.year_status(statutory::LAST_YEAR + 1), YearStatus::Unknown);
    assert!(!cal.is_provisional(at("2026-03-02 09:00"), at("2026-12-31 18:00")));
    assert!(cal.is_provisional(at("2026-12-31 16:00"), at("2027-01-04 09:00")));
    assert!(cal.is_provisional(at("2027-01-04 09:00"), at("2026-12-31 16:00")));
    assert_eq!(cal.years_between(at("2027-01-04 09:00"), at("2026-12-31 16:00")), 2026..=2027);
}

#[test]
fn provisional_days_are_days_off_2027_to_2030() {
    let cal = cn();
    for year in 2027..=2030 {
        for (day, reason) in statutory::provisional_days(year).unwrap() {
            assert!(!cal.is_working_day(day), "{day} ({reason:?}) is off");
        }
        let listed: Vec<NaiveDate> = cal.days_off_in(year).collect();
        let mut expected: Vec<NaiveDate> =
            statutory::provisional_days(year).unwrap().into_iter().map(|(d, _)| d).collect();
        expected.dedup();
        assert_eq!(listed, expected, "{year}");
        assert_eq!(cal.workdays_in(year).count(), 0, "no 调休 is guessed in {year}");
    }
    // The working days around them stay worked: Thu Feb 11 2027, and the
    // Saturday Feb 20 a notice might make a workday is still off.
    assert!(cal.is_working_day(date("2027-02-11")));
    assert!(!cal.is_working_day(date("2027-02-20")));
}

#[test]
fn a_window_across_new_year_skips_the_provisional_new_years_day() {
    let cal = cn();
    let policy = DeadlinePolicy::default();
    // Thu 2026-12-31 16:00, normal: 2 h on Thursday, Fri Jan 1 (元旦) and the
    // weekend off, 8 h on Monday, 6 h on Tuesday: due Tue 16:00.
    let d = deadline::compute(&cal, &policy, at("2026-12-31 16:00"), Urgency::Normal);
    assert_eq!(d.reply_due, at("2027-01-05 16:00"));
    assert!(d.provisional);
    let alerts =
        deadline::ladder(&cal, &policy, &d, Urgency::Normal, &[Milestone::Reply, Milestone::Result, Milestone::Close]);
    for a in &alerts {
        let day = a.send_at.with_timezone(&Shanghai).date_naive();
        assert!(cal.is_working_day(day) && day != date("2027-01-01"), "{} on {day}", a.key);
    }
    // Halfway through the reply window: 2 h Thursday + 6 h Monday.
    assert_eq!(alerts[0].send_at, at("2027-01-04 16:00"));
    // Wholly inside 2026: not provisional.
    let d = deadline::compute(&cal, &policy, at("2026-12-01 10:00"), Urgency::Normal);
    assert!(!d.provisional);
}

#[test]
fn next_years_notice_is_due_from_october_15() {
    let cal = cn();
    assert!(cal.coverage_warnings(date("2026-10-14")).is_empty());
    let w = cal.coverage_warnings(date("2026-10-15"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("notice for 2027 is due") && w[0].contains("provisional"), "{w:?}");
    // In 2027 itself, the current year is provisional, and says how to fix it.
    let w = cal.coverage_warnings(date("2027-03-01"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("current year") && w[0].contains("calendar import"), "{w:?}");
}
