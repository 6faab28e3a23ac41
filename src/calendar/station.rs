//! A station's own calendar: the desk's (zone, national holidays and
//! make-up days) with the station's working week, hours and local holidays
//! on top, for stations that work Saturdays or close for a local feast.

use serde::Deserialize;

use super::{Calendar, CalendarError, parse_dates, parse_periods, parse_weekdays};

/// A station's `calendar = { … }`: every key optional, the desk's value
/// where absent.
///
/// ```toml
/// calendar = { working_days = ["MON", "TUE", "WED", "THU", "FRI", "SAT"],
///              working_hours = ["08:30-12:00", "13:00-17:30"],
///              extra_holidays = ["2026-12-24", "2027-03-01..2027-03-02"] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationCalendarSettings {
    /// Weekdays the station works, `MON`..`SUN`, instead of the desk's.
    pub working_days: Option<Vec<String>>,
    /// Its working periods, `HH:MM-HH:MM`, instead of the desk's.
    pub working_hours: Option<Vec<String>>,
    /// Local days off, `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`, on top of the
    /// national ones (they win over a national make-up working day).
    #[serde(default)]
    pub extra_holidays: Vec<String>,
}

impl StationCalendarSettings {
    /// What is wrong with each key written, as (key, message), without a
    /// desk calendar to apply it to (the station directory names the cell).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        if let Some(Err(e)) = self.working_days.as_deref().map(parse_weekdays) {
            found.push(("working_days", e.to_string()));
        }
        if let Some(Err(e)) = self.working_hours.as_deref().map(parse_periods) {
            found.push(("working_hours", e.to_string()));
        }
        for entry in &self.extra_holidays {
            let year = entry.get(..4).and_then(|y| y.parse().ok());
            if let Err(e) =
                year.ok_or_else(|| "not a date (YYYY-MM-DD)".to_owned()).and_then(|y| parse_dates(entry, y, true))
            {
                found.push(("extra_holidays", format!("{entry:?}: {e}")));
            }
        }
        found
    }
}

impl Calendar {
    /// This calendar with a station's working week, hours and local
    /// holidays; national holidays and make-up days stay as they are.
    pub fn for_station(&self, s: &StationCalendarSettings) -> Result<Calendar, CalendarError> {
        let mut cal = self.clone();
        if let Some(days) = &s.working_days {
            cal.weekly = parse_weekdays(days)?;
        }
        if let Some(hours) = &s.working_hours {
            cal.periods = parse_periods(hours)?;
        }
        if !cal.weekly.contains(&true) || cal.periods.is_empty() {
            return Err(CalendarError::NoWorkingTime);
        }
        for entry in &s.extra_holidays {
            let bad = |reason: String| CalendarError::ExtraHoliday { entry: entry.clone(), reason };
            let year =
                entry.get(..4).and_then(|y| y.parse().ok()).ok_or_else(|| bad("not a date (YYYY-MM-DD)".into()))?;
            for date in parse_dates(entry, year, true).map_err(bad)? {
                cal.workdays.remove(&date);
                cal.holidays.insert(date);
            }
        }
        cal.check_days_off()?;
        Ok(cal)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::calendar::{BusinessDays, CalendarSettings};

    fn desk() -> Calendar {
        let settings = CalendarSettings {
            timezone: "Asia/Shanghai".into(),
            working_days: ["MON", "TUE", "WED", "THU", "FRI"].map(String::from).to_vec(),
            working_hours: vec!["09:00-12:00".into(), "13:00-18:00".into()],
            holiday_files: vec![],
        };
        Calendar::from_settings(&settings, |p| p.to_owned()).expect("calendar")
    }

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_station_that_works_saturdays_counts_them() {
        let saturdays = StationCalendarSettings {
            working_days: Some(["MON", "TUE", "WED", "THU", "FRI", "SAT"].map(String::from).to_vec()),
            ..Default::default()
        };
        let station = desk().for_station(&saturdays).expect("station calendar");
        // Friday 2026-11-20 14:00 plus one business day: Saturday 14:00 at
        // the station, Monday 14:00 at the desk.
        let start = local(2026, 11, 20, 14, 0);
        let one = BusinessDays::from_half_days(2);
        assert_eq!(station.add_business_days(start, one), local(2026, 11, 21, 14, 0));
        assert_eq!(desk().add_business_days(start, one), local(2026, 11, 23, 14, 0));
        // National days off stay off: 2027-01-01 (Friday, provisional 元旦).
        assert!(!station.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()));
    }

    #[test]
    fn local_holidays_and_hours_apply_and_bad_ones_are_refused() {
        let s = StationCalendarSettings {
            working_hours: Some(vec!["08:00-12:00".into()]),
            extra_holidays: vec!["2026-11-23..2026-11-24".into()],
            ..Default::default()
        };
        let station = desk().for_station(&s).expect("station calendar");
        assert_eq!(station.next_working_instant(local(2026, 11, 21, 10, 0)), local(2026, 11, 25, 8, 0));
        assert_eq!(station.business_day(), chrono::Duration::hours(4));
        let bad = StationCalendarSettings { extra_holidays: vec!["2026-13-01".into()], ..Default::default() };
        assert!(desk().for_station(&bad).is_err());
        let none = StationCalendarSettings { working_days: Some(vec![]), ..Default::default() };
        assert!(matches!(desk().for_station(&none), Err(CalendarError::NoWorkingTime)));
    }
}
