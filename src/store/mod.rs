//! The store: tickets, the intake log, the outbox and the timeline, on SQLite
//! (embedded, one instance) or PostgreSQL (several instances). One SQL text
//! serves both wherever the dialects agree; idempotency lives in unique
//! constraints, so concurrent instances cannot do a thing twice.
//!
//! One file per table: [`tickets`], [`inbound`] (the intake log), [`outbox`],
//! [`events`] (the timeline), [`reports`] (report claims and cursors),
//! [`calendar_years`] (how each year was counted, for deadline repair), and
//! [`views`] (the read models of the console and the metrics); [`rows`] maps
//! rows to values.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// Runs the same body against whichever backend is in use; the body is
/// type-checked once per backend, so one SQL text serves both.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// As [`on_pool!`], on the connection of an open transaction.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

#[macro_use]
mod rows;
mod attempts;
mod calendar_years;
mod events;
mod inbound;
mod outbox;
mod reports;
mod tickets;
mod views;

pub use attempts::{Attempted, Hold, MessageRef, Taker};
pub use calendar_years::Fingerprints;
pub use events::{Event, EventKind, OperatorVerb};
pub use inbound::{InboundId, InboundOutcome, InboundRecord, kind_name};
pub use outbox::{OutboxEntry, OutboxMail, OutboxState, PendingMail, Priority, Retry};
pub use rows::{from_ms, to_ms};
pub use tickets::NewTicket;
pub use views::TicketQuery;

/// The migrations of each dialect, embedded, in order.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, "outbox in doubt", include_str!("../../migrations/sqlite/0002_outbox_in_doubt.sql")),
    (3, "reports", include_str!("../../migrations/sqlite/0003_reports.sql")),
    (4, "backlog indexes", include_str!("../../migrations/sqlite/0004_backlog_indexes.sql")),
    (5, "outbox failed", include_str!("../../migrations/sqlite/0005_outbox_failed.sql")),
    (6, "intake attempts", include_str!("../../migrations/sqlite/0006_intake_attempts.sql")),
    (7, "returns", include_str!("../../migrations/sqlite/0007_returns.sql")),
    (8, "calendar years", include_str!("../../migrations/sqlite/0008_calendar_years.sql")),
    (9, "inbound auth", include_str!("../../migrations/sqlite/0009_inbound_auth.sql")),
    (10, "outbox priority", include_str!("../../migrations/sqlite/0010_outbox_priority.sql")),
    (11, "outbox originals", include_str!("../../migrations/sqlite/0011_outbox_originals.sql")),
    (13, "board indexes", include_str!("../../migrations/sqlite/0013_board_indexes.sql")),
    (14, "intake holds", include_str!("../../migrations/sqlite/0014_intake_holds.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/postgres/0001_init.sql")),
    (2, "outbox in doubt", include_str!("../../migrations/postgres/0002_outbox_in_doubt.sql")),
    (3, "reports", include_str!("../../migrations/postgres/0003_reports.sql")),
    (4, "backlog indexes", include_str!("../../migrations/postgres/0004_backlog_indexes.sql")),
    (5, "outbox failed", include_str!("../../migrations/postgres/0005_outbox_failed.sql")),
    (6, "intake attempts", include_str!("../../migrations/postgres/0006_intake_attempts.sql")),
    (7, "returns", include_str!("../../migrations/postgres/0007_returns.sql")),
    (8, "calendar years", include_str!("../../migrations/postgres/0008_calendar_years.sql")),
    (9, "inbound auth", include_str!("../../migrations/postgres/0009_inbound_auth.sql")),
    (10, "outbox priority", include_str!("../../migrations/postgres/0010_outbox_priority.sql")),
    (11, "outbox originals", include_str!("../../migrations/postgres/0011_outbox_originals.sql")),
    (13, "board indexes", include_str!("../../migrations/postgres/0013_board_indexes.sql")),
    (14, "intake holds", include_str!("../../migrations/postgres/0014_intake_holds.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?} (sqlite://PATH or postgres://…)")]
    Url(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("no database file {0} (it is created at the first run)")]
    Missing(std::path::PathBuf),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction; dropped without `commit` it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Rows written per statement by the set-wise writes: well under either
