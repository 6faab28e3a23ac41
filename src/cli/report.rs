//! `complaintd report monthly|weekly`: the month's assessment and the
//! managers' weekly digests as they are mailed, on demand.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::notify::Notifier;
use crate::notify::context::local_minute;
use crate::report::{Period, assess, digests};

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

/// Each regional manager's digest of the open tickets at `now` (only
/// `manager`'s when given), as mailed: recipient, subject and text part.
pub async fn weekly_on_demand(
    settings: &Settings,
    manager: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let (calendar, templates) = crate::setup::load_parts(settings)?;
    let tz = calendar.tz();
    let store = crate::setup::store(settings).await?;
    let open = store.open_complaints().await?;
    store.close().await;
    let notify = Notifier::new(settings, templates, tz)?;
    let date = now.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let mut out = Vec::new();
    for digest in digests(settings, &open, now, tz) {
        if manager.is_some_and(|m| !m.eq_ignore_ascii_case(&digest.manager)) {
            continue;
        }
        let rendered = notify.digest(&digest, &date)?;
        out.push(format!("To: {}\nSubject: {}\n\n{}", digest.manager, rendered.subject, rendered.text));
    }
    if out.is_empty() {
        let whom = manager.map(|m| format!(" for {m}")).unwrap_or_default();
        return Ok(format!("no open tickets{whom}: no digest would be mailed"));
    }
    Ok(out.join("\n\n"))
}
