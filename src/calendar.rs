//! The work calendar: time zone, working periods, public holidays and make-up days.
//! (Placeholder until the real calendar lands.)

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The `[calendar]` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA zone the desk works in.
    pub timezone: String,
    /// Weekdays that are working days, `MON`..`SUN`.
    pub working_days: Vec<String>,
    /// Working periods of a working day, `HH:MM-HH:MM`.
    pub working_hours: Vec<String>,
    /// Holiday data files, relative to the config file's directory.
    #[serde(default)]
    pub holiday_files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("calendar: {0}")]
pub struct CalendarError(String);

pub struct Calendar {
    tz: chrono_tz::Tz,
}

impl Calendar {
    pub fn from_settings(
        s: &CalendarSettings,
        _resolve: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, CalendarError> {
        Ok(Self {
            tz: s
                .timezone
                .parse()
                .map_err(|_| CalendarError(s.timezone.clone()))?,
        })
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }
    pub fn add_working(&self, start: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        start + d
    }
}
