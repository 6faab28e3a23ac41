//! The store: tickets, the intake log, the outbox and the timeline, on SQLite
//! (embedded, one instance) or PostgreSQL (several instances). One SQL text
//! serves both wherever the dialects agree; idempotency lives in unique
//! constraints, so concurrent instances cannot do a thing twice.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Row, Sqlite, SqlitePool, Transaction};

use crate::ticket::{Status, Ticket, TicketNo, Urgency};

/// Embedded migrations, applied in order at start.
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_outbox_in_doubt.sql")),
    (3, include_str!("../migrations/sqlite/0003_reports.sql")),
    (4, include_str!("../migrations/sqlite/0004_backlog_indexes.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_outbox_in_doubt.sql")),
    (3, include_str!("../migrations/postgres/0003_reports.sql")),
    (4, include_str!("../migrations/postgres/0004_backlog_indexes.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
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

/// Rows written per statement by the set-wise writes: well under either
/// backend's limit on parameters per statement.
const ROWS_PER_STATEMENT: usize = 100;

/// `$first, …, $(first + n - 1)`: parameters for an `IN` list of `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `($1, …, $c), ($c+1, …), …`: parameters for `rows` rows of `columns` values.
fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=columns).map(|c| format!("${}", r * columns + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// Milliseconds since the epoch: the one time format of both schemas.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_ms)
}

/// One message taken from the mailbox.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    /// Mailbox (account/folder) it came from.
    pub mailbox: String,
    /// With `uid`, identifies the message on the server for good.
    pub uidvalidity: u32,
    pub uid: u32,
    /// Also unique: the same mail delivered twice is handled once.
    pub message_id: Option<String>,
    pub sender: String,
    pub subject: String,
    /// What the parser made of it.
    pub kind: String,
    pub ticket: Option<TicketNo>,
    /// `handled`, `quarantined` or `ignored`.
    pub outcome: String,
    /// Why it was quarantined or ignored.
    pub reason: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A mail waiting in (or gone from) the outbox.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    /// Unique per effect (e.g. `TS-…:forward`): a second enqueue is a no-op.
    pub key: String,
    pub ticket: Option<TicketNo>,
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The complete RFC 5322 message, rendered once at enqueue time.
    pub body: Vec<u8>,
    /// Not sent before this instant (working-time rules).
    pub not_before: DateTime<Utc>,
}

/// An outbox row claimed for sending.
#[derive(Debug, Clone)]
pub struct PendingMail {
    pub id: i64,
    pub key: String,
    /// Without angle brackets; how its Bcc copy is found again.
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub body: Vec<u8>,
    /// Claims so far, this one included.
    pub attempts: i64,
    /// An earlier attempt may have been accepted: look for its copy first.
    pub in_doubt: bool,
    /// No copy of it can be older than this.
    pub created_at: DateTime<Utc>,
}

/// A sent or pending outbox row, for the CLI and the tests.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub key: String,
    pub ticket: Option<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When it is (next) tried: its not-before time until the first attempt.
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// One line of a ticket's timeline.
#[derive(Debug, Clone)]
pub struct Event {
    pub ticket: TicketNo,
    pub at: DateTime<Utc>,
    /// e.g. `received`, `forwarded`, `reply:contacted`, `quarantined`.
    pub kind: String,
    /// Who caused it (an address), when someone did.
    pub actor: Option<String>,
    pub message_id: Option<String>,
    pub detail: Option<String>,
}

/// A new ticket, as intake creates it.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub number: TicketNo,
    pub kind: String,
    pub status: Status,
    pub urgency: Urgency,
    pub station: Option<String>,
    pub handler: String,
    pub subject: String,
    pub complaint_no: Option<String>,
    pub category: Option<String>,
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub service_order: Option<String>,
    pub fields: serde_json::Value,
    pub source_message_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub pre_reported: bool,
    pub major: bool,
    pub linked_to: Option<TicketNo>,
}

const TICKET_COLUMNS: &str = "number, kind, status, urgency, station, handler, subject, fields, \
     received_at, dispatched_at, reply_due, escalate_at, result_due, close_due, extension_cap, \
     first_reply_at, result_at, closed_at, extended, valid, pre_reported, major, linked_to, repeats";

