//! What an extension request asks for, read from its text: a day (and maybe
//! a time) or a duration, written the ways stations write them: `2026-11-20`,
//! `2026/11/20 15:00`, `2026年11月20日下午3点`, `11月20日`, `11/20`, `20号`,
//! `至周五`, `延期3天`, `两个工作日`, `48小时`, `3 working days`. Nothing
//! else is a request: a reason without a date asks for nothing.

use chrono::{Datelike, Days, NaiveDate, NaiveTime, Weekday};
use serde::Serialize;

use crate::words::fold;

/// The new deadline a station asks for, in the calendar's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requested {
    /// Until this day; `time` when written (else the day's end of work).
    Until {
        date: NaiveDate,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<NaiveTime>,
    },
    /// This many days more: working days when so written.
    Days { days: u32, working: bool },
    /// This many hours more.
    Hours { hours: u32 },
}

/// Characters of the request's text that are read.
const MAX_CHARS: usize = 4000;

/// Longest duration read as a request: beyond it the number is something else.
const MAX_DAYS: u32 = 366;

/// The request in `text`. `today` (the day the mail was written, local)
/// places dates written without a year, day-of-month dates and weekdays;
/// without it those are not read.
pub fn requested(text: &str, today: Option<NaiveDate>) -> Option<Requested> {
    // A request is a sentence: the first few thousand characters hold it,
    // and scanning stays cheap on a hostile one-line body.
    let chars: Vec<char> = fold(text).chars().take(MAX_CHARS).collect();
    let mut duration = None;
    let mut i = 0;
    while i < chars.len() {
        if let Some((date, end)) = date_at(&chars, i, today) {
            let time = time_at(&chars, end);
            return Some(Requested::Until { date, time });
        }
        if duration.is_none()
            && let Some(d) = duration_at(&chars, i)
        {
            duration = Some(d);
        }
        if let Some(today) = today
            && let Some((month, e)) = month_name_at(&chars, i)
            && let Some((day, e)) = number_at(&chars, skip_spaces(&chars, e))
            && let Some(date) = month_day(today, month, day)
        {
            let e = if chars
                .get(e..e + 2)
                .is_some_and(|s| matches!(s, ['s', 't'] | ['n', 'd'] | ['r', 'd'] | ['t', 'h']))
            {
                e + 2
            } else {
                e
            };
            return Some(Requested::Until { date, time: time_at(&chars, e) });
        }
        if let Some(date) = weekday_at(&chars, i, today) {
            return Some(Requested::Until { date, time: time_at(&chars, i + 3) });
        }
        i += 1;
    }
    duration
}

/// A number at `i` (ASCII digits, or Chinese numerals up to 九十九), and
/// where it ends. Digits preceded by a digit or a letter are not a number.
fn number_at(chars: &[char], i: usize) -> Option<(u32, usize)> {
    if i > 0 {
        let prev = chars[i - 1];
        // Inside a word or a number, or an identifier's part (TS-2026…).
        if prev.is_ascii_alphanumeric() || (prev == '-' && i > 1 && chars[i - 2].is_ascii_alphabetic()) {
            return None;
        }
    }
    let digits: String = chars[i..].iter().take(5).take_while(|c| c.is_ascii_digit()).collect();
    if !digits.is_empty() {
        return digits.parse().ok().map(|n| (n, i + digits.len()));
    }
    let value =
        |c: char| "零一二三四五六七八九".chars().position(|d| d == c).map(|v| v as u32).or((c == '两').then_some(2));
    let (mut n, mut j) = (0, i);
    if let Some(v) = chars.get(j).copied().and_then(value) {
        n = v;
        j += 1;
    }
    if chars.get(j) == Some(&'十') {
        n = if j == i { 10 } else { n * 10 };
        j += 1;
        if let Some(v) = chars.get(j).copied().and_then(value) {
            n += v;
            j += 1;
        }
    } else if chars.get(j) == Some(&'半') || j == i {
        return None;
    }
    Some((n, j))
}

