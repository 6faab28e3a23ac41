//! Counters that must hold across restarts and instances: attempts at each
//! message on the server (poison mail), and automatic replies per recipient
//! and hour (loops). Both are single upserts on a primary key, so two
//! instances counting at once stay correct.

use std::collections::HashMap;

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
    /// Counts one more attempt at each of `uids` (committed at once, before
    /// they are fetched or parsed); returns the attempts so far, this one
    /// included. One statement: a batch costs one round trip.
    pub async fn record_attempts(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
        at: DateTime<Utc>,
    ) -> Result<HashMap<u32, u32>> {
        if uids.is_empty() {
            return Ok(HashMap::new());
        }
        let values: Vec<String> = (0..uids.len()).map(|i| format!("($1, $2, ${}, 1, $3)", i + 4)).collect();
        // Only placeholders are formatted in: the values are bound.
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO intake_attempts (mailbox, uidvalidity, uid, attempts, last_at) VALUES {}
             ON CONFLICT (mailbox, uidvalidity, uid)
             DO UPDATE SET attempts = intake_attempts.attempts + 1, last_at = excluded.last_at
             RETURNING uid, attempts",
            values.join(", ")
        ));
        let rows: Vec<(i64, i64)> = on_pool!(self, |p| {
            let mut q = sqlx::query_as(sql).bind(mailbox).bind(i64::from(uidvalidity)).bind(to_ms(at));
            for uid in uids {
                q = q.bind(i64::from(*uid));
            }
            q.fetch_all(p).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(uid, n)| Some((u32::try_from(uid).ok()?, u32::try_from(n).unwrap_or(u32::MAX))))
            .collect())
    }
}

impl Store {
    /// Takes back the attempt just counted at each of `uids`: the round
    /// failed for a reason that was not the messages' (the server refused a
    /// command, as when another instance moved them first).
    pub async fn release_attempts(&self, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        // The first attempt taken back leaves no row: the message is not one
        // "tried before" (fetched alone) either.
        let statements = [
            "DELETE FROM intake_attempts WHERE attempts <= 1 AND mailbox = ",
            "UPDATE intake_attempts SET attempts = attempts - 1 WHERE mailbox = ",
        ];
        for statement in statements {
            on_pool!(self, |p| {
                let mut q = sqlx::QueryBuilder::new(statement);
                q.push_bind(mailbox)
                    .push(" AND uidvalidity = ")
                    .push_bind(i64::from(uidvalidity))
                    .push(" AND uid IN (");
                let mut list = q.separated(", ");
                for uid in uids {
                    list.push_bind(i64::from(*uid));
                }
                q.push(")");
                q.build().execute(p).await?;
            });
        }
        Ok(())
    }
}

impl Store {
    /// Attempts made so far at the messages of `uids` that have not settled.
    pub async fn attempts_of(&self, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<HashMap<u32, u32>> {
        let (Some(low), Some(high)) = (uids.iter().min(), uids.iter().max()) else { return Ok(HashMap::new()) };
        let rows: Vec<(i64, i64)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT uid, attempts FROM intake_attempts
                 WHERE mailbox = $1 AND uidvalidity = $2 AND uid BETWEEN $3 AND $4",
            )
            .bind(mailbox)
            .bind(i64::from(uidvalidity))
            .bind(i64::from(*low))
            .bind(i64::from(*high))
            .fetch_all(p)
            .await?
        });
        let wanted: std::collections::HashSet<&u32> = uids.iter().collect();
        Ok(rows
            .into_iter()
            .filter_map(|(uid, n)| Some((u32::try_from(uid).ok()?, u32::try_from(n).unwrap_or(u32::MAX))))
            .filter(|(uid, _)| wanted.contains(uid))
            .collect())
    }
}

impl Tx {
    /// Drops a message's attempts once its outcome is settled (in the same
    /// transaction): the table holds only mail still being tried.
    pub async fn forget_attempts(&mut self, m: MessageRef<'_>) -> Result<()> {
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM intake_attempts WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3")
                .bind(m.mailbox)
                .bind(i64::from(m.uidvalidity))
                .bind(i64::from(m.uid))
                .execute(&mut *c)
                .await?;
        });
        Ok(())
    }

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
