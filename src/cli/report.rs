//! `complaintd report monthly`: the month's assessment as it is mailed, on
//! demand.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::notify::Notifier;
use crate::notify::context::local_minute;
use crate::report::{Period, assess};

/// The month's figures as the mail's text part (generated at `now`), and
/// its CSV written to `csv` when asked.
pub async fn monthly_on_demand(
    settings: &Settings,
    month: &str,
    csv: Option<&Path>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let (calendar, templates) = crate::setup::load_parts(settings)?;
    let tz = calendar.tz();
    let period = Period::parse(month, tz)?;
    let store = crate::setup::store(settings).await?;
    let tickets = store.assessment_tickets(period.start, period.end).await?;
    store.close().await;
    let assessment = assess(settings, &period, &tickets);
    if let Some(path) = csv {
        std::fs::write(path, assessment.csv()).with_context(|| format!("writing {}", path.display()))?;
    }
    let notify = Notifier::new(settings, templates, tz)?;
    let rendered = notify.monthly(&assessment, &settings.reports.counted_categories, &local_minute(now, tz))?;
    Ok(format!("{}\n\n{}", rendered.subject, rendered.text))
}