/// Reads a ticket row; a macro because the row type differs per backend.
macro_rules! ticket_from_row {
    ($row:expr) => {{
        let row = $row;
        let ts =
            |name: &str| -> Result<Option<DateTime<Utc>>> { Ok(row.try_get::<Option<i64>, _>(name)?.map(from_ms)) };
        let number: String = row.try_get("number")?;
        let status: String = row.try_get("status")?;
        let urgency: String = row.try_get("urgency")?;
        let fields: String = row.try_get("fields")?;
        let linked: Option<String> = row.try_get("linked_to")?;
        let corrupt = |what: &str| StoreError::Corrupt(format!("ticket {number}: {what}"));
        Ticket {
            number: TicketNo::parse(&number).map_err(|_| corrupt("number"))?,
            kind: row.try_get("kind")?,
            status: Status::parse(&status).ok_or_else(|| corrupt("status"))?,
            urgency: Urgency::parse(&urgency).ok_or_else(|| corrupt("urgency"))?,
            station: row.try_get("station")?,
            handler: row.try_get("handler")?,
            subject: row.try_get("subject")?,
            fields: serde_json::from_str(&fields).map_err(|_| corrupt("fields"))?,
            received_at: from_ms(row.try_get("received_at")?),
            dispatched_at: ts("dispatched_at")?,
            reply_due: ts("reply_due")?,
            escalate_at: ts("escalate_at")?,
            result_due: ts("result_due")?,
            close_due: ts("close_due")?,
            extension_cap: ts("extension_cap")?,
            first_reply_at: ts("first_reply_at")?,
            result_at: ts("result_at")?,
            closed_at: ts("closed_at")?,
            extended: row.try_get::<i64, _>("extended")? != 0,
            valid: row.try_get::<Option<i64>, _>("valid")?.map(|v| v != 0),
            pre_reported: row.try_get::<i64, _>("pre_reported")? != 0,
            major: row.try_get::<i64, _>("major")? != 0,
            linked_to: linked.and_then(|l| TicketNo::parse(&l).ok()),
            repeats: row.try_get("repeats")?,
        }
    }};
}

