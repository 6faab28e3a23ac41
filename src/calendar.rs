//! The work calendar: time zone, working periods, public holidays and make-up days.
//!
//! Business time counts only inside working periods. A period is half-open,
//! `[start, end)`: in 09:00-12:00, 12:00 itself is not working time. So a
//! clock started at 12:00 starts at 13:00, while a window that runs out at
//! 12:00 ends at 12:00 rather than at 13:00.
//!
//! Instants go in and out as `DateTime<Utc>`; periods are read in the
//! calendar's zone, day by day, so DST days are as long as the wall clock says.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The `[calendar]` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA zone the desk works in.
    pub timezone: String,
    /// Weekdays that are working days, `MON`..`SUN`.
    pub working_days: Vec<String>,
    /// Working periods of a working day, `HH:MM-HH:MM`, in order.
    pub working_hours: Vec<String>,
    /// Holiday data files, relative to the config file's directory.
    #[serde(default)]
    pub holiday_files: Vec<PathBuf>,
}

/// How far any search for working time looks ahead, in calendar days. The
/// construction checks make working time appear far sooner; the cap only
/// keeps absurd durations from looping for long.
const SEARCH_LIMIT_DAYS: usize = 3 * 366;

/// Longest run of days off the holiday data may create. Real arrangements
/// are at most nine days; a longer run is a typo in a range.
const MAX_DAYS_OFF: i64 = 60;

/// From this month on, a missing arrangement for next year is warned about:
/// notices come out in late October or November, so earlier it is not news.
const NEXT_YEAR_WARNING_MONTH: u32 = 11;

/// A calendar that cannot be built, naming the setting or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar.timezone: unknown time zone {0:?} (an IANA name like \"Asia/Shanghai\")")]
    Timezone(String),
    #[error("calendar.working_days: unknown weekday {0:?} (MON, TUE, WED, THU, FRI, SAT, SUN)")]
    Weekday(String),
    #[error("calendar.working_hours: {period:?}: {reason}")]
    Period { period: String, reason: String },
    #[error("calendar: no working time in the week (working_days or working_hours is empty)")]
    NoWorkingTime,
    /// The I/O error is in the message, not a `source`: `{:#}` would say it twice.
    #[error("{path}: cannot read holiday file: {error}")]
    HolidayRead { path: PathBuf, error: std::io::Error },
    #[error("{path}: invalid holiday file: {message}")]
    HolidayParse { path: PathBuf, message: String },
    #[error("{path}: year {year}: {entry:?}: {reason}")]
    HolidayEntry { path: PathBuf, year: i32, entry: String, reason: String },
    #[error("holiday data leave no working day for more than {MAX_DAYS_OFF} days from {from}")]
    TooManyDaysOff { from: NaiveDate },
}

/// One working period of a working day, in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    /// First working minute.
    start: u32,
    /// First minute after it; up to 24:00.
    end: u32,
}

/// A holiday file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayFile {
    /// One arrangement per year.
    #[serde(default)]
    year: Vec<YearArrangement>,
}

/// One year's notice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearArrangement {
    /// The year the notice is for.
    year: i32,
    /// Days off: `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`.
    #[serde(default)]
    holidays: Vec<String>,
    /// Make-up working days: `YYYY-MM-DD`.
    #[serde(default)]
    workdays: Vec<String>,
}

/// Working time: weekly pattern, holidays and make-up days, in one zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The zone periods are read in.
    tz: Tz,
    /// Whether each weekday, Monday first, is worked when no holiday data say otherwise.
    weekly: [bool; 7],
    /// The periods of every working day, in order and disjoint.
    periods: Vec<Period>,
    /// Days off whatever their weekday.
    holidays: BTreeSet<NaiveDate>,
    /// Days worked whatever their weekday (调休).
    workdays: BTreeSet<NaiveDate>,
    /// Years the holiday data hold an arrangement for.
    years: BTreeSet<i32>,
}

