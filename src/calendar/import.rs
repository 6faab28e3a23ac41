//! `complaintd calendar import`: an official arrangement, read from the JSON
//! of the holiday-cn project or from our own TOML, checked, and written as a
//! holiday file the calendar loads.
//!
//! holiday-cn writes one file per year, `{"year": 2027, "days": [{"name":
//! "元旦", "date": "2027-01-01", "isOffDay": true}, ...]}`, listing every day
//! off (weekends inside a block included) and every make-up working day.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

use super::statutory;
use super::{HolidayFile, parse_dates};

/// How far into the neighbouring year an arrangement may reach: a New Year
/// block may start on December 30 or end on January 3.
const YEAR_MARGIN_DAYS: u64 = 7;

/// An arrangement that cannot be imported, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The I/O error is in the message, not a `source`: `{:#}` would say it twice.
    #[error("{path}: cannot read: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}: not holiday-cn JSON ({{\"year\", \"days\": [{{\"name\", \"date\", \"isOffDay\"}}]}}): {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: not a holiday file ([[year]] tables): {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{path}: the file holds no year")]
    Empty { path: PathBuf },
    #[error("year {year}: no days listed (holiday-cn lists a year with no days until its notice is out)")]
    NoDays { year: i32 },
    #[error("year {year}: {entry:?}: {reason}")]
    Entry { year: i32, entry: String, reason: String },
    #[error("year {year}: {date} is outside the year (at most {YEAR_MARGIN_DAYS} days into the next or previous one)")]
    OutsideYear { year: i32, date: NaiveDate },
    #[error("year {year}: {date} is listed twice")]
    Duplicate { year: i32, date: NaiveDate },
    #[error("year {year}: year appears twice")]
    DuplicateYear { year: i32 },
    #[error("year {year}: {date} ({name}) is a statutory holiday but is not listed as a day off")]
    StatutoryMissing { year: i32, date: NaiveDate, name: &'static str },
    #[error("year {year}: {date} is a {weekday}: a make-up working day is a Saturday or Sunday (isOffDay swapped?)")]
    WorkdayOnWeekday { year: i32, date: NaiveDate, weekday: Weekday },
}

/// One day of an arrangement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// Off (a holiday) or worked (a make-up day).
    pub off: bool,
    /// The festival, as the source names it (holiday-cn does; our TOML does not).
    pub name: Option<String>,
}

/// One year's official arrangement, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrangement {
    pub year: i32,
    /// In date order, each date once.
    pub days: Vec<Day>,
}

