//! Counters that must hold across restarts and instances: attempts at each
//! message on the server (poison mail), and automatic replies per recipient
//! and hour (loops). Both are single upserts on a primary key, so two
//! instances counting at once stay correct.

use chrono::{DateTime, Utc};

use super::rows::to_ms;
use super::{Result, Store, Tx};

/// A message on the server, as its attempts are counted.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
}

impl Store {
    /// Counts one more attempt at a message (committed at once, before the
    /// message is fetched or parsed); returns the attempts so far, this one
    /// included.
    pub async fn record_attempt(&self, m: MessageRef<'_>, at: DateTime<Utc>) -> Result<u32> {
        let attempts: i64 = on_pool!(self, |p| {
            sqlx::query_scalar(
                "INSERT INTO intake_attempts (mailbox, uidvalidity, uid, attempts, last_at)
                 VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (mailbox, uidvalidity, uid)
                 DO UPDATE SET attempts = intake_attempts.attempts + 1, last_at = excluded.last_at
                 RETURNING attempts",
            )
            .bind(m.mailbox)
            .bind(i64::from(m.uidvalidity))
            .bind(i64::from(m.uid))
            .bind(to_ms(at))
            .fetch_one(p)
            .await?
        });
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }
}

impl Tx {
    /// Counts an automatic reply to `recipient` in the hour of `at`, unless
    /// `cap` were already sent in that hour: `false` means the cap is hit
    /// and the reply must not be sent.
    pub async fn count_reply(&mut self, recipient: &str, at: DateTime<Utc>, cap: u32) -> Result<bool> {
        let hour = at.timestamp().div_euclid(3600);
        let counted: Option<i64> = on_tx!(self, |c| {
            sqlx::query_scalar(
                "INSERT INTO reply_counts (recipient, hour, sent) VALUES ($1, $2, 1)
                 ON CONFLICT (recipient, hour)
                 DO UPDATE SET sent = reply_counts.sent + 1 WHERE reply_counts.sent < $3
                 RETURNING sent",
            )
            .bind(recipient.to_lowercase())
            .bind(hour)
            .bind(i64::from(cap))
            .fetch_optional(&mut *c)
            .await?
        });
        Ok(counted.is_some() && cap > 0)
    }
}