/// backend's limit on parameters per statement.
const ROWS_PER_STATEMENT: usize = 100;

fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(version, name.into(), MigrationType::Simple, sqlx::SqlStr::from_static(sql), false)
            })
            .collect(),
    )
}

/// Creates a missing SQLite file readable by its owner only: it holds
/// customers' names and phone numbers. SQLite gives its WAL and shared-memory
/// files the database file's permissions.
fn create_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Fails harmlessly when the file exists; SQLite then opens it as is.
        let _ = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    }
}

/// `text` with the password of every URL in it (`scheme://user:password@`,
/// `password=…` parameters) replaced by `***`: for errors and logs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end =
            tail.find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace()).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@').map(|a| (&authority[..a], &authority[a..])) {
            Some((creds, host)) => {
                match creds.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(creds),
                }
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    redact_parameters(&out)
}

/// `password=…` (any case) up to the next `&`, quote or space, as `***`.
fn redact_parameters(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find("password=") {
        let value = from + found + "password=".len();
        out.push_str(&text[from..value]);
        let end = text[value..]
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .map_or(text.len(), |e| value + e);
        if end > value {
            out.push_str("***");
        }
        from = end;
    }
    out.push_str(&text[from..]);
    out
}

impl Store {
    /// Connects and applies the migrations. `sqlite://` paths are relative to
    /// `base_dir`; the file and its directory are created when missing.
    pub async fn connect(url: &str, base_dir: &std::path::Path) -> Result<Self> {
        let store = Self::open(url, base_dir, true).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating; a missing SQLite file is created only
    /// when `create` (else `StoreError::Missing`).
    pub async fn open(url: &str, base_dir: &std::path::Path, create: bool) -> Result<Self> {
        let store = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = if path == ":memory:" {
                path.into()
            } else {
                let p = base_dir.join(path);
                if !create && !p.exists() {
                    return Err(StoreError::Missing(p));
                }
                if let Some(dir) = p.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                create_private(&p);
                p
            };
            let options = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Store::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx's own parse error may quote the URL, password included.
            let options = PgConnectOptions::from_str(url).map_err(|_| StoreError::Url(redact(url)))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::Url(redact(url)));
        };
        Ok(store)
    }

    /// How many write transactions are worth running at once: SQLite has
    /// one writer; PostgreSQL overlaps their round trips (and leaves half
    /// its pool to the other workers).
    pub fn parallel_writers(&self) -> usize {
        match self {
            Store::Sqlite(_) => 1,
            Store::Postgres(p) => (p.options().get_max_connections() as usize / 2).max(1),
        }
    }

    /// Applies the migrations with sqlx's `Migrator` (checksums, a dirty
    /// flag, and on PostgreSQL an advisory lock: several instances may start
    /// at once). A database migrated by the earlier hand-written runner
    /// (`schema_migrations`) is adopted: what it applied is recorded, not rerun.
    async fn migrate(&self) -> Result<()> {
        let adopt_sql = "SELECT MAX(version) FROM schema_migrations";
        on_pool!(self, |p| {
            let migrator = match self {
                Store::Sqlite(_) => migrator(SQLITE_MIGRATIONS),
                Store::Postgres(_) => migrator(POSTGRES_MIGRATIONS),
            };
            let exists: Option<i64> = sqlx::query_scalar(adopt_sql).fetch_optional(p).await.ok().flatten();
            if let Some(done) = exists {
                migrator.skip(p, Some(done)).await?;
                sqlx::raw_sql("DROP TABLE schema_migrations").execute(p).await?;
            }
            migrator.run(p).await?;
        });
        Ok(())
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, so a
    /// read-then-write cannot be overtaken).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
