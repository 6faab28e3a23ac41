//! The `complaintd` command: the daemon and the operator's tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::DateTime;
use clap::{Parser, Subcommand};
use complaintd::app::App;
use complaintd::calendar::Calendar;
use complaintd::cli::tickets::{Console, ListFilter};
use complaintd::clock::Clock;
use complaintd::config::{DEFAULT_INTAKE_STALE_SECONDS, Settings};
use complaintd::desk::OperatorAction;
use complaintd::printable::printable;
use complaintd::setup::redact;
use complaintd::systemd;
use complaintd::ticket::{TicketNo, Urgency};

#[derive(Parser)]
#[command(name = "complaintd", about = "Runs an after-sales network's complaint desk by email")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const DEFAULT_CONFIG: &str = "config/example.toml";

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Show what the daemon would make of one message, as JSON; touches nothing.
    Parse {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        message: PathBuf,
    },
    /// Print a complaint's deadlines, as JSON.
    Deadline {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// When the complaint was received (RFC 3339).
        #[arg(long)]
        received: String,
        /// urgent, expedited or normal (紧急, 加急, 一般).
        #[arg(long)]
        urgency: Urgency,
    },
    /// Print a report's figures: `report monthly --month 2026-10 [--csv FILE]`.
    Report {
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// Check a config file (values, secrets, templates, schedules, calendar);
    /// with --connect, log in to IMAP, SMTP and the database.
    CheckConfig {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long)]
        connect: bool,
    },
    /// Read a password from stdin and print its Argon2id hash (PHC string)
    /// for a board user in the config.
    HashPassword,
    /// Inspect tickets and act on them as the operator.
    Tickets {
        #[arg(long, global = true, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Act as if it were this instant (RFC 3339): for tests and replays.
        #[arg(long, global = true, hide = true)]
        now: Option<String>,
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Import a year's official holiday arrangement, or show how a year is counted.
    Calendar {
        #[command(subcommand)]
        command: complaintd::cli::calendar::CalendarCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The monthly assessment (考核), as mailed to channel management.
    Monthly {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Also write the CSV attachment to this file.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// The regional managers' weekly digests of open tickets, as mailed.
    Weekly {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Only this manager's digest (their address).
        #[arg(long)]
        manager: Option<String>,
    },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// The tickets, newest first, with their next deadline.
    List {
        /// Only this station's (code).
        #[arg(long)]
        station: Option<String>,
        /// Only tickets in this state: unrouted, open, contacted, resolved, closed.
        #[arg(long)]
        status: Option<String>,
        /// Only tickets past a deadline.
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        json: bool,
    },
    /// One ticket: its deadlines and every mail in and out.
    Show {
        ticket: String,
        #[arg(long)]
        json: bool,
    },
    /// Close a ticket (valid for the assessment unless --invalid).
    Close {
        ticket: String,
        #[arg(long)]
        invalid: bool,
        /// Recorded on the timeline and sent with the notice.
        #[arg(long)]
        note: Option<String>,
    },
    /// Open a closed ticket again.
    Reopen {
        ticket: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Give a ticket to another station (or route an unrouted one).
    Reassign {
        ticket: String,
        /// The station's code.
        #[arg(long)]
        station: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Move a ticket's result and close deadlines.
    Extend {
        ticket: String,
        /// Local time, "YYYY-MM-DD HH:MM".
        #[arg(long)]
        until: String,
        /// Past the 5-business-day cap, or a second time.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        note: Option<String>,
    },
}

fn main() -> ExitCode {
    return_large_buffers();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The daemon's log says why it stopped (one JSON line with json logs).
        // Errors may quote a database URL (sqlx's do): never its password.
        Err(e) if LOGGING.load(Ordering::Relaxed) => {
            tracing::error!(error = %redact(&format!("{e:#}")), "complaintd stopped");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("complaintd: {}", printable(&redact(&format!("{e:#}"))));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => {
            init_logging();
            let settings = Settings::load(&config)?;
            // Workers (and the blocking threads that parse mail) get the
            // stack the parser's limits are sized for, whatever the platform.
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(WORKER_STACK).build()?;
            runtime.block_on(async {
                let stale = settings.metrics.as_ref().map_or(DEFAULT_INTAKE_STALE_SECONDS, |m| m.intake_stale_seconds);
                let app = App::build(settings, Clock::System).await?;
                tokio::spawn(reload_on_hangup(app.reloader(config.clone())));
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown_signal().await;
                    tracing::info!("stopping");
                    systemd::stopping();
                    let _ = stop_tx.send(true);
                });
                let watchdog =
                    systemd::watchdog(app.metrics.clone(), Clock::System, Duration::from_secs(stale), stop_rx.clone());
                tokio::spawn(watchdog);
                systemd::ready();
                app.run(stop_rx).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse { config, message } => {
            let settings = Settings::load(&config)?;
            let raw = std::fs::read(&message).with_context(|| format!("reading {}", message.display()))?;
            // Verified as intake would, against the configured resolver;
            // bounded by the verifier's deadline, so no DNS means temperror.
            let verifier = complaintd::auth::Verifier::new(&settings.auth)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let verdict = runtime.block_on(verifier.verify(&raw));
            // The same stack as the daemon's workers: what passes here
            // passes there.
            let parsing = std::thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn(move || complaintd::intake::parse(&raw, &settings))?;
            let parsed = parsing.join().map_err(|_| anyhow::anyhow!("the parser failed"))?;
            let mut out = serde_json::to_value(&parsed)?;
            if let Some(map) = out.as_object_mut() {
                map.insert("auth".into(), serde_json::to_value(&verdict)?);
            }
            emit(&serde_json::to_string_pretty(&out)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadline { config, received, urgency } => deadline(&config, &received, urgency),
        Command::Report { report: ReportCommand::Monthly { config, month, csv } } => {
            let settings = Settings::load(&config)?;
            let runtime = tokio::runtime::Runtime::new()?;
            emit(&runtime.block_on(complaintd::cli::report::monthly_on_demand(
                &settings,
                &month,
                csv.as_deref(),
                chrono::Utc::now(),
            ))?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { report: ReportCommand::Weekly { config, manager } } => {
            let settings = Settings::load(&config)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let now = chrono::Utc::now();
            emit(&runtime.block_on(complaintd::cli::report::weekly_on_demand(&settings, manager.as_deref(), now))?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tickets { config, now, command } => tickets(&config, now.as_deref(), command),
        Command::Calendar { command } => complaintd::cli::calendar::run(command),
        Command::HashPassword => {
            println!("{}", complaintd::cli::hash_password::run(std::io::stdin().lock())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config, connect } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(complaintd::cli::check_config::check(&config, chrono::Utc::now(), connect));
            emit(&redact(report.render().trim_end()))?;
            Ok(if report.errors() > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
    }
}

fn tickets(config: &Path, now: Option<&str>, command: TicketsCommand) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let clock = match now {
        Some(t) => Clock::manual(
            DateTime::parse_from_rfc3339(t).with_context(|| format!("--now {t:?} is not RFC 3339"))?.to_utc(),
        ),
        None => Clock::System,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let console = Console::open(settings, clock).await?;
        let out = tickets_command(&console, command).await;
        console.store.close().await;
        emit(out?.trim_end())?;
        Ok(ExitCode::SUCCESS)
    })
}

fn deadline(config: &Path, received: &str, urgency: Urgency) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let calendar = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p))?;
    let received =
        DateTime::parse_from_rfc3339(received).with_context(|| format!("--received {received:?} is not RFC 3339"))?;
    let json = complaintd::deadline::deadline_json(&calendar, &settings.deadlines, received, urgency);
    emit(&serde_json::to_string_pretty(&json)?)?;
    Ok(ExitCode::SUCCESS)
}

async fn tickets_command(console: &Console, command: TicketsCommand) -> anyhow::Result<String> {
    let ticket_no = |t: &str| TicketNo::parse(t.trim());
    let (number, action, note) = match command {
        TicketsCommand::List { station, status, overdue, json } => {
            return console.list(&ListFilter { station, status, overdue }, json).await;
        }
        TicketsCommand::Show { ticket, json } => return console.show(&ticket_no(&ticket)?, json).await,
        TicketsCommand::Close { ticket, invalid, note } => (ticket, OperatorAction::Close { valid: !invalid }, note),
        TicketsCommand::Reopen { ticket, note } => (ticket, OperatorAction::Reopen, note),
        TicketsCommand::Reassign { ticket, station, note } => (ticket, OperatorAction::Reassign { station }, note),
        TicketsCommand::Extend { ticket, until, force, note } => {
            (ticket, OperatorAction::Extend { until: console.parse_local(&until)?, force }, note)
        }
    };
    Ok(console.act(&ticket_no(&number)?, &action, note.as_deref()).await?)
}

/// The stack of the daemon's worker threads and of `complaintd parse`.
const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Prints `text` and a newline; a closed pipe (`… | head -1`) is not an
/// error: the reader has what it wanted.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Whether errors go to the log (the daemon) or plainly to stderr (the tools).
static LOGGING: AtomicBool = AtomicBool::new(false);

fn init_logging() {
    LOGGING.store(true, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_from_env("COMPLAINTD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if std::env::var("COMPLAINTD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
    // A panic is logged like everything else (one JSON line with json logs).
    std::panic::set_hook(Box::new(|info| tracing::error!(panic = %info, "panic")));
}

/// Reloads at each SIGHUP (refused reloads are logged and counted there).
async fn reload_on_hangup(reloader: complaintd::app::Reloader) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("reload: cannot watch SIGHUP");
            return;
        };
        while hup.recv().await.is_some() {
            let _ = reloader.reload().await;
        }
    }
    #[cfg(not(unix))]
    drop(reloader);
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

/// Large mail passes through in buffers of tens of megabytes. glibc raises
/// its mmap threshold each time such a buffer is freed, after which the next
/// ones come from the heap and stay with the process: the hostile backlog
/// (20 mails of 20 MiB) grew to 136 MiB where one such mail at a time needs
/// about 110. A fixed threshold keeps every buffer over 1 MiB mapped on its
/// own, returned to the system when freed.
fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called first thing
    // in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
