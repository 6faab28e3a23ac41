//! The shipped table against an independent astronomical computation (new
//! moons and solar terms after Meeus, *Astronomical Algorithms*, ch. 25 and
//! 49, and the rules of GB/T 33661-2017), against published dates, and the
//! provisional days of 2027-2030 worked out by hand.

use chrono::{Datelike, Days, NaiveDate};

use super::*;

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// ΔT (TT - UT) of the late 2020s and 2030s, in days; a minute either way
/// moves no date below.
const DELTA_T: f64 = 70.0 / 86_400.0;

fn sin_deg(x: f64) -> f64 {
    x.to_radians().sin()
}

/// The Julian ephemeris day of new moon number `k` (0 = 2000-01-06), Meeus ch. 49.
fn new_moon(k: f64) -> f64 {
    let t = k / 1236.85;
    let jde =
        2451550.09766 + 29.530588861 * k + 0.00015437 * t * t - 0.00000015 * t.powi(3) + 0.00000000073 * t.powi(4);
    let e = 1.0 - 0.002516 * t - 0.0000074 * t * t;
    let m = 2.5534 + 29.1053567 * k - 0.0000014 * t * t - 0.00000011 * t.powi(3);
    let mp = 201.5643 + 385.81693528 * k + 0.0107582 * t * t + 0.00001238 * t.powi(3) - 0.000000058 * t.powi(4);
    let f = 160.7108 + 390.67050284 * k - 0.0016118 * t * t - 0.00000227 * t.powi(3) + 0.000000011 * t.powi(4);
    let om = 124.7746 - 1.56375588 * k + 0.0020672 * t * t + 0.00000215 * t.powi(3);
    let terms = [
        (-0.40720, sin_deg(mp)),
        (0.17241 * e, sin_deg(m)),
        (0.01608, sin_deg(2.0 * mp)),
        (0.01039, sin_deg(2.0 * f)),
        (0.00739 * e, sin_deg(mp - m)),
        (-0.00514 * e, sin_deg(mp + m)),
        (0.00208 * e * e, sin_deg(2.0 * m)),
        (-0.00111, sin_deg(mp - 2.0 * f)),
        (-0.00057, sin_deg(mp + 2.0 * f)),
        (0.00056 * e, sin_deg(2.0 * mp + m)),
        (-0.00042, sin_deg(3.0 * mp)),
        (0.00042 * e, sin_deg(m + 2.0 * f)),
        (0.00038 * e, sin_deg(m - 2.0 * f)),
        (-0.00024 * e, sin_deg(2.0 * mp - m)),
        (-0.00017, sin_deg(om)),
        (-0.00007, sin_deg(mp + 2.0 * m)),
        (0.00004, sin_deg(2.0 * mp - 2.0 * f)),
        (0.00004, sin_deg(3.0 * m)),
        (0.00003, sin_deg(mp + m - 2.0 * f)),
        (0.00003, sin_deg(2.0 * mp + 2.0 * f)),
        (-0.00003, sin_deg(mp + m + 2.0 * f)),
        (0.00003, sin_deg(mp - m + 2.0 * f)),
        (-0.00002, sin_deg(mp - m - 2.0 * f)),
        (-0.00002, sin_deg(3.0 * mp + m)),
        (0.00002, sin_deg(4.0 * mp)),
    ];
    let planets = [
        (325.0, 299.77 + 0.107408 * k - 0.009173 * t * t),
        (165.0, 251.88 + 0.016321 * k),
        (164.0, 251.83 + 26.651886 * k),
        (126.0, 349.42 + 36.412478 * k),
        (110.0, 84.66 + 18.206239 * k),
        (62.0, 141.74 + 53.303771 * k),
        (60.0, 207.14 + 2.453732 * k),
        (56.0, 154.84 + 7.30686 * k),
        (47.0, 34.52 + 27.261239 * k),
        (42.0, 207.19 + 0.121824 * k),
        (40.0, 291.34 + 1.844379 * k),
        (37.0, 161.72 + 24.198154 * k),
        (35.0, 239.56 + 25.513099 * k),
        (23.0, 331.55 + 3.592518 * k),
    ];
    jde + terms.iter().map(|(c, s)| c * s).sum::<f64>()
        + planets.iter().map(|(c, a)| c * 1e-6 * sin_deg(*a)).sum::<f64>()
}

