//! A number of business days, as the config and the deadlines write it.

use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

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