fn skip_spaces(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| *c == ' ') {
        i += 1;
    }
    i
}

/// A calendar date starting at `i`, and where it ends.
fn date_at(chars: &[char], i: usize, today: Option<NaiveDate>) -> Option<(NaiveDate, usize)> {
    let (first, end) = number_at(chars, i)?;
    if !chars[i].is_ascii_digit() {
        return None;
    }
    let sep = chars.get(end).copied()?;
    // 2026-11-20, 2026/11/20, 2026.11.20, 2026年11月20日
    if (2000..2100).contains(&first) && end - i == 4 && matches!(sep, '-' | '/' | '.' | '年') {
        let (m, e) = number_at(chars, end + 1)?;
        let sep2 = chars.get(e).copied()?;
        if !(sep2 == sep || (sep == '年' && sep2 == '月')) {
            return None;
        }
        let (d, e) = number_at(chars, e + 1)?;
        let e = if matches!(chars.get(e), Some('日' | '号')) { e + 1 } else { e };
        return NaiveDate::from_ymd_opt(first as i32, m, d).map(|date| (date, e));
    }
    let today = today?;
    // 11月20日 / 11月20号 / 11月20
    if sep == '月' {
        let (d, e) = number_at(chars, end + 1)?;
        let e = if matches!(chars.get(e), Some('日' | '号')) { e + 1 } else { e };
        return month_day(today, first, d).map(|date| (date, e));
    }
    // 11/20, 11-20 (not a range of days: 3-5天)
    if matches!(sep, '/' | '-') && end - i <= 2 {
        let (d, e) = number_at(chars, end + 1)?;
        let after = chars.get(skip_spaces(chars, e)).copied();
        if e - end - 1 > 2 || matches!(after, Some('天' | '日' | '个' | '小' | '周' | 'd' | 'h' | 'w' | '/' | '-'))
        {
            return None;
        }
        return month_day(today, first, d).map(|date| (date, e));
    }
    // 20号 / 至20日: handled below; "25 Nov" / "25 November":
    if let Some((month, e)) = month_name_at(chars, skip_spaces(chars, end)) {
        return month_day(today, month, first).map(|date| (date, e));
    }
    // 20号 / 至20日: a day of this month, or of the next one when past.
    if matches!(sep, '号' | '日') && first <= 31 && i > 0 && matches!(chars[i - 1], '至' | '到' | '前' | ' ' | '延')
    {
        let this = NaiveDate::from_ymd_opt(today.year(), today.month(), first);
        let date = match this {
            Some(d) if d >= today => Some(d),
            _ => {
                let next = today.checked_add_months(chrono::Months::new(1))?;
                NaiveDate::from_ymd_opt(next.year(), next.month(), first)
            }
        }?;
        return Some((date, end + 1));
    }
    None
}

/// "Nov" / "November" (folded, so lowercase) at `i`: the month and where the name ends.
fn month_name_at(chars: &[char], i: usize) -> Option<(u32, usize)> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let word: String = chars.get(i..)?.iter().take(10).take_while(|c| c.is_ascii_alphabetic()).collect();
    if word.len() < 3 || (i > 0 && chars[i - 1].is_ascii_alphabetic()) {
        return None;
    }
    let month =
        MONTHS.iter().position(|m| word.starts_with(m) && (word.len() == 3 || full_month(m).starts_with(&word)))?;
    Some((month as u32 + 1, i + word.len()))
}

fn full_month(abbr: &str) -> &'static str {
    match abbr {
        "jan" => "january",
        "feb" => "february",
        "mar" => "march",
        "apr" => "april",
        "may" => "may",
        "jun" => "june",
        "jul" => "july",
        "aug" => "august",
        "sep" => "september",
        "oct" => "october",
        "nov" => "november",
        _ => "december",
    }
}

/// A month and day without a year: the year that puts it nearest after
/// `today` (a December mail asking for January means next year).
fn month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    let date = NaiveDate::from_ymd_opt(today.year(), month, day)?;
    if date + Days::new(60) < today { NaiveDate::from_ymd_opt(today.year() + 1, month, day) } else { Some(date) }
}