/// The sun's apparent longitude at `jde`, in degrees, Meeus ch. 25 (0.01°).
fn sun_longitude(jde: f64) -> f64 {
    let t = (jde - 2451545.0) / 36525.0;
    let l0 = 280.46646 + 36000.76983 * t + 0.0003032 * t * t;
    let m = 357.52911 + 35999.05029 * t - 0.0001537 * t * t;
    let c = (1.914602 - 0.004817 * t - 0.000014 * t * t) * sin_deg(m)
        + (0.019993 - 0.000101 * t) * sin_deg(2.0 * m)
        + 0.000289 * sin_deg(3.0 * m);
    let omega = 125.04 - 1934.136 * t;
    (l0 + c - 0.00569 - 0.00478 * sin_deg(omega)).rem_euclid(360.0)
}

/// When the sun reaches `longitude` near `jde`.
fn solar_term(longitude: f64, mut jde: f64) -> f64 {
    for _ in 0..20 {
        let behind = (longitude - sun_longitude(jde) + 540.0).rem_euclid(360.0) - 180.0;
        jde += behind * 365.2422 / 360.0;
    }
    jde
}

/// The Beijing (UTC+8) civil date of `jde`.
fn beijing_date(jde: f64) -> NaiveDate {
    let day = (jde - DELTA_T + 8.0 / 24.0 + 0.5).floor() as i64 - 2451545;
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    if day >= 0 { epoch + Days::new(day as u64) } else { epoch - Days::new(day.unsigned_abs()) }
}

fn jde_of(date: NaiveDate) -> f64 {
    let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    2451544.5 + (date - epoch).num_days() as f64
}

/// 正月初一, Qingming, 端午 and 中秋 of `year`, computed: months start on the
/// Beijing day of new moon, month 11 holds the winter solstice, and in a
/// span of 13 months between two such months the first month without a
/// major solar term (中气) is the leap month.
fn computed(year: i32) -> [NaiveDate; 4] {
    let solstice = |y: i32| beijing_date(solar_term(270.0, jde_of(NaiveDate::from_ymd_opt(y, 12, 21).unwrap())));
    // From about September of the year before to January after.
    let k0 = ((f64::from(year) - 2001.0) * 12.3685).floor() + 9.0;
    let moons: Vec<NaiveDate> = (0..18).map(|i| beijing_date(new_moon(k0 + f64::from(i)))).collect();
    let month11 = |ws: NaiveDate| moons.iter().rposition(|m| *m <= ws).unwrap();
    let (first, next) = (month11(solstice(year - 1)), month11(solstice(year)));
    let starts = &moons[first..=next];
    let from = jde_of(starts[0]);
    let major: Vec<NaiveDate> = (0..13)
        .map(|i| beijing_date(solar_term((270.0 + 30.0 * f64::from(i)).rem_euclid(360.0), from + 30.4 * f64::from(i))))
        .collect();
    let has_major = |i: usize| major.iter().any(|d| *d >= starts[i] && *d < starts[i + 1]);
    let leap = (starts.len() == 14).then(|| (1..13).find(|&i| !has_major(i)).unwrap());
    let mut number = 10;
    let mut month_start = std::collections::HashMap::new();
    for (i, start) in starts[..starts.len() - 1].iter().enumerate() {
        if Some(i) != leap {
            number = number % 12 + 1;
            month_start.insert(number, *start);
        }
    }
    let qingming = beijing_date(solar_term(15.0, jde_of(NaiveDate::from_ymd_opt(year, 4, 4).unwrap())));
    [month_start[&1], qingming, month_start[&5] + Days::new(4), month_start[&8] + Days::new(14)]
}

#[test]
fn the_table_agrees_with_the_astronomy() {
    for year in FIRST_YEAR..=LAST_YEAR {
        assert_eq!(lunar_dates(year).unwrap(), computed(year), "{year}");
    }
    assert_eq!(lunar_dates(FIRST_YEAR - 1), None);
    assert_eq!(lunar_dates(LAST_YEAR + 1), None);
}