macro_rules! pending_from_row {
    ($row:expr) => {{
        let r = $row;
        Ok(PendingMail {
            id: r.try_get("id")?,
            key: r.try_get("key")?,
            envelope_from: r.try_get("envelope_from")?,
            recipients: split_recipients(&r.try_get::<String, _>("recipients")?),
            message_id: r.try_get("message_id")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
            in_doubt: r.try_get::<i64, _>("in_doubt")? != 0,
            created_at: from_ms(r.try_get("created_at")?),
        })
    }};
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
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::Url(url.to_owned()));
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

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        let migrations = match self {
            Store::Sqlite(_) => SQLITE_MIGRATIONS,
            Store::Postgres(_) => POSTGRES_MIGRATIONS,
        };
        if let Tx::Postgres(t) = &mut tx {
            // Several instances may start at once: one migrates, the others wait.
            sqlx::query("SELECT pg_advisory_xact_lock(4242001)").execute(&mut **t).await?;
        }
        on_tx!(&mut tx, |c| {
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
                .execute(&mut *c)
                .await?;
            for (version, sql) in migrations {
                let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *c)
                    .await?;
                if done.is_none() {
                    sqlx::raw_sql(*sql).execute(&mut *c).await?;
                    sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                        .bind(version)
                        .execute(&mut *c)
                        .await?;
                }
            }
            Ok::<_, StoreError>(())
        })?;
        tx.commit().await
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, so a
    /// read-then-write cannot be overtaken).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Store::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Claims up to `limit` outbox rows due at `now`, earliest due first,
    /// for `lease`; another instance will not take them until the lease runs
    /// out. A row whose earlier lease ran out was being sent by an instance
    /// that died: it comes back `in_doubt` (SET reads the row's old values).
    pub async fn claim_outbox(&self, now: DateTime<Utc>, lease: Duration, limit: i64) -> Result<Vec<PendingMail>> {
        let until = to_ms(now) + lease.as_millis() as i64;
        let now = to_ms(now);
        let rows = match self {
            Store::Sqlite(p) => sqlx::query(
                "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1,
                                   in_doubt = CASE WHEN claimed_until IS NULL THEN in_doubt ELSE 1 END
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE sent_at IS NULL AND next_attempt_at <= $2
                                    AND (claimed_until IS NULL OR claimed_until <= $2)
                                  ORDER BY next_attempt_at LIMIT $3)
                     RETURNING id, key, message_id, envelope_from, recipients, body, attempts, in_doubt, created_at",
            )
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?
            .into_iter()
            .map(|r| pending_from_row!(r))
            .collect::<Result<Vec<_>>>()?,
            Store::Postgres(p) => sqlx::query(
                "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1,
                                   in_doubt = CASE WHEN claimed_until IS NULL THEN in_doubt ELSE 1 END
                     WHERE id IN (SELECT id FROM outbox
                                  WHERE sent_at IS NULL AND next_attempt_at <= $2
                                    AND (claimed_until IS NULL OR claimed_until <= $2)
                                  ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                     RETURNING id, key, message_id, envelope_from, recipients, body, attempts, in_doubt, created_at",
            )
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(p)
            .await?
            .into_iter()
            .map(|r| pending_from_row!(r))
            .collect::<Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    /// Records that the server accepted the mails: one write for a round.
    pub async fn mark_sent(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET sent_at = $1, claimed_until = NULL, last_error = NULL, in_doubt = 0 WHERE id IN ({})",
            placeholders(2, ids.len())
        ));
        on_pool!(self, |p| {
            let mut query = sqlx::query(sql).bind(to_ms(now));
            for id in ids {
                query = query.bind(id);
            }
            query.execute(p).await?;
        });
        Ok(())
    }

    /// Records a failed attempt and when to try again; `in_doubt` when the
    /// server may have accepted the mail all the same.
    pub async fn mark_failed(&self, id: i64, error: &str, retry_at: DateTime<Utc>, in_doubt: bool) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query(
                "UPDATE outbox SET claimed_until = NULL, last_error = $1, next_attempt_at = $2, in_doubt = $3
                     WHERE id = $4",
            )
            .bind(error)
            .bind(to_ms(retry_at))
            .bind(i64::from(in_doubt))
            .bind(id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// When the next unsent mail becomes due (for the outbox worker's sleep).
    pub async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let due: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar("SELECT MIN(COALESCE(claimed_until, next_attempt_at)) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(p)
                .await?
        });
        Ok(due.map(from_ms))
    }

    pub async fn ticket(&self, number: &TicketNo) -> Result<Option<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1"));
        on_pool!(self, |p| {
            match sqlx::query(sql).bind(number.as_str()).fetch_optional(p).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// Tickets, newest first, optionally of one station and status.
    pub async fn tickets(&self, station: Option<&str>, status: Option<Status>) -> Result<Vec<Ticket>> {
        self.find_tickets(&TicketQuery { station, status, overdue_at: None }).await
    }

    /// The timeline of a ticket, oldest first.
    pub async fn events(&self, ticket: &TicketNo) -> Result<Vec<Event>> {
        on_pool!(self, |p| {
            sqlx::query(
                "SELECT ticket, at, kind, actor, message_id, detail FROM events
                 WHERE ticket = $1 ORDER BY at, id",
            )
            .bind(ticket.as_str())
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok(Event {
                    ticket: ticket.clone(),
                    at: from_ms(r.try_get("at")?),
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    message_id: r.try_get("message_id")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
        })
    }

    /// Outbox rows, optionally of one ticket, oldest first.
    pub async fn outbox(&self, ticket: Option<&TicketNo>) -> Result<Vec<OutboxEntry>> {
        let ticket = ticket.map(|t| t.as_str().to_owned());
        on_pool!(self, |p| {
            sqlx::query(
                "SELECT key, ticket, recipients, subject, created_at, sent_at, next_attempt_at, attempts, last_error
                 FROM outbox WHERE ($1 IS NULL OR ticket = $1) ORDER BY id",
            )
            .bind(ticket)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok(OutboxEntry {
                    key: r.try_get("key")?,
                    ticket: r.try_get("ticket")?,
                    recipients: split_recipients(&r.try_get::<String, _>("recipients")?),
                    subject: r.try_get("subject")?,
                    created_at: from_ms(r.try_get("created_at")?),
                    sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_ms),
                    next_attempt_at: from_ms(r.try_get("next_attempt_at")?),
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
        })
    }

    /// Tickets whose next reminder or escalation is due by `now`, soonest
    /// first: the sweep touches only these (an index on `next_alert_at`), so
    /// its cost follows the number due, not the number of tickets.
    pub async fn due_tickets(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketNo>> {
        let numbers: Vec<String> = on_pool!(self, |p| {
            sqlx::query_scalar(
                "SELECT number FROM tickets WHERE next_alert_at IS NOT NULL AND next_alert_at <= $1
                 ORDER BY next_alert_at LIMIT $2",
            )
            .bind(to_ms(now))
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(numbers.iter().filter_map(|n| TicketNo::parse(n).ok()).collect())
    }

    /// The soonest planned alert of any ticket.
    pub async fn next_alert_at(&self) -> Result<Option<DateTime<Utc>>> {
        // The condition repeats the partial index's: SQLite uses the index
        // only then (else it scans every ticket: 200 ms at a million).
        let at: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar("SELECT MIN(next_alert_at) FROM tickets WHERE next_alert_at IS NOT NULL")
                .fetch_one(p)
                .await?
        });
        Ok(at.map(from_ms))
    }

    /// Mail queued but not yet accepted by the server.
    pub async fn unsent_count(&self) -> Result<i64> {
        on_pool!(self, |p| {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetch_one(p).await?)
        })
    }

    /// How many messages the intake log holds with this outcome.
    pub async fn inbound_count(&self, outcome: &str) -> Result<i64> {
        on_pool!(self, |p| {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE outcome = $1").bind(outcome).fetch_one(p).await?)
        })
    }

    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }
}

mod reports;
#[cfg(test)]
mod tests;

fn split_recipients(s: &str) -> Vec<String> {
    s.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect()
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Records a message as taken. `false` when it was taken before (same
    /// UID or same Message-ID): the caller must then do nothing.
    pub async fn claim_inbound(&mut self, r: &InboundRecord) -> Result<bool> {
        let affected = on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO inbound (mailbox, uidvalidity, uid, message_id, sender, subject, kind,
                                      ticket, outcome, reason, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(&r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .bind(&r.message_id)
            .bind(&r.sender)
            .bind(&r.subject)
            .bind(&r.kind)
            .bind(r.ticket.as_ref().map(|t| t.as_str()))
            .bind(&r.outcome)
            .bind(&r.reason)
            .bind(to_ms(r.received_at))
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(affected == 1)
    }

    /// What became of a message taken before (by UID, else by Message-ID).
    pub async fn inbound_outcome(&mut self, r: &InboundRecord) -> Result<Option<String>> {
        on_tx!(self, |c| {
            Ok(sqlx::query_scalar(
                "SELECT outcome FROM inbound
                 WHERE (mailbox = $1 AND uidvalidity = $2 AND uid = $3) OR message_id = $4
                 LIMIT 1",
            )
            .bind(&r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .bind(&r.message_id)
            .fetch_optional(&mut *c)
            .await?)
        })
    }

    /// Sets the outcome of a claimed message once its effects are known.
    pub async fn settle_inbound(
        &mut self,
        r: &InboundRecord,
        outcome: &str,
        reason: Option<&str>,
        ticket: Option<&TicketNo>,
    ) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE inbound SET outcome = $1, reason = $2, ticket = $3
                 WHERE mailbox = $4 AND uidvalidity = $5 AND uid = $6",
            )
            .bind(outcome)
            .bind(reason)
            .bind(ticket.map(|t| t.as_str()))
            .bind(&r.mailbox)
            .bind(i64::from(r.uidvalidity))
            .bind(i64::from(r.uid))
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// The next ticket number of `day`; atomic on both backends.
    pub async fn next_ticket_no(&mut self, day: NaiveDate) -> Result<TicketNo> {
        let key = day.format("%Y%m%d").to_string();
        let seq: i64 = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO ticket_counters (day, last) VALUES ($1, 1)
                 ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1
                 RETURNING last",
            )
            .bind(&key)
            .fetch_one(&mut *c)
            .await?
        });
        Ok(TicketNo::new(day, seq))
    }

    pub async fn insert_ticket(&mut self, t: &NewTicket) -> Result<()> {
        let fields = t.fields.to_string();
        on_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO tickets (number, kind, status, urgency, station, handler, subject,
                    complaint_no, category, customer_name, phone, service_order, fields,
                    source_message_id, received_at, pre_reported, major, linked_to)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
            )
            .bind(t.number.as_str())
            .bind(&t.kind)
            .bind(t.status.as_str())
            .bind(t.urgency.as_str())
            .bind(&t.station)
            .bind(&t.handler)
            .bind(&t.subject)
            .bind(&t.complaint_no)
            .bind(&t.category)
            .bind(&t.customer_name)
            .bind(&t.phone)
            .bind(&t.service_order)
            .bind(&fields)
            .bind(&t.source_message_id)
            .bind(to_ms(t.received_at))
            .bind(i64::from(t.pre_reported))
            .bind(i64::from(t.major))
            .bind(t.linked_to.as_ref().map(|l| l.as_str()))
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    pub async fn ticket(&mut self, number: &TicketNo) -> Result<Option<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1"));
        on_tx!(self, |c| {
            match sqlx::query(sql).bind(number.as_str()).fetch_optional(&mut *c).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// The tickets that exist of these numbers, in the order of their
    /// numbers (so that concurrent transactions take row locks in one order).
    pub async fn tickets(&mut self, numbers: &[TicketNo]) -> Result<Vec<Ticket>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE number IN ({}) ORDER BY number",
            placeholders(1, numbers.len())
        ));
        on_tx!(self, |c| {
            let mut query = sqlx::query(sql);
            for n in numbers {
                query = query.bind(n.as_str());
            }
            query.fetch_all(&mut *c).await?.iter().map(|r| Ok(ticket_from_row!(r))).collect()
        })
    }

    /// Writes back the mutable state of a ticket.
    pub async fn update_ticket(&mut self, t: &Ticket, next_alert_at: Option<DateTime<Utc>>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query(
                "UPDATE tickets SET status = $1, urgency = $2, station = $3, handler = $4,
                    dispatched_at = $5, reply_due = $6, escalate_at = $7, result_due = $8,
                    close_due = $9, extension_cap = $10, first_reply_at = $11, result_at = $12,
                    closed_at = $13, extended = $14, valid = $15, linked_to = $16, repeats = $17,
                    next_alert_at = $18
                 WHERE number = $19",
            )
            .bind(t.status.as_str())
            .bind(t.urgency.as_str())
            .bind(&t.station)
            .bind(&t.handler)
            .bind(opt_ms(t.dispatched_at))
            .bind(opt_ms(t.reply_due))
            .bind(opt_ms(t.escalate_at))
            .bind(opt_ms(t.result_due))
            .bind(opt_ms(t.close_due))
            .bind(opt_ms(t.extension_cap))
            .bind(opt_ms(t.first_reply_at))
            .bind(opt_ms(t.result_at))
            .bind(opt_ms(t.closed_at))
            .bind(i64::from(t.extended))
            .bind(t.valid.map(i64::from))
            .bind(t.linked_to.as_ref().map(|l| l.as_str()))
            .bind(t.repeats)
            .bind(opt_ms(next_alert_at))
            .bind(t.number.as_str())
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// When the sweep should look at each ticket again (`None`: never).
    pub async fn set_next_alerts(&mut self, next: &[(TicketNo, Option<DateTime<Utc>>)]) -> Result<()> {
        for rows in next.chunks(ROWS_PER_STATEMENT) {
            let cases: String = (0..rows.len()).map(|i| format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2)).collect();
            let sql = sqlx::AssertSqlSafe(format!(
                "UPDATE tickets SET next_alert_at = CASE number{cases} END WHERE number IN ({})",
                (0..rows.len()).map(|i| format!("${}", 2 * i + 1)).collect::<Vec<_>>().join(", ")
            ));
            on_tx!(self, |c| {
                let mut query = sqlx::query(sql);
                for (number, at) in rows {
                    query = query.bind(number.as_str()).bind(opt_ms(*at));
                }
                query.execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// The keys of every mail queued about these tickets, sent or not.
    pub async fn outbox_keys(&mut self, tickets: &[TicketNo]) -> Result<HashSet<String>> {
        if tickets.is_empty() {
            return Ok(HashSet::new());
        }
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT key FROM outbox WHERE ticket IN ({})", placeholders(1, tickets.len())));
        let keys: Vec<String> = on_tx!(self, |c| {
            let mut query = sqlx::query_scalar(sql);
            for t in tickets {
                query = query.bind(t.as_str());
            }
            query.fetch_all(&mut *c).await?
        });
        Ok(keys.into_iter().collect())
    }

    /// Queues a mail. `false` when a mail with this key was queued before.
    pub async fn enqueue(&mut self, m: &OutboxMail, now: DateTime<Utc>) -> Result<bool> {
        Ok(!self.enqueue_all(std::slice::from_ref(m), now).await?.is_empty())
    }

    /// Queues mails, a few statements for many; returns the keys of those
    /// not queued before.
    pub async fn enqueue_all(&mut self, mails: &[OutboxMail], now: DateTime<Utc>) -> Result<HashSet<String>> {
        const COLUMNS: usize = 9;
        let mut queued = HashSet::new();
        for rows in mails.chunks(ROWS_PER_STATEMENT) {
            let sql = sqlx::AssertSqlSafe(format!(
                "INSERT INTO outbox (key, ticket, message_id, envelope_from, recipients, subject, body,
                                     created_at, next_attempt_at)
                 VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key",
                value_rows(rows.len(), COLUMNS)
            ));
            let keys: Vec<String> = on_tx!(self, |c| {
                let mut query = sqlx::query_scalar(sql);
                for m in rows {
                    query = query
                        .bind(&m.key)
                        .bind(m.ticket.as_ref().map(|t| t.as_str()))
                        .bind(&m.message_id)
                        .bind(&m.envelope_from)
                        .bind(m.recipients.join(","))
                        .bind(&m.subject)
                        .bind(&m.body)
                        .bind(to_ms(now))
                        .bind(to_ms(m.not_before.max(now)));
                }
                query.fetch_all(&mut *c).await?
            });
            queued.extend(keys);
        }
        Ok(queued)
    }

    /// Withdraws queued, unsent mail whose key starts with `prefix` (a
    /// follow-up reminder for a ticket that was reopened).
    pub async fn cancel_unsent(&mut self, prefix: &str) -> Result<u64> {
        let pattern = format!("{}%", prefix.replace('%', "").replace('_', "\\_"));
        Ok(on_tx!(self, |c| {
            sqlx::query("DELETE FROM outbox WHERE key LIKE $1 ESCAPE '\\' AND sent_at IS NULL")
                .bind(&pattern)
                .execute(&mut *c)
                .await?
                .rows_affected()
        }))
    }

    pub async fn add_event(&mut self, e: &Event) -> Result<()> {
        self.add_events(std::slice::from_ref(e)).await
    }

    pub async fn add_events(&mut self, events: &[Event]) -> Result<()> {
        const COLUMNS: usize = 6;
        for rows in events.chunks(ROWS_PER_STATEMENT) {
            let sql = sqlx::AssertSqlSafe(format!(
                "INSERT INTO events (ticket, at, kind, actor, message_id, detail) VALUES {}",
                value_rows(rows.len(), COLUMNS)
            ));
            on_tx!(self, |c| {
                let mut query = sqlx::query(sql);
                for e in rows {
                    query = query
                        .bind(e.ticket.as_str())
                        .bind(to_ms(e.at))
                        .bind(&e.kind)
                        .bind(&e.actor)
                        .bind(&e.message_id)
                        .bind(&e.detail);
                }
                query.execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// Open tickets of `station` about the same service order or phone: a
    /// new complaint about them is a repeat, not a new case.
    pub async fn open_ticket_about(
        &mut self,
        station: &str,
        service_order: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Option<Ticket>> {
        // One lookup per key (a NULL key matches nothing): with an OR,
        // SQLite would walk every ticket of the station instead.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE service_order = $2 AND station = $1 AND status <> 'closed' AND kind = 'complaint'
             UNION ALL
             SELECT {TICKET_COLUMNS} FROM tickets
             WHERE phone = $3 AND station = $1 AND status <> 'closed' AND kind = 'complaint'
             ORDER BY received_at LIMIT 1"
        ));
        on_tx!(self, |c| {
            match sqlx::query(sql).bind(station).bind(service_order).bind(phone).fetch_optional(&mut *c).await? {
                Some(r) => Ok(Some(ticket_from_row!(&r))),
                None => Ok(None),
            }
        })
    }
}

// The operator's queries: `complaintd tickets`, `check-config` and the
// metrics endpoint.

/// Which tickets `Store::find_tickets` returns.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketQuery<'a> {
    /// Only this station's (its code as configured).
    pub station: Option<&'a str>,
    /// Only tickets in this state.
    pub status: Option<Status>,
    /// Only tickets with a deadline missed at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
}

/// A ticket is overdue when a milestone it still owes is past due (the same
/// rule as `Dispatcher::pending`); `$N` is the instant.
fn overdue_sql(now: &str) -> String {
    format!(
        "(status NOT IN ('closed', 'unrouted') AND dispatched_at IS NOT NULL
          AND ((first_reply_at IS NULL AND reply_due <= {now})
               OR (result_at IS NULL AND result_due <= {now}) OR close_due <= {now}))"
    )
}

impl Store {
    /// Tickets matching `q`, newest first.
    pub async fn find_tickets(&self, q: &TicketQuery<'_>) -> Result<Vec<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE ($1 IS NULL OR station = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR {})
             ORDER BY received_at DESC, number DESC",
            overdue_sql("$3")
        ));
        let station = q.station.map(str::to_owned);
        let status = q.status.map(|s| s.as_str().to_owned());
        let overdue_at = opt_ms(q.overdue_at);
        on_pool!(self, |p| {
            sqlx::query(sql)
                .bind(station)
                .bind(status)
                .bind(overdue_at)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok(ticket_from_row!(r)))
                .collect()
        })
    }

    /// The messages intake took about a ticket, oldest first.
    pub async fn inbound_of(&self, ticket: &TicketNo) -> Result<Vec<InboundRecord>> {
        on_pool!(self, |p| {
            sqlx::query(
                "SELECT mailbox, uidvalidity, uid, message_id, sender, subject, kind, outcome, reason, received_at
                 FROM inbound WHERE ticket = $1 ORDER BY received_at, id",
            )
            .bind(ticket.as_str())
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok(InboundRecord {
                    mailbox: r.try_get("mailbox")?,
                    uidvalidity: u32::try_from(r.try_get::<i64, _>("uidvalidity")?).unwrap_or_default(),
                    uid: u32::try_from(r.try_get::<i64, _>("uid")?).unwrap_or_default(),
                    message_id: r.try_get("message_id")?,
                    sender: r.try_get("sender")?,
                    subject: r.try_get("subject")?,
                    kind: r.try_get("kind")?,
                    ticket: Some(ticket.clone()),
                    outcome: r.try_get("outcome")?,
                    reason: r.try_get("reason")?,
                    received_at: from_ms(r.try_get("received_at")?),
                })
            })
            .collect()
        })
    }

    /// How many tickets are in each state (states without tickets absent).
    pub async fn status_counts(&self) -> Result<Vec<(String, i64)>> {
        on_pool!(self, |p| {
            sqlx::query("SELECT status, COUNT(*) AS n FROM tickets GROUP BY status ORDER BY status")
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                .collect()
        })
    }

    /// How many tickets have missed a deadline at `now`.
    pub async fn overdue_count(&self, now: DateTime<Utc>) -> Result<i64> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM tickets WHERE {}", overdue_sql("$1")));
        on_pool!(self, |p| Ok(sqlx::query_scalar(sql).bind(to_ms(now)).fetch_one(p).await?))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }
}

impl Tx {
    /// Reads a ticket and keeps others from changing it until this
    /// transaction ends (on SQLite the write transaction already does), so
    /// a reply and an operator's action on the same ticket cannot overwrite
    /// each other.
    pub async fn lock_ticket(&mut self, number: &TicketNo) -> Result<Option<Ticket>> {
        match self {
            Tx::Sqlite(_) => self.ticket(number).await,
            Tx::Postgres(t) => {
                let sql =
                    sqlx::AssertSqlSafe(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE number = $1 FOR UPDATE"));
                match sqlx::query(sql).bind(number.as_str()).fetch_optional(&mut **t).await? {
                    Some(r) => Ok(Some(ticket_from_row!(&r))),
                    None => Ok(None),
                }
            }
        }
    }
}
