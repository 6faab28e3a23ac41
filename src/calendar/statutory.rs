//! The days off the law itself fixes, for years without an official notice.
//!
//! 全国年节及纪念日放假办法 as revised in 2024 (in force from 2025) gives every
//! citizen 元旦 (Jan 1), 春节 (除夕 to 正月初三, 4 days), 清明 (the day of the
//! Qingming solar term), 劳动节 (May 1-2), 端午 (5th of the 5th lunar month),
//! 中秋 (15th of the 8th lunar month) and 国庆 (Oct 1-3). A statutory day on a
//! Saturday or Sunday is made up on the following working day (补假); so is a
//! day that two festivals share (中秋 on Oct 1-3), which gives both their day.
//! The State Council's 调休 (weekend days worked to bridge a holiday) cannot be
//! known before its notice and are not guessed.
//!
//! The lunar and solar-term dates come from a shipped table, generated from
//! the Hong Kong Observatory's conversion tables (Python `lunardate`) and an
//! ephemeris (`ephem`), and checked in the tests against an independent
//! astronomical computation and against published dates.

use chrono::{Datelike, NaiveDate, Weekday};

/// First year of the 2024 revision; earlier years had other days.
pub const FIRST_YEAR: i32 = 2025;

/// 正月初一, Qingming, 端午 and 中秋 of each year from [`FIRST_YEAR`], as
/// `(month, day)` pairs.
const TABLE: [[(u32, u32); 4]; 26] = [
    [(1, 29), (4, 4), (5, 31), (10, 6)], // 2025
    [(2, 17), (4, 5), (6, 19), (9, 25)], // 2026
    [(2, 6), (4, 5), (6, 9), (9, 15)],   // 2027
    [(1, 26), (4, 4), (5, 28), (10, 3)], // 2028
    [(2, 13), (4, 4), (6, 16), (9, 22)], // 2029
    [(2, 3), (4, 5), (6, 5), (9, 12)],   // 2030
    [(1, 23), (4, 5), (6, 24), (10, 1)], // 2031
    [(2, 11), (4, 4), (6, 12), (9, 19)], // 2032
    [(1, 31), (4, 4), (6, 1), (9, 8)],   // 2033
    [(2, 19), (4, 5), (6, 20), (9, 27)], // 2034
    [(2, 8), (4, 5), (6, 10), (9, 16)],  // 2035
    [(1, 28), (4, 4), (5, 30), (10, 4)], // 2036
    [(2, 15), (4, 4), (6, 18), (9, 24)], // 2037
    [(2, 4), (4, 5), (6, 7), (9, 13)],   // 2038
    [(1, 24), (4, 5), (5, 27), (10, 2)], // 2039
    [(2, 12), (4, 4), (6, 14), (9, 20)], // 2040
    [(2, 1), (4, 4), (6, 3), (9, 10)],   // 2041
    [(1, 22), (4, 4), (6, 22), (9, 28)], // 2042
    [(2, 10), (4, 5), (6, 11), (9, 17)], // 2043
    [(1, 30), (4, 4), (5, 31), (10, 5)], // 2044
    [(2, 17), (4, 4), (6, 19), (9, 25)], // 2045
    [(2, 6), (4, 4), (6, 8), (9, 15)],   // 2046
    [(1, 26), (4, 5), (5, 29), (10, 4)], // 2047
    [(2, 14), (4, 4), (6, 15), (9, 22)], // 2048
    [(2, 2), (4, 4), (6, 4), (9, 11)],   // 2049
    [(1, 23), (4, 4), (6, 23), (9, 30)], // 2050
];

/// Last year the table covers.
pub const LAST_YEAR: i32 = FIRST_YEAR + TABLE.len() as i32 - 1;

/// A public holiday of the law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Festival {
    NewYear,
    SpringFestival,
    Qingming,
    LabourDay,
    DragonBoat,
    MidAutumn,
    NationalDay,
}

impl Festival {
    /// The festival's Chinese name, as the notices and holiday-cn write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::NewYear => "元旦",
            Self::SpringFestival => "春节",
            Self::Qingming => "清明节",
            Self::LabourDay => "劳动节",
            Self::DragonBoat => "端午节",
            Self::MidAutumn => "中秋节",
            Self::NationalDay => "国庆节",
        }
    }
}

/// Why a provisional day is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOff {
    /// A statutory day itself.
    Statutory(Festival),
    /// 补假: a working day off in place of a statutory day that fell on a
    /// weekend or on another festival's day.
    MakeUp { festival: Festival, for_date: NaiveDate },
}

impl DayOff {
    /// The festival the day belongs to.
    pub fn festival(self) -> Festival {
        match self {
            Self::Statutory(f) | Self::MakeUp { festival: f, .. } => f,
        }
    }
}

/// The lunar and solar-term dates of `year`: 正月初一, Qingming, 端午, 中秋.
/// None outside the table.
pub fn lunar_dates(year: i32) -> Option<[NaiveDate; 4]> {
    let row = TABLE.get(usize::try_from(year.checked_sub(FIRST_YEAR)?).ok()?)?;
    let date = |(m, d): (u32, u32)| NaiveDate::from_ymd_opt(year, m, d);
    Some([date(row[0])?, date(row[1])?, date(row[2])?, date(row[3])?])
}

/// The statutory days of `year` in date order (a shared day appears once per
/// festival). None outside the table.
pub fn statutory_days(year: i32) -> Option<Vec<(NaiveDate, Festival)>> {
    let [spring, qingming, dragon_boat, mid_autumn] = lunar_dates(year)?;
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let mut days = vec![(ymd(1, 1)?, Festival::NewYear)];
    // 除夕 is the day before 正月初一, whether the 29th or the 30th of the 12th month.
    let eve = spring.pred_opt()?;
    days.extend(eve.iter_days().take(4).map(|d| (d, Festival::SpringFestival)));
    days.push((qingming, Festival::Qingming));
    days.extend([(ymd(5, 1)?, Festival::LabourDay), (ymd(5, 2)?, Festival::LabourDay)]);
    days.push((dragon_boat, Festival::DragonBoat));
    days.push((mid_autumn, Festival::MidAutumn));
    days.extend((1..=3).filter_map(|d| Some((ymd(10, d)?, Festival::NationalDay))));
    days.sort();
    Some(days)
}

/// Every provisional day off of `year`, in date order: the statutory days and
/// their 补假. Weekends are the law's, Saturday and Sunday, whatever the
/// desk's working week. None outside the table.
pub fn provisional_days(year: i32) -> Option<Vec<(NaiveDate, DayOff)>> {
    let statutory = statutory_days(year)?;
    let mut off: Vec<(NaiveDate, DayOff)> = Vec::new();
    for &(date, festival) in &statutory {
        let shared = off.iter().any(|(d, _)| *d == date);
        off.push((date, DayOff::Statutory(festival)));
        if !(is_weekend(date) || shared) {
            continue;
        }
        // The next Monday-to-Friday day that is not already off: a few
        // days on at most.
        let taken = |d: NaiveDate| statutory.iter().any(|(s, _)| *s == d) || off.iter().any(|(o, _)| *o == d);
        let make_up = date.iter_days().skip(1).find(|d| !is_weekend(*d) && !taken(*d))?;
        off.push((make_up, DayOff::MakeUp { festival, for_date: date }));
    }
    off.sort_by_key(|(d, _)| *d);
    Some(off)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
#[path = "statutory_tests.rs"]
mod tests;