impl Calendar {
    /// Builds the calendar from its settings, reading the holiday files;
    /// `resolve` turns a configured path into one to open (see
    /// `Settings::resolve`).
    pub fn from_settings(
        settings: &CalendarSettings,
        resolve: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, CalendarError> {
        let tz = settings.timezone.parse::<Tz>().map_err(|_| CalendarError::Timezone(settings.timezone.clone()))?;
        let mut weekly = [false; 7];
        for name in &settings.working_days {
            let day: Weekday = name.trim().parse().map_err(|_| CalendarError::Weekday(name.clone()))?;
            weekly[day.num_days_from_monday() as usize] = true;
        }
        let periods = parse_periods(&settings.working_hours)?;
        // Without this every search for working time would run to its cap.
        if !weekly.contains(&true) || periods.is_empty() {
            return Err(CalendarError::NoWorkingTime);
        }
        let mut calendar = Calendar {
            tz,
            weekly,
            periods,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
            years: BTreeSet::new(),
        };
        for file in &settings.holiday_files {
            calendar.load_holidays(&resolve(file))?;
        }
        calendar.check_days_off()?;
        Ok(calendar)
    }

    /// The zone the desk works in: dates in ticket numbers and times in mail
    /// are written in it.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Years the holiday data cover, in order.
    pub fn covered_years(&self) -> &BTreeSet<i32> {
        &self.years
    }

    /// What the operator should know about missing holiday data on `today`:
    /// the current year always, the next one from November (when its notice
    /// is usually out). Without an arrangement, only the weekly pattern is
    /// used, so holidays would count as working days.
    pub fn coverage_warnings(&self, today: NaiveDate) -> Vec<String> {
        let year = today.year();
        let mut warnings = Vec::new();
        if !self.years.contains(&year) {
            warnings.push(format!(
                "holiday data have no arrangement for {year}, the current year: \
                 public holidays and make-up days are ignored until one is added to a holiday file"
            ));
        }
        if today.month() >= NEXT_YEAR_WARNING_MONTH && !self.years.contains(&(year + 1)) {
            warnings.push(format!(
                "holiday data have no arrangement for {}: add it to a holiday file once the \
                 State Council publishes it, before deadlines reach into the new year",
                year + 1
            ));
        }
        warnings
    }

    /// The standard working day: the sum of the working periods (8 h by default).
    pub fn business_day(&self) -> Duration {
        let minutes: u32 = self.periods.iter().map(|p| p.end - p.start).sum();
        Duration::minutes(minutes.into())
    }

    /// Whether `date` is a working day: holiday data first, then the weekday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.holidays.contains(&date) {
            false
        } else if self.workdays.contains(&date) {
            true
        } else {
            self.weekly[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// Whether `t` is inside a working period.
    pub fn is_working(&self, t: DateTime<Utc>) -> bool {
        self.intervals_from(t).next().is_some_and(|(start, _)| start <= t)
    }

    /// `t` itself when it is working time, else the start of the next period.
    pub fn next_working_instant(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        // None only past the search cap, which a built calendar cannot reach.
        self.intervals_from(t).next().map_or(t, |(start, _)| start.max(t))
    }

    /// The instant `duration` of working time after `start`. A start outside
    /// working time counts from the next period; a duration that runs out at
    /// the end of a period ends there, not at the start of the next one.
    /// Negative durations count as zero; durations beyond the search cap
    /// (years) stop at it.
    pub fn add_working(&self, start: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
        let mut remaining = duration.max(Duration::zero());
        let mut reached = start;
        for (period_start, period_end) in self.intervals_from(start) {
            let from = period_start.max(start);
            let available = period_end - from;
            if remaining <= available {
                return from + remaining;
            }
            remaining -= available;
            reached = period_end;
        }
        reached
    }

    /// `days` business days after `start`, a business day being
    /// [`Calendar::business_day`] of working time.
    pub fn add_business_days(&self, start: DateTime<Utc>, days: BusinessDays) -> DateTime<Utc> {
        self.add_working(start, days.working_time(self.business_day()))
    }

    /// Working time from `a` to `b`; negative when `b` is before `a`, so
    /// `working_between(due, now)` is how overdue a ticket is.
    pub fn working_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b < a {
            return -self.working_between(b, a);
        }
        let last = self.local_date(b);
        self.day_before(a)
            .iter_days()
            .take_while(|date| *date <= last)
            .flat_map(|date| self.intervals(date))
            .map(|(start, end)| (end.min(b) - start.max(a)).max(Duration::zero()))
            .sum()
    }

    /// Reads one holiday file; its dates override those of earlier files.
    fn load_holidays(&mut self, path: &Path) -> Result<(), CalendarError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CalendarError::HolidayRead { path: path.to_owned(), error })?;
        let file: HolidayFile = toml::from_str(&text)
            .map_err(|e| CalendarError::HolidayParse { path: path.to_owned(), message: e.to_string() })?;
        let mut years = BTreeSet::new();
        let mut holidays = BTreeSet::new();
        let mut workdays = BTreeSet::new();
        for arrangement in &file.year {
            let year = arrangement.year;
            let bad = |entry: &str, reason: String| CalendarError::HolidayEntry {
                path: path.to_owned(),
                year,
                entry: entry.to_owned(),
                reason,
            };
            if !years.insert(year) {
                return Err(CalendarError::HolidayParse {
                    path: path.to_owned(),
                    message: format!("year {year} appears twice"),
                });
            }
            for entry in &arrangement.holidays {
                for date in parse_dates(entry, year, true).map_err(|r| bad(entry, r))? {
                    if workdays.contains(&date) {
                        return Err(bad(entry, format!("{date} is also listed as a workday")));
                    }
                    holidays.insert(date);
                }
            }
            for entry in &arrangement.workdays {
                for date in parse_dates(entry, year, false).map_err(|r| bad(entry, r))? {
                    if holidays.contains(&date) {
                        return Err(bad(entry, format!("{date} is also listed as a holiday")));
                    }
                    workdays.insert(date);
                }
            }
        }
        for date in holidays {
            self.workdays.remove(&date);
            self.holidays.insert(date);
        }
        for date in workdays {
            self.holidays.remove(&date);
            self.workdays.insert(date);
        }
        self.years.extend(years);
        Ok(())
    }

    /// Refuses holiday data that leave weeks without work: with them every
    /// search finds working time within [`MAX_DAYS_OFF`] days, far below
    /// the search cap. Outside the holidays' span (and the week after it,
    /// where a run of days off may end) the weekly pattern holds.
    fn check_days_off(&self) -> Result<(), CalendarError> {
        let (Some(&first), Some(&last)) = (self.holidays.first(), self.holidays.last()) else {
            return Ok(());
        };
        let end = last.checked_add_days(Days::new(7)).unwrap_or(last);
        let mut off_since = None;
        for date in first.iter_days().take_while(|d| *d <= end) {
            if self.is_working_day(date) {
                off_since = None;
            } else {
                let from = *off_since.get_or_insert(date);
                if (date - from).num_days() >= MAX_DAYS_OFF {
                    return Err(CalendarError::TooManyDaysOff { from });
                }
            }
        }
        Ok(())
    }

    /// The working intervals of `date` as instants, in order.
    fn intervals(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let periods: &[Period] = if self.is_working_day(date) { &self.periods } else { &[] };
        periods
            .iter()
            .map(move |p| (self.instant(date, p.start), self.instant(date, p.end)))
            // A period wholly inside a DST gap has no instants.
            .filter(|(start, end)| start < end)
    }

    /// The working intervals that end after `t`, in order, up to the search cap.
    fn intervals_from(&self, t: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.day_before(t)
            .iter_days()
            .take(SEARCH_LIMIT_DAYS)
            .flat_map(|date| self.intervals(date))
            .filter(move |(_, end)| *end > t)
    }

    /// The local date before `t`'s: a period ending at 24:00, or pushed by a
    /// DST gap, may reach into `t`'s day.
    fn day_before(&self, t: DateTime<Utc>) -> NaiveDate {
        let date = self.local_date(t);
        date.pred_opt().unwrap_or(date)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant of `minute` after local midnight of `date`.
    fn instant(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let local = date.and_time(NaiveTime::MIN) + Duration::minutes(minute.into());
        match self.tz.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => {
                // Inside a spring-forward gap: read the wall time with the
                // offset of before the gap, which lands as far after the gap
                // as it was into it (02:30 in a 02:00-03:00 gap is 03:30).
                let before = self.tz.offset_from_utc_datetime(&(local - Duration::days(1))).fix();
                let utc = local - Duration::seconds(before.local_minus_utc().into());
                Utc.from_utc_datetime(&utc)
            }
        }
    }
}

