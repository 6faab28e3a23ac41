//! Deadlines of a ticket, counted in business time, and its reminder ladder.
//! (Placeholder until the real one lands.)

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::calendar::Calendar;
use crate::ticket::Urgency;

/// The `[deadlines]` section of the config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeadlinePolicy {}

pub struct Deadlines {
    pub reply_due: DateTime<Utc>,
    pub escalate_at: DateTime<Utc>,
    pub result_due: DateTime<Utc>,
    pub close_due: DateTime<Utc>,
    pub extension_cap: DateTime<Utc>,
}

pub fn compute(
    cal: &Calendar,
    _p: &DeadlinePolicy,
    start: DateTime<Utc>,
    urgency: Urgency,
) -> Deadlines {
    let h = match urgency {
        Urgency::Urgent => 4,
        Urgency::Expedited => 8,
        Urgency::Normal => 16,
    };
    Deadlines {
        reply_due: cal.add_working(start, Duration::hours(h)),
        escalate_at: cal.add_working(start, Duration::hours(h)),
        result_due: cal.add_working(start, Duration::hours(16)),
        close_due: cal.add_working(start, Duration::hours(24)),
        extension_cap: cal.add_working(start, Duration::hours(40)),
    }
}
