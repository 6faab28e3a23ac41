//! The outbox: every mail the daemon sends, queued in the transaction that
//! caused it under a unique key, claimed with a lease, marked sent once the
//! server has accepted it, or failed for good.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::rows::{from_ms, split_recipients, to_ms};
use super::{ROWS_PER_STATEMENT, Result, Store, Tx};
use crate::ticket::{TicketNo, Urgency};

/// Which due mail the outbox sends first: an urgent ticket's mail does not
/// queue behind a backlog's. Stored as a small integer, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Urgent,
    Expedited,
    Normal,
}

impl Priority {
    /// Every priority, in the order the claim takes them.
    pub const ALL: [Self; 3] = [Self::Urgent, Self::Expedited, Self::Normal];

    fn as_i16(self) -> i16 {
        match self {
            Self::Urgent => 0,
            Self::Expedited => 1,
            Self::Normal => 2,
        }
    }
}

/// A ticket's mail (forwards, alerts, escalations) goes at its urgency.
impl From<Urgency> for Priority {
    fn from(u: Urgency) -> Self {
        match u {
            Urgency::Urgent => Self::Urgent,
            Urgency::Expedited => Self::Expedited,
            Urgency::Normal => Self::Normal,
        }
    }
}

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    /// Unique per effect (see `notify::key`): a second enqueue is a no-op.
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
    /// The Message-ID of the mail whose attachments are added when it is
    /// sent (read back from the Handled folder; see `jobs::originals`).
    pub originals: Option<String>,
    /// Due mail of a higher priority is claimed first.
    pub priority: Priority,
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
    /// The Message-ID of the mail whose attachments are added at sending.
    pub originals: Option<String>,
}

/// Where a queued mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for its time, or for its next attempt.
    Queued,
    /// Claimed by an instance, being sent.
    Sending,
    /// Accepted by the server.
    Sent,
    /// Given up on (a permanent refusal, or too many attempts).
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// A queued, sent or failed outbox row, for the CLI and the tests.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub key: String,
    pub ticket: Option<String>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub state: OutboxState,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When it is (next) tried: its not-before time until the first attempt.
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// What to do with a mail whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this instant; `in_doubt` when the server may have
    /// accepted it all the same.
    At { when: DateTime<Utc>, in_doubt: bool },
    /// Never again: it is failed for good.
    GiveUp,
}

/// Unsent and not failed: what the claim and the wake-up time look at.
/// The condition repeats the partial index's, so both backends use it.
const PENDING: &str = "sent_at IS NULL AND failed_at IS NULL";

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
            originals: r.try_get("originals")?,
        })
    }};
}

impl Store {
    /// Claims up to `limit` outbox rows due at `now`, the most urgent
    /// first, then earliest due first, for `lease`; another instance will
    /// not take them until the lease runs out. A row whose earlier lease ran
    /// out was being sent by an instance that died: it comes back `in_doubt`
    /// (SET reads the row's old values).
    pub async fn claim_outbox(&self, now: DateTime<Utc>, lease: Duration, limit: i64) -> Result<Vec<PendingMail>> {
        let mut claimed = Vec::new();
        // One priority at a time: each is a range of the index, where one
        // ORDER BY priority would walk past every mail of the higher
        // priorities queued for later.
        for priority in Priority::ALL {
            let left = limit - claimed.len() as i64;
            if left <= 0 {
                break;
            }
            claimed.extend(self.claim_priority(priority, now, lease, left).await?);
        }
        Ok(claimed)
    }

    async fn claim_priority(
        &self,
        priority: Priority,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<PendingMail>> {
        let until = to_ms(now) + lease.as_millis() as i64;
        let now = to_ms(now);
        // PostgreSQL instances skip each other's rows instead of waiting.
        let lock = if matches!(self, Store::Postgres(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1,
                               in_doubt = CASE WHEN claimed_until IS NULL THEN in_doubt ELSE 1 END
                 WHERE id IN (SELECT id FROM outbox
                              WHERE {PENDING} AND priority = $4 AND next_attempt_at <= $2
                                AND (claimed_until IS NULL OR claimed_until <= $2)
                              ORDER BY next_attempt_at LIMIT $3{lock})
                 RETURNING id, key, message_id, envelope_from, recipients, body, attempts, in_doubt, created_at,
                           originals, next_attempt_at"
        ));
        let mut rows: Vec<(i64, PendingMail)> = on_pool!(self, |p| {
            sqlx::query(sql)
                .bind(until)
                .bind(now)
                .bind(limit)
                .bind(priority.as_i16())
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| -> Result<(i64, PendingMail)> {
                    let mail: Result<PendingMail> = pending_from_row!(&r);
                    Ok((r.try_get("next_attempt_at")?, mail?))
                })
                .collect::<Result<Vec<_>>>()?
        });
        // RETURNING keeps no order.
        rows.sort_by_key(|(due, m)| (*due, m.id));
        Ok(rows.into_iter().map(|(_, m)| m).collect())
    }