/// Parses `HH:MM-HH:MM` periods, which must be in order and not overlap.
fn parse_periods(texts: &[String]) -> Result<Vec<Period>, CalendarError> {
    let mut periods: Vec<Period> = Vec::with_capacity(texts.len());
    for text in texts {
        let bad = |reason: &str| CalendarError::Period { period: text.clone(), reason: reason.to_owned() };
        let (start, end) = text.split_once('-').ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
        let start = parse_minute(start).ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
        let end = parse_minute(end).ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
        if start >= end {
            return Err(bad("the period ends before it starts"));
        }
        if end > 24 * 60 || start == 24 * 60 {
            return Err(bad("a period lies within one day, 00:00 to 24:00"));
        }
        if periods.last().is_some_and(|prev| start < prev.end) {
            return Err(bad("overlaps or comes before the previous period (list them in order)"));
        }
        periods.push(Period { start, end });
    }
    Ok(periods)
}

/// `HH:MM` (or `H:MM`) as minutes after midnight; 24:00 allowed.
fn parse_minute(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if h.len() > 2 || m.len() != 2 || !all_digits(h) || !all_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// The dates of one holiday-file entry; ranges only where `ranges` is set.
/// Dates must lie within a year of `year`, which catches mistyped years.
fn parse_dates(entry: &str, year: i32, ranges: bool) -> Result<Vec<NaiveDate>, String> {
    let date = |s: &str| {
        let date = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("not a date (YYYY-MM-DD): {:?}", s.trim()))?;
        if (date.year() - year).abs() > 1 {
            return Err(format!("{date} is not near the year {year}"));
        }
        Ok(date)
    };
    let Some((from, to)) = entry.split_once("..") else {
        return Ok(vec![date(entry)?]);
    };
    if !ranges {
        return Err("make-up days are listed one by one, not as a range".into());
    }
    let (from, to) = (date(from)?, date(to)?);
    let days = (to - from).num_days() + 1;
    if days < 1 {
        return Err("the range ends before it starts".into());
    }
    if days > MAX_DAYS_OFF {
        return Err(format!("a range of more than {MAX_DAYS_OFF} days is surely a typo"));
    }
    Ok(from.iter_days().take_while(|d| *d <= to).collect())
}