#[test]
fn the_table_agrees_with_published_dates() {
    // 2025 and 2026 from the State Council's notices (data/calendar/cn.toml);
    // 2027-2035 as the almanacs print them (春节 2034 after the 2033 leap
    // eleventh month, 端午 2028 after a leap fifth month).
    let published = [
        (2025, ["2025-01-29", "2025-04-04", "2025-05-31", "2025-10-06"]),
        (2026, ["2026-02-17", "2026-04-05", "2026-06-19", "2026-09-25"]),
        (2027, ["2027-02-06", "2027-04-05", "2027-06-09", "2027-09-15"]),
        (2028, ["2028-01-26", "2028-04-04", "2028-05-28", "2028-10-03"]),
        (2029, ["2029-02-13", "2029-04-04", "2029-06-16", "2029-09-22"]),
        (2030, ["2030-02-03", "2030-04-05", "2030-06-05", "2030-09-12"]),
        (2031, ["2031-01-23", "2031-04-05", "2031-06-24", "2031-10-01"]),
        (2032, ["2032-02-11", "2032-04-04", "2032-06-12", "2032-09-19"]),
        (2033, ["2033-01-31", "2033-04-04", "2033-06-01", "2033-09-08"]),
        (2034, ["2034-02-19", "2034-04-05", "2034-06-20", "2034-09-27"]),
        (2035, ["2035-02-08", "2035-04-05", "2035-06-10", "2035-09-16"]),
    ];
    for (year, dates) in published {
        assert_eq!(lunar_dates(year).unwrap(), dates.map(date), "{year}");
    }
}

fn days_off(year: i32) -> Vec<String> {
    let mut days: Vec<String> =
        provisional_days(year).unwrap().iter().map(|(d, _)| d.format("%m-%d").to_string()).collect();
    days.dedup();
    days
}

#[test]
fn provisional_days_2027_to_2030() {
    // 2027: 春节 Fri-Mon, its Sat and Sun made up Tue 9th and Wed 10th;
    // 劳动节 Sat-Sun made up Mon-Tue; 国庆 Fri-Sun, Sat-Sun made up Mon-Tue.
    assert_eq!(
        days_off(2027),
        [
            "01-01", "02-05", "02-06", "02-07", "02-08", "02-09", "02-10", "04-05", "05-01", "05-02", "05-03", "05-04",
            "06-09", "09-15", "10-01", "10-02", "10-03", "10-04", "10-05",
        ]
    );
    // 2028: 元旦 Sat made up Mon 3rd; 端午 Sun made up Mon; 国庆 Sun-Tue with
    // 中秋 on Tue 3rd: the Sunday and the shared day made up Wed and Thu.
    assert_eq!(
        days_off(2028),
        [
            "01-01", "01-03", "01-25", "01-26", "01-27", "01-28", "04-04", "05-01", "05-02", "05-28", "05-29", "10-01",
            "10-02", "10-03", "10-04", "10-05",
        ]
    );
    // 2029: 端午 and 中秋 on Saturdays, made up the Mondays.
    assert_eq!(
        days_off(2029),
        [
            "01-01", "02-12", "02-13", "02-14", "02-15", "04-04", "05-01", "05-02", "06-16", "06-18", "09-22", "09-24",
            "10-01", "10-02", "10-03",
        ]
    );
    // 2030: 除夕 Sat and 初一 Sun, made up after the block, Wed and Thu.
    assert_eq!(
        days_off(2030),
        [
            "01-01", "02-02", "02-03", "02-04", "02-05", "02-06", "02-07", "04-05", "05-01", "05-02", "06-05", "09-12",
            "10-01", "10-02", "10-03",
        ]
    );
}

#[test]
fn make_up_days_say_what_they_replace() {
    let days = provisional_days(2028).unwrap();
    let reason = |d: &str| days.iter().filter(|(x, _)| *x == date(d)).map(|(_, r)| *r).collect::<Vec<_>>();
    assert_eq!(reason("2028-01-03"), [DayOff::MakeUp { festival: Festival::NewYear, for_date: date("2028-01-01") }]);
    assert_eq!(
        reason("2028-10-05"),
        [DayOff::MakeUp { festival: Festival::NationalDay, for_date: date("2028-10-03") }]
    );
    assert_eq!(reason("2028-10-03").len(), 2, "中秋 and 国庆 share the day");
    // Every year of the table: 13 statutory days, make-ups on weekdays.
    for year in FIRST_YEAR..=LAST_YEAR {
        assert_eq!(statutory_days(year).unwrap().len(), 13, "{year}");
        for (d, r) in provisional_days(year).unwrap() {
            if let DayOff::MakeUp { for_date, .. } = r {
                assert!(!is_weekend(d) && d > for_date && d.year() == year, "{year}: {d}");
            }
        }
    }
}