/// A time after a date: `15:00`, `15点`, `15点30分`, `下午3点`, `3pm`.
fn time_at(chars: &[char], i: usize) -> Option<NaiveTime> {
    let mut i = skip_spaces(chars, i);
    let mut pm = false;
    for (word, is_pm) in [("上午", false), ("早上", false), ("中午", true), ("下午", true), ("晚上", true)] {
        let w: Vec<char> = word.chars().collect();
        if chars.get(i..i + w.len()) == Some(&w[..]) {
            pm = is_pm;
            i = skip_spaces(chars, i + w.len());
        }
    }
    let (h, e) = number_at(chars, i)?;
    let (min, e) = match chars.get(e) {
        Some(':') => number_at(chars, e + 1)?,
        Some('点' | '时') => match number_at(chars, e + 1) {
            Some((m, e2)) if chars.get(e2) == Some(&'分') => (m, e2 + 1),
            _ if chars.get(e + 1) == Some(&'半') => (30, e + 2),
            _ => (0, e + 1),
        },
        _ => {
            let e2 = skip_spaces(chars, e);
            if chars.get(e2..e2 + 2) == Some(&['p', 'm']) {
                pm = true;
                (0, e2 + 2)
            } else if chars.get(e2..e2 + 2) == Some(&['a', 'm']) {
                (0, e2 + 2)
            } else {
                return None;
            }
        }
    };
    let _ = e;
    let h = if pm && h < 12 { h + 12 } else { h };
    NaiveTime::from_hms_opt(h, min, 0)
}

/// `至周五`, `到下周一`, `until Friday`: that day, after `today`.
fn weekday_at(chars: &[char], i: usize, today: Option<NaiveDate>) -> Option<NaiveDate> {
    if !matches!(chars[i], '至' | '到') {
        return None;
    }
    let today = today?;
    let mut j = i + 1;
    let next_week = chars.get(j..j + 2) == Some(&['下', '周']) || chars.get(j..j + 3) == Some(&['下', '星', '期']);
    if chars.get(j) == Some(&'下') || chars.get(j) == Some(&'本') || chars.get(j) == Some(&'这') {
        j += 1;
    }
    for prefix in ["周", "星期", "礼拜"] {
        let p: Vec<char> = prefix.chars().collect();
        if chars.get(j..j + p.len()) == Some(&p[..]) {
            let day = chars.get(j + p.len()).copied()?;
            let weekday = match day {
                '一' | '1' => Weekday::Mon,
                '二' | '2' => Weekday::Tue,
                '三' | '3' => Weekday::Wed,
                '四' | '4' => Weekday::Thu,
                '五' | '5' => Weekday::Fri,
                '六' | '6' => Weekday::Sat,
                '日' | '天' | '7' => Weekday::Sun,
                _ => return None,
            };
            let mut date = today.succ_opt()?;
            while date.weekday() != weekday {
                date = date.succ_opt()?;
            }
            if next_week && date.iso_week() == today.iso_week() {
                date = date + Days::new(7);
            }
            return Some(date);
        }
    }
    None
}

