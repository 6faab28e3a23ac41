//! The work calendar: time zone, working periods, public holidays and make-up days.
//!
//! Business time counts only inside working periods. A period is half-open,
//! `[start, end)`: in 09:00-12:00, 12:00 itself is not working time. So a
//! clock started at 12:00 starts at 13:00, while a window that runs out at
//! 12:00 ends at 12:00 rather than at 13:00.
//!
//! Instants go in and out as `DateTime<Utc>`; periods are read in the
//! calendar's zone, day by day, so DST days are as long as the wall clock says.
//!
//! A year no holiday file covers is provisional: it gets the statutory days
//! of the law and their 补假 ([`statutory`]), never guessed 调休, and every
//! answer that counts through it can say so ([`Calendar::is_provisional`]).

mod business_days;
mod fingerprint;
pub mod import;
mod station;
pub mod statutory;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;

pub use business_days::{BadBusinessDays, BusinessDays};
pub use station::StationCalendarSettings;

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

/// From this day (month, day) on, a missing arrangement for next year is
/// warned about: notices come out between late October and early December,
/// so earlier it is not news.
const NEXT_YEAR_WARNING_FROM: (u32, u32) = (10, 15);

/// Where a year's days off come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YearStatus {
    /// A holiday file holds the year's arrangement.
    Official,
    /// No arrangement: the law's statutory days and their 补假, no 调休.
    Provisional,
    /// No arrangement and no statutory dates for it (before the 2024
    /// revision, or past the shipped table): the weekly pattern only.
    Unknown,
}

impl YearStatus {
    /// The word the CLI prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Provisional => "provisional",
            Self::Unknown => "unknown",
        }
    }
}

/// A calendar that cannot be built, naming the setting or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar.timezone: unknown time zone {0:?} (an IANA name like \"Asia/Shanghai\")")]
    Timezone(String),
    #[error("calendar.working_days: unknown weekday {0:?} (MON, TUE, WED, THU, FRI, SAT, SUN)")]
    Weekday(String),
    #[error("calendar.working_hours: {period:?}: {reason}")]
    Period { period: String, reason: String },
    #[error("calendar.extra_holidays: {entry:?}: {reason}")]
    ExtraHoliday { entry: String, reason: String },
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
    /// Years without one that got the statutory days instead.
    provisional: BTreeSet<i32>,
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
        let weekly = parse_weekdays(&settings.working_days)?;
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
            provisional: BTreeSet::new(),
        };
        for file in &settings.holiday_files {
            calendar.load_holidays(&resolve(file))?;
        }
        calendar.add_provisional_years();
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

    /// Where `year`'s days off come from.
    pub fn year_status(&self, year: i32) -> YearStatus {
        if self.years.contains(&year) {
            YearStatus::Official
        } else if self.provisional.contains(&year) {
            YearStatus::Provisional
        } else {
            YearStatus::Unknown
        }
    }

    /// Whether counting from `a` to `b` (either order) passes through a
    /// year without an official arrangement, so that the result may move
    /// once the notice is added.
    pub fn is_provisional(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        self.years_between(a, b).any(|year| self.year_status(year) != YearStatus::Official)
    }

    /// The years from `a` to `b` (either order) without an official
    /// arrangement, in order: what a caveat on those deadlines names.
    pub fn provisional_years(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Vec<i32> {
        self.years_between(a, b).filter(|year| self.year_status(*year) != YearStatus::Official).collect()
    }

    /// The local years from `a` to `b` (either order): those whose holiday
    /// data a count between them depends on.
    pub fn years_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> std::ops::RangeInclusive<i32> {
        self.local_date(a.min(b)).year()..=self.local_date(a.max(b)).year()
    }

    /// The days off of `year` (holidays and their weekends as listed, or the
    /// provisional days), in order; the weekly pattern's days are not listed.
    pub fn days_off_in(&self, year: i32) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied().filter(move |d| d.year() == year)
    }

    /// The make-up working days (调休) of `year`, in order.
    pub fn workdays_in(&self, year: i32) -> impl Iterator<Item = NaiveDate> + '_ {
        self.workdays.iter().copied().filter(move |d| d.year() == year)
    }

    /// What the operator should know about holiday data on `today`: a
    /// current year without its notice always, the next one from October 15
    /// (its notice is then due).
    pub fn coverage_warnings(&self, today: NaiveDate) -> Vec<String> {
        let year = today.year();
        let mut warnings = Vec::new();
        match self.year_status(year) {
            YearStatus::Official => {}
            YearStatus::Provisional => warnings.push(format!(
                "holiday data have no arrangement for {year}, the current year: its deadlines are \
                 provisional, counted with the statutory holidays and their 补假 but no 调休 make-up \
                 working days; add the State Council's notice (complaintd calendar import)"
            )),
            YearStatus::Unknown => warnings.push(format!(
                "holiday data have no arrangement for {year}, the current year: \
                 public holidays and make-up days are ignored until one is added to a holiday file"
            )),
        }
        let next = year + 1;
        if (today.month(), today.day()) >= NEXT_YEAR_WARNING_FROM && self.year_status(next) != YearStatus::Official {
            warnings.push(format!(
                "the State Council's holiday notice for {next} is due (usually out between late October \
                 and early December) and no holiday file has it: deadlines reaching into {next} are \
                 provisional until it is added (complaintd calendar import)"
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

    /// Gives every year of the statutory table that no file covers its
    /// provisional days. A file's make-up day stays worked: a notice may
    /// reach into the next January.
    fn add_provisional_years(&mut self) {
        for year in statutory::FIRST_YEAR..=statutory::LAST_YEAR {
            if self.years.contains(&year) {
                continue;
            }
            for (date, _) in statutory::provisional_days(year).unwrap_or_default() {
                if !self.workdays.contains(&date) {
                    self.holidays.insert(date);
                }
            }
            self.provisional.insert(year);
        }
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

/// Which weekdays, Monday first, the names `MON`..`SUN` make working days.
fn parse_weekdays(names: &[String]) -> Result<[bool; 7], CalendarError> {
    let mut weekly = [false; 7];
    for name in names {
        let day: Weekday = name.trim().parse().map_err(|_| CalendarError::Weekday(name.clone()))?;
        weekly[day.num_days_from_monday() as usize] = true;
    }
    Ok(weekly)
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

#[cfg(test)]
mod provisional_tests;
#[cfg(test)]
mod tests;