#[derive(Deserialize)]
struct HolidayCn {
    year: i32,
    days: Vec<HolidayCnDay>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HolidayCnDay {
    name: String,
    date: String,
    is_off_day: bool,
}

/// Reads and checks the arrangements in `path`: holiday-cn JSON when it
/// starts with `{`, else our TOML. Also returns notes for the operator
/// (a year the statutory check could not cover).
pub fn read(path: &Path) -> Result<(Vec<Arrangement>, Vec<String>), ImportError> {
    let text = std::fs::read_to_string(path).map_err(|error| ImportError::Read { path: path.to_owned(), error })?;
    let arrangements =
        if text.trim_start().starts_with('{') { from_json(path, &text)? } else { from_toml(path, &text)? };
    if arrangements.is_empty() {
        return Err(ImportError::Empty { path: path.to_owned() });
    }
    let mut notes = Vec::new();
    for (i, a) in arrangements.iter().enumerate() {
        if arrangements[..i].iter().any(|b| b.year == a.year) {
            return Err(ImportError::DuplicateYear { year: a.year });
        }
        if !check(a)? {
            notes.push(format!(
                "year {}: no statutory table for this year ({}-{}): its holidays were not checked",
                a.year,
                statutory::FIRST_YEAR,
                statutory::LAST_YEAR
            ));
        }
    }
    Ok((arrangements, notes))
}

fn from_json(path: &Path, text: &str) -> Result<Vec<Arrangement>, ImportError> {
    let file: HolidayCn =
        serde_json::from_str(text).map_err(|e| ImportError::Json { path: path.to_owned(), message: e.to_string() })?;
    let mut days = Vec::with_capacity(file.days.len());
    for d in file.days {
        let date = NaiveDate::parse_from_str(d.date.trim(), "%Y-%m-%d").map_err(|_| ImportError::Entry {
            year: file.year,
            entry: d.date.clone(),
            reason: "not a date (YYYY-MM-DD)".into(),
        })?;
        days.push(Day { date, off: d.is_off_day, name: Some(d.name) });
    }
    days.sort_by_key(|d| d.date);
    Ok(vec![Arrangement { year: file.year, days }])
}

fn from_toml(path: &Path, text: &str) -> Result<Vec<Arrangement>, ImportError> {
    let file: HolidayFile =
        toml::from_str(text).map_err(|e| ImportError::Toml { path: path.to_owned(), message: e.to_string() })?;
    let mut out = Vec::new();
    for a in file.year {
        let mut days = Vec::new();
        for (entries, off) in [(&a.holidays, true), (&a.workdays, false)] {
            for entry in entries {
                let bad = |reason| ImportError::Entry { year: a.year, entry: entry.clone(), reason };
                days.extend(parse_dates(entry, a.year, off).map_err(bad)?.into_iter().map(|date| Day {
                    date,
                    off,
                    name: None,
                }));
            }
        }
        days.sort_by_key(|d| d.date);
        out.push(Arrangement { year: a.year, days });
    }
    Ok(out)
}

/// Checks one arrangement and puts its days in order; false when the year
/// is outside the statutory table, so its holidays could not be checked.
fn check(a: &Arrangement) -> Result<bool, ImportError> {
    let year = a.year;
    let bounds =
        NaiveDate::from_ymd_opt(year, 1, 1).zip(NaiveDate::from_ymd_opt(year, 12, 31)).and_then(|(first, last)| {
            Some((
                first.checked_sub_days(Days::new(YEAR_MARGIN_DAYS))?,
                last.checked_add_days(Days::new(YEAR_MARGIN_DAYS))?,
            ))
        });
    let Some((first, last)) = bounds else {
        return Err(ImportError::Entry { year, entry: year.to_string(), reason: "not a year".into() });
    };
    if a.days.is_empty() {
        return Err(ImportError::NoDays { year });
    }
    let mut seen = BTreeMap::new();
    for day in &a.days {
        if day.date < first || day.date > last {
            return Err(ImportError::OutsideYear { year, date: day.date });
        }
        if seen.insert(day.date, day.off).is_some() {
            return Err(ImportError::Duplicate { year, date: day.date });
        }
        let weekday = day.date.weekday();
        if !day.off && !matches!(weekday, Weekday::Sat | Weekday::Sun) {
            return Err(ImportError::WorkdayOnWeekday { year, date: day.date, weekday });
        }
    }
    let Some(statutory) = statutory::statutory_days(year) else {
        return Ok(false);
    };
    for (date, festival) in statutory {
        if seen.get(&date) != Some(&true) {
            return Err(ImportError::StatutoryMissing { year, date, name: festival.name() });
        }
    }
    Ok(true)
}

/// The holiday file for `arrangements`, in the format of
/// `data/calendar/cn.toml`: runs of days off with one name become ranges,
/// named in a comment.
pub fn render(arrangements: &[Arrangement], source: &str) -> String {
    let mut out = format!(
        "# Public holidays and make-up working days (调休), imported by `complaintd calendar import`\n\
         # from {source}. Format: see data/calendar/cn.toml.\n"
    );
    for a in arrangements {
        let days = &a.days;
        out.push_str(&format!("\n[[year]]\nyear = {}\nholidays = [\n", a.year));
        let off: Vec<&Day> = days.iter().filter(|d| d.off).collect();
        let mut i = 0;
        while i < off.len() {
            let mut j = i;
            while j + 1 < off.len() && off[j + 1].name == off[i].name && off[j].date.succ_opt() == Some(off[j + 1].date)
            {
                j += 1;
            }
            let entry = if i == j { format!("{}", off[i].date) } else { format!("{}..{}", off[i].date, off[j].date) };
            out.push_str(&line(&entry, off[i].name.as_deref()));
            i = j + 1;
        }
        out.push_str("]\nworkdays = [\n");
        for d in days.iter().filter(|d| !d.off) {
            out.push_str(&line(&d.date.to_string(), d.name.as_deref()));
        }
        out.push_str("]\n");
    }
    out
}

fn line(entry: &str, name: Option<&str>) -> String {
    // A name comes from the file imported: keep it to one comment line.
    let comment = name.map(|n| n.replace(['\n', '\r'], " ")).map_or_else(String::new, |n| format!(" # {n}"));
    format!("    \"{entry}\",{comment}\n")
}

/// Reads `text` back as the calendar would and returns its arrangements'
/// days: the check that what [`render`] wrote loads as imported.
pub fn reread(text: &str) -> Result<Vec<Arrangement>, ImportError> {
    from_toml(Path::new("(written file)"), text)
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
