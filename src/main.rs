//! The `complaintd` command: the daemon and the operator's tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::DateTime;
use clap::{Parser, Subcommand};
use complaintd::app::App;
use complaintd::calendar::Calendar;
use complaintd::clock::Clock;
use complaintd::config::Settings;
use complaintd::ticket::Urgency;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("complaintd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run { config } => {
            init_logging();
            let settings = Settings::load(&config)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let app = App::build(settings, Clock::System).await?;
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    shutdown_signal().await;
                    tracing::info!("stopping");
                    let _ = stop_tx.send(true);
                });
                app.run(stop_rx).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse { config, message } => {
            let settings = Settings::load(&config)?;
            let raw = std::fs::read(&message).with_context(|| format!("reading {}", message.display()))?;
            let parsed = complaintd::intake::parse(&raw, &settings);
            println!("{}", serde_json::to_string_pretty(&parsed)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadline { config, received, urgency } => deadline(&config, &received, urgency),
        Command::Report { report: ReportCommand::Monthly { config, month, csv } } => {
            let settings = Settings::load(&config)?;
            let runtime = tokio::runtime::Runtime::new()?;
            println!(
                "{}",
                runtime.block_on(complaintd::report::monthly_on_demand(
                    &settings,
                    &month,
                    csv.as_deref(),
                    chrono::Utc::now()
                ))?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn deadline(config: &Path, received: &str, urgency: Urgency) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let calendar = Calendar::from_settings(&settings.calendar, |p| settings.resolve(p))?;
    let received =
        DateTime::parse_from_rfc3339(received).with_context(|| format!("--received {received:?} is not RFC 3339"))?;
    let json = complaintd::deadline::deadline_json(&calendar, &settings.deadlines, received, urgency);
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}

fn init_logging() {
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
