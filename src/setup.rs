//! Start-up: what every command builds from the settings before it works:
//! the calendar and the templates (checked), the desk, the database, and the
//! secrets. The one place that resolves passwords and redacts them.

use anyhow::Context as _;

use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::Settings;
use crate::desk::Desk;
use crate::notify::{MailContext, Notifier, Templates};
use crate::store::Store;

/// A password from the environment variable named in the config, else the file.
pub fn password(env: Option<&str>, inline: Option<&str>) -> Option<String> {
    env.and_then(|name| std::env::var(name).ok()).or_else(|| inline.map(str::to_owned))
}

/// Loads the calendar and the templates: everything start-up must check.
pub fn load_parts(settings: &Settings) -> anyhow::Result<(Calendar, Templates)> {
    let calendar = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p))?;
    let dir = settings.resolve(&settings.templates.dir);
    let templates = Templates::load(&dir, &MailContext::sample())?;
    Ok((calendar, templates))
}

/// The desk, with its calendar and templates loaded and checked.
pub fn desk(settings: Settings, clock: Clock) -> anyhow::Result<Desk> {
    let (calendar, templates) = load_parts(&settings)?;
    let notify = Notifier::new(&settings, templates, calendar.tz())?;
    Desk::new(settings, calendar, notify, clock)
}

/// Opens (and migrates) the database the settings name.
pub async fn store(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect(&settings.database.url, &settings.base_dir)
        .await
        .with_context(|| format!("opening database {}", redact(&settings.database.url)))
}

/// Text (a database URL, an error) without any password, for output.
pub fn redact(text: &str) -> String {
    crate::store::redact(text)
}