/// `3天`, `三个工作日`, `一周`, `48小时`, `3 days`, `2 working days`, `1 week`.
fn duration_at(chars: &[char], i: usize) -> Option<Requested> {
    let (n, e) = number_at(chars, i)?;
    let mut j = skip_spaces(chars, e);
    if chars.get(j) == Some(&'个') {
        j += 1;
    }
    // "2 more working days", "3 additional days"
    for filler in ["more ", "additional ", "extra ", "further "] {
        let f: Vec<char> = filler.chars().collect();
        if chars.get(j..j + f.len()) == Some(&f[..]) {
            j += f.len();
        }
    }
    let rest: String = chars[j..].iter().take(14).collect();
    let days = |days: u32, working: bool| (days > 0 && days <= MAX_DAYS).then_some(Requested::Days { days, working });
    if ["工作日", "working day", "business day", "workday"].iter().any(|w| rest.starts_with(w)) {
        return days(n, true);
    }
    if rest.starts_with('天') || rest.starts_with("day") {
        return days(n, false);
    }
    if ["周", "星期", "礼拜", "week"].iter().any(|w| rest.starts_with(w)) {
        return days(n.checked_mul(7)?, false);
    }
    if ["小时", "钟头", "hour", "hr"].iter().any(|w| rest.starts_with(w)) {
        return (n > 0 && n <= MAX_DAYS * 24).then_some(Requested::Hours { hours: n });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn until(y: i32, m: u32, d: u32, time: Option<(u32, u32)>) -> Option<Requested> {
        Some(Requested::Until {
            date: day(y, m, d),
            time: time.map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
        })
    }

    #[test]
    fn dates_and_times() {
        let today = Some(day(2026, 11, 18));
        assert_eq!(requested("申请延期至2026-11-20", today), until(2026, 11, 20, None));
        assert_eq!(requested("申请延期至2026/11/20 15:00", None), until(2026, 11, 20, Some((15, 0))));
        assert_eq!(requested("申請延期至2026年11月20日下午3点", today), until(2026, 11, 20, Some((15, 0))));
        assert_eq!(requested("延期到11月25日", today), until(2026, 11, 25, None));
        assert_eq!(requested("延期到１１月２５号 18:30", today), until(2026, 11, 25, Some((18, 30))));
        assert_eq!(requested("延期至1月5日", Some(day(2026, 12, 28))), until(2027, 1, 5, None));
        assert_eq!(requested("Extension until 11/23", today), until(2026, 11, 23, None));
        assert_eq!(requested("申请延期至20号", today), until(2026, 11, 20, None));
        assert_eq!(requested("申请延期至周五", today), until(2026, 11, 20, None));
        assert_eq!(requested("申请延期到下周一", today), until(2026, 11, 23, None));
        assert_eq!(requested("延期，11月20日", None), None);
        assert_eq!(requested("Extend to Nov 25", today), until(2026, 11, 25, None));
        assert_eq!(requested("Extension until 25 November, 3pm", today), until(2026, 11, 25, None));
        assert_eq!(requested("Extension until November 25th 3pm", today), until(2026, 11, 25, Some((15, 0))));
        assert_eq!(requested("Extension, the part is mandatory", today), None);
    }

    #[test]
    fn durations() {
        assert_eq!(requested("申请延期3天", None), Some(Requested::Days { days: 3, working: false }));
        assert_eq!(requested("申请延期两个工作日", None), Some(Requested::Days { days: 2, working: true }));
        assert_eq!(requested("延期一周", None), Some(Requested::Days { days: 7, working: false }));
        assert_eq!(requested("延期十二天", None), Some(Requested::Days { days: 12, working: false }));
        assert_eq!(requested("延期48小时", None), Some(Requested::Hours { hours: 48 }));
        assert_eq!(requested("need 2 more working days", None), Some(Requested::Days { days: 2, working: true }));
        assert_eq!(requested("Extension: 3 working days", None), Some(Requested::Days { days: 3, working: true }));
        assert_eq!(
            requested("申请延期3-5天", Some(day(2026, 11, 18))),
            Some(Requested::Days { days: 5, working: false })
        );
    }

    #[test]
    fn no_date_is_no_request() {
        let today = Some(day(2026, 11, 18));
        assert_eq!(requested("申请延期：配件需从厂家调货，预计周五到。", today), None);
        assert_eq!(requested("延期处理的原因：配件未到货", today), None);
        assert_eq!(requested("申请延期 [TS-20261117-0003] 电话 138-1111-2222", today), None);
        assert_eq!(requested("申请延期半天", today), None);
        let hostile = format!("{}{}{}", "november".repeat(50_000), "1".repeat(50_000), "十".repeat(50_000));
        assert_eq!(requested(&hostile, today), None);
    }
}