/// A number of business days in steps of half a day, the unit seed 004 uses
/// (0.5, 1, 2, 3, 5). Written as a number (`0.5`, `2`) or a string (`"0.5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BusinessDays {
    /// Whole half days.
    half_days: u32,
}

/// Text that is not a number of business days.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a number of business days: {0:?} (a multiple of 0.5 from 0 to {max})",
    max = BusinessDays::MAX_HALF_DAYS / 2
)]
pub struct BadBusinessDays(
    /// The text as given.
    pub String,
);

impl BusinessDays {
    /// Longest window accepted from config, in half days: a hundred business
    /// days, far beyond any deadline, keeps searches well inside their cap.
    pub const MAX_HALF_DAYS: u32 = 200;

    /// `half_days` half days.
    pub const fn from_half_days(half_days: u32) -> Self {
        Self { half_days }
    }

    /// The number of half days.
    pub const fn half_days(self) -> u32 {
        self.half_days
    }

    /// The working time these days make, given the length of a business day.
    pub fn working_time(self, business_day: Duration) -> Duration {
        // Half days stay below MAX_HALF_DAYS from config; saturate otherwise.
        business_day * i32::try_from(self.half_days).unwrap_or(i32::MAX) / 2
    }

    fn from_f64(days: f64) -> Option<Self> {
        let half_days = days * 2.0;
        (half_days.is_finite()
            && half_days >= 0.0
            && half_days.fract() == 0.0
            && half_days <= f64::from(Self::MAX_HALF_DAYS))
        .then(|| Self::from_half_days(half_days as u32))
    }
}

impl fmt::Display for BusinessDays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.half_days / 2;
        if self.half_days.is_multiple_of(2) { write!(f, "{whole}") } else { write!(f, "{whole}.5") }
    }
}

impl FromStr for BusinessDays {
    type Err = BadBusinessDays;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<f64>().ok().and_then(Self::from_f64).ok_or_else(|| BadBusinessDays(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for BusinessDays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DaysVisitor;

        impl Visitor<'_> for DaysVisitor {
            type Value = BusinessDays;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of business days in steps of 0.5, like 0.5 or 2")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BusinessDays, E> {
                BusinessDays::from_f64(v).ok_or_else(|| E::custom(BadBusinessDays(v.to_string())))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BusinessDays, E> {
                // Exact for any sane value; out-of-range ones are refused anyway.
                self.visit_f64(v as f64)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BusinessDays, E> {
                self.visit_f64(v as f64)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<BusinessDays, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DaysVisitor)
    }
}

#[cfg(test)]
mod tests;
