//! The work calendar: time zone, working periods, public holidays and make-up days.

use std::path::PathBuf;

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