    /// Records that the server accepted the mails: one write for a round.
    pub async fn mark_sent(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        on_pool!(self, |p| {
            let mut q = sqlx::QueryBuilder::new("UPDATE outbox SET sent_at = ");
            q.push_bind(to_ms(now));
            q.push(", claimed_until = NULL, last_error = NULL, in_doubt = 0 WHERE id IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(p).await?;
        });
        Ok(())
    }

    /// Records a failed attempt, and what comes next.
    pub async fn mark_failed(&self, id: i64, error: &str, retry: Retry, now: DateTime<Utc>) -> Result<()> {
        let (next, in_doubt, failed_at) = match retry {
            Retry::At { when, in_doubt } => (Some(to_ms(when)), in_doubt, None),
            Retry::GiveUp => (None, false, Some(to_ms(now))),
        };
        on_pool!(self, |p| {
            sqlx::query(
                "UPDATE outbox SET claimed_until = NULL, last_error = $1,
                                   next_attempt_at = COALESCE($2, next_attempt_at), in_doubt = $3, failed_at = $4
                     WHERE id = $5",
            )
            .bind(error)
            .bind(next)
            .bind(i64::from(in_doubt))
            .bind(failed_at)
            .bind(id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// When the next pending mail becomes due (for the outbox worker's sleep).
    pub async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT MIN(COALESCE(claimed_until, next_attempt_at)) FROM outbox WHERE {PENDING}"
        ));
        let due: Option<i64> = on_pool!(self, |p| sqlx::query_scalar(sql).fetch_one(p).await?);
        Ok(due.map(from_ms))
    }

    /// Mail queued but neither accepted by the server nor given up on.
    pub async fn unsent_count(&self) -> Result<i64> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM outbox WHERE {PENDING}"));
        on_pool!(self, |p| Ok(sqlx::query_scalar(sql).fetch_one(p).await?))
    }

    /// Outbox rows, optionally of one ticket, oldest first.
    pub async fn outbox(&self, ticket: Option<&TicketNo>) -> Result<Vec<OutboxEntry>> {
        // Two statements, not `$1 IS NULL OR ticket = $1`: with the OR
        // neither backend uses the index, and one ticket's page read the
        // whole outbox.
        let filter = if ticket.is_some() { "ticket = $1" } else { "$1 IS NULL" };
        let ticket = ticket.map(|t| t.as_str().to_owned());
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT key, ticket, recipients, subject, created_at, sent_at, failed_at, claimed_until,
                    next_attempt_at, attempts, last_error
             FROM outbox WHERE {filter} ORDER BY id"
        ));
        on_pool!(self, |p| {
            sqlx::query(sql)
                .bind(ticket)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| {
                    let sent_at = r.try_get::<Option<i64>, _>("sent_at")?.map(from_ms);
                    let state = if sent_at.is_some() {
                        OutboxState::Sent
                    } else if r.try_get::<Option<i64>, _>("failed_at")?.is_some() {
                        OutboxState::Failed
                    } else if r.try_get::<Option<i64>, _>("claimed_until")?.is_some() {
                        OutboxState::Sending
                    } else {
                        OutboxState::Queued
                    };
                    Ok(OutboxEntry {
                        key: r.try_get("key")?,
                        ticket: r.try_get("ticket")?,
                        recipients: split_recipients(&r.try_get::<String, _>("recipients")?),
                        subject: r.try_get("subject")?,
                        state,
                        created_at: from_ms(r.try_get("created_at")?),
                        sent_at,
                        next_attempt_at: from_ms(r.try_get("next_attempt_at")?),
                        attempts: r.try_get("attempts")?,
                        last_error: r.try_get("last_error")?,
                    })
                })
                .collect()
        })
    }
}

impl Tx {
    /// The keys of every mail queued about these tickets, sent or not.
    pub async fn outbox_keys(&mut self, tickets: &[TicketNo]) -> Result<HashSet<String>> {
        if tickets.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<String> = on_tx!(self, |c| {
            let mut q = sqlx::QueryBuilder::new("SELECT key FROM outbox WHERE ticket IN (");
            let mut list = q.separated(", ");
            for t in tickets {
                list.push_bind(t.as_str());
            }
            q.push(")");
            q.build_query_scalar().fetch_all(&mut *c).await?
        });
        Ok(keys.into_iter().collect())
    }

    /// The mails about `ticket` the server accepted, as (Message-ID,
    /// recipients): what a bounce about the ticket must quote to be believed.
    pub async fn sent_about(&mut self, ticket: &TicketNo) -> Result<Vec<(String, Vec<String>)>> {
        let rows: Vec<(String, String)> = on_tx!(self, |c| {
            sqlx::query_as("SELECT message_id, recipients FROM outbox WHERE ticket = $1 AND sent_at IS NOT NULL")
                .bind(ticket.as_str())
                .fetch_all(&mut *c)
                .await?
        });
        Ok(rows.into_iter().map(|(id, to)| (id, split_recipients(&to))).collect())
    }

    /// Queues a mail. `false` when a mail with this key was queued before.
    pub async fn enqueue(&mut self, m: &OutboxMail, now: DateTime<Utc>) -> Result<bool> {
        Ok(!self.enqueue_all(std::slice::from_ref(m), now).await?.is_empty())
    }

    /// Queues mails, a few statements for many; returns the keys of those
    /// not queued before.
    pub async fn enqueue_all(&mut self, mails: &[OutboxMail], now: DateTime<Utc>) -> Result<HashSet<String>> {
        let mut queued = HashSet::new();
        for rows in mails.chunks(ROWS_PER_STATEMENT) {
            let keys: Vec<String> = on_tx!(self, |c| {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO outbox (key, ticket, message_id, envelope_from, recipients, subject, body,
                                         created_at, next_attempt_at, originals, priority) ",
                );
                q.push_values(rows, |mut row, m| {
                    row.push_bind(&m.key)
                        .push_bind(m.ticket.as_ref().map(|t| t.as_str()))
                        .push_bind(&m.message_id)
                        .push_bind(&m.envelope_from)
                        .push_bind(m.recipients.join(","))
                        .push_bind(&m.subject)
                        .push_bind(&m.body)
                        .push_bind(to_ms(now))
                        .push_bind(to_ms(m.not_before.max(now)))
                        .push_bind(&m.originals)
                        .push_bind(m.priority.as_i16());
                });
                q.push(" ON CONFLICT (key) DO NOTHING RETURNING key");
                q.build_query_scalar().fetch_all(&mut *c).await?
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
}
