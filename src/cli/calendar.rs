//! `complaintd calendar import|show`: bring in the State Council's notice for
//! a year, and see how a year is counted (official or provisional).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;

use crate::calendar::statutory::{self, DayOff};
use crate::calendar::{Calendar, YearStatus, import};
use crate::config::Settings;

/// `complaintd calendar …`.
#[derive(clap::Subcommand)]
pub enum CalendarCommand {
    /// Check a holiday-cn JSON file or a holiday TOML file and write it as a holiday file.
    Import {
        file: PathBuf,
        /// Where to write it (default data/calendar/cn-YEAR.toml).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A year's days off and make-up working days, provisional ones marked.
    Show {
        #[arg(long, default_value = "config/example.toml")]
        config: PathBuf,
        #[arg(long)]
        year: i32,
    },
}

/// Runs one `calendar` command, printing its answer.
pub fn run(command: CalendarCommand) -> anyhow::Result<ExitCode> {
    match command {
        CalendarCommand::Import { file, out } => {
            let mut notes = Vec::new();
            let said = import(&file, out.as_deref(), &mut notes)?;
            for note in notes {
                eprintln!("complaintd: note: {note}");
            }
            print!("{said}");
        }
        CalendarCommand::Show { config, year } => print!("{}", show(&Settings::load(&config)?, year)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads, checks and writes the arrangement in `file` (holiday-cn JSON or
/// our TOML) to `out`, by default `data/calendar/cn-YEAR.toml`; returns what
/// to tell the operator. Notes (a year that could not be fully checked) go to
/// `notes`.
pub fn import(file: &Path, out: Option<&Path>, notes: &mut Vec<String>) -> anyhow::Result<String> {
    let (arrangements, found) = import::read(file)?;
    notes.extend(found);
    let years: Vec<i32> = arrangements.iter().map(|a| a.year).collect();
    let out = out.map_or_else(|| default_out(&years), Path::to_path_buf);
    let text = import::render(&arrangements, &file.display().to_string());
    // What is written must load as what was read, or nothing is written.
    if import::reread(&text)? != without_names(&arrangements) {
        anyhow::bail!("internal error: the holiday file written would not read back as imported");
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Through a temporary file, so a running daemon never reads half of it.
    let tmp = out.with_extension("toml.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    let mut said = String::new();
    for a in &arrangements {
        let off = a.days.iter().filter(|d| d.off).count();
        said.push_str(&format!("{}: {} days off, {} make-up working days\n", a.year, off, a.days.len() - off));
    }
    said.push_str(&format!(
        "wrote {}\nto use it, add it to [calendar] holiday_files in the config, after the files it \
         extends (relative to the config's directory), check with `complaintd check-config`, and restart \
         the daemon\n",
        out.display()
    ));
    Ok(said)
}

fn default_out(years: &[i32]) -> PathBuf {
    let name = match (years.first(), years.last()) {
        (Some(first), Some(last)) if first != last => format!("cn-{first}-{last}.toml"),
        (Some(year), _) => format!("cn-{year}.toml"),
        _ => "cn-imported.toml".into(),
    };
    Path::new("data/calendar").join(name)
}

/// The arrangements as our TOML keeps them: without the days' names.
fn without_names(arrangements: &[import::Arrangement]) -> Vec<import::Arrangement> {
    let mut out = arrangements.to_vec();
    for day in out.iter_mut().flat_map(|a| a.days.iter_mut()) {
        day.name = None;
    }
    out
}

/// `year`'s days off and make-up days on the configured calendar, each
/// marked when provisional.
pub fn show(settings: &Settings, year: i32) -> anyhow::Result<String> {
    let cal = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p))?;
    Ok(render_year(&cal, year))
}

/// What `calendar show` prints for `year`.
pub fn render_year(cal: &Calendar, year: i32) -> String {
    let status = cal.year_status(year);
    let mut out = match status {
        YearStatus::Official => format!("{year}: official (the State Council's arrangement, from the holiday files)\n"),
        YearStatus::Provisional => format!(
            "{year}: provisional: no holiday file has the State Council's notice for {year}; the statutory \
             holidays of 全国年节及纪念日放假办法 (2024) and their 补假 are counted, the 调休 make-up working \
             days are unknown, and deadlines through {year} may move once the notice is imported\n"
        ),
        YearStatus::Unknown => format!(
            "{year}: unknown: no holiday file has {year} and the statutory table covers {}-{}: \
             only the weekly pattern is counted\n",
            statutory::FIRST_YEAR,
            statutory::LAST_YEAR
        ),
    };
    let provisional = statutory::provisional_days(year).unwrap_or_default();
    let statutory = statutory::statutory_days(year).unwrap_or_default();
    let mark = if status == YearStatus::Provisional { "  (provisional)" } else { "" };
    out.push_str("days off (besides ordinary weekends):\n");
    let mut any = false;
    for date in cal.days_off_in(year) {
        any = true;
        let label = if status == YearStatus::Provisional {
            provisional.iter().filter(|(d, _)| *d == date).map(|(_, r)| describe(*r)).collect::<Vec<_>>().join(", ")
        } else {
            statutory.iter().filter(|(d, _)| *d == date).map(|(_, f)| f.name()).collect::<Vec<_>>().join(", ")
        };
        let line = format!("  {}  {label}{mark}", day(date));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !any {
        out.push_str("  none\n");
    }
    out.push_str("make-up working days (调休):\n");
    let workdays: Vec<NaiveDate> = cal.workdays_in(year).collect();
    if workdays.is_empty() {
        out.push_str(if status == YearStatus::Official { "  none\n" } else { "  none known\n" });
    }
    for date in workdays {
        out.push_str(&format!("  {}\n", day(date)));
    }
    out
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d %a").to_string()
}

fn describe(reason: DayOff) -> String {
    match reason {
        DayOff::Statutory(f) => f.name().to_owned(),
        DayOff::MakeUp { festival, for_date } => format!("补假 for {} {}", festival.name(), for_date),
    }
}
