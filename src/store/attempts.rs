//! Counters that must hold across restarts and instances: attempts at each
//! message on the server (poison mail), with the hold of the instance trying
//! it, and automatic replies per recipient and hour (loops). Both are single
//! upserts on a primary key, so two instances counting at once stay correct.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::rows::{from_ms, to_ms};
use super::{Result, Store, Tx};

/// A message on the server, as its attempts are counted.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// One running intake, as it holds the messages it is trying: random per
/// process, so a restarted daemon is a new taker (it cannot tell its old
/// self's hold from a live instance's, and waits for it to run out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taker(i64);

impl Taker {
    /// 0 is nobody (rows from before holds existed).
    pub fn random() -> Self {
        Self(fastrand::i64(1..))
    }
}

/// A claim on the messages of a batch while `taker` tries them.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    pub taker: Taker,
    /// When the attempt starts.
    pub at: DateTime<Utc>,
    /// When others may take the messages, should `taker` never settle them.
    pub until: DateTime<Utc>,
}

/// A message tried before and not settled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempted {
    pub attempts: u32,
    pub taker: Taker,
    pub held_until: DateTime<Utc>,
}

impl Attempted {
    /// Whether another instance is trying it now.
    pub fn held_by_another(&self, me: Taker, now: DateTime<Utc>) -> bool {
        self.taker != me && self.held_until > now
    }
}

/// `(uid, n)` rows as a map, out-of-range values clamped, not trusted.
fn by_uid(rows: Vec<(i64, i64)>) -> HashMap<u32, u32> {
    rows.into_iter()
        .filter_map(|(uid, n)| Some((u32::try_from(uid).ok()?, u32::try_from(n).unwrap_or(u32::MAX))))
        .collect()
}

impl Store {
    /// Counts one more attempt at each of `uids` and holds them for
    /// `hold.taker` (committed at once, before they are fetched or parsed);
    /// returns the attempts so far, this one included, of the messages it
    /// took. A message another taker holds is left out: that instance's
    /// attempt is under way, and counting a second would make good mail
    /// poison when two instances work one mailbox. One statement: a batch
    /// costs one round trip, and two instances racing for a row are
    /// serialised by its primary key.
    pub async fn record_attempts(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
        hold: Hold,
    ) -> Result<HashMap<u32, u32>> {
        if uids.is_empty() {
            return Ok(HashMap::new());
        }
        let values: Vec<String> = (0..uids.len()).map(|i| format!("($1, $2, ${}, 1, $3, $4, $5)", i + 6)).collect();
        // Only placeholders are formatted in: the values are bound.
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO intake_attempts (mailbox, uidvalidity, uid, attempts, last_at, taker, held_until) VALUES {}
             ON CONFLICT (mailbox, uidvalidity, uid)
             DO UPDATE SET attempts = intake_attempts.attempts + 1, last_at = excluded.last_at,
                           taker = excluded.taker, held_until = excluded.held_until
             WHERE intake_attempts.taker = excluded.taker OR intake_attempts.held_until <= excluded.last_at
             RETURNING uid, attempts",
            values.join(", ")
        ));
        let rows: Vec<(i64, i64)> = on_pool!(self, |p| {
            let mut q = sqlx::query_as(sql)
                .bind(mailbox)
                .bind(i64::from(uidvalidity))
                .bind(to_ms(hold.at))
                .bind(hold.taker.0)
                .bind(to_ms(hold.until));
            for uid in uids {
                q = q.bind(i64::from(*uid));
            }
            q.fetch_all(p).await?
        });
        Ok(by_uid(rows))
    }

    /// Takes back the attempt `taker` just counted at each of `uids`, and
    /// its hold: the round failed for a reason that was not the messages'
    /// (the server refused a command, as when another instance moved them
    /// first).
    pub async fn release_attempts(&self, mailbox: &str, uidvalidity: u32, uids: &[u32], taker: Taker) -> Result<()> {
        // The first attempt taken back leaves no row: the message is not one
        // "tried before" (fetched alone) either.
        let statements = [
            "DELETE FROM intake_attempts WHERE attempts <= 1 AND",
            "UPDATE intake_attempts SET attempts = attempts - 1, held_until = 0 WHERE",
        ];
        for statement in statements {
            self.on_held(statement, None, taker, mailbox, uidvalidity, uids).await?;
        }
        Ok(())
    }

    /// Keeps holding `uids` for `taker` until `until`: it is still at work
    /// on them (a hold is short, so a crashed taker's runs out soon).
    pub async fn renew_holds(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
        taker: Taker,
        until: DateTime<Utc>,
    ) -> Result<()> {
        let statement = "UPDATE intake_attempts SET held_until = ";
        self.on_held(statement, Some(to_ms(until)), taker, mailbox, uidvalidity, uids).await
    }

    /// Runs `statement` on the rows of `uids` that `taker` holds: it ends in
    /// `WHERE`, or in a placeholder for `value` (a WHERE then follows).
    async fn on_held(
        &self,
        statement: &'static str,
        value: Option<i64>,
        taker: Taker,
        mailbox: &str,
        uidvalidity: u32,
        uids: &[u32],
    ) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        on_pool!(self, |p| {
            let mut q = sqlx::QueryBuilder::new(statement);
            if let Some(value) = value {
                q.push_bind(value).push(" WHERE");
            }
            q.push(" taker = ")
                .push_bind(taker.0)
                .push(" AND mailbox = ")
                .push_bind(mailbox)
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
        Ok(())
    }

    /// Lets go of every message `taker` still holds (its attempts stay
    /// counted): it is stopping, and whoever comes next need not wait for
    /// the holds to run out.
    pub async fn release_holds(&self, taker: Taker) -> Result<()> {
        on_pool!(self, |p| {
            sqlx::query("UPDATE intake_attempts SET held_until = 0 WHERE taker = $1").bind(taker.0).execute(p).await?;
        });
        Ok(())
    }
}

impl Store {
    /// The messages of `uids` tried before and not settled yet.
    pub async fn attempts_of(&self, mailbox: &str, uidvalidity: u32, uids: &[u32]) -> Result<HashMap<u32, Attempted>> {
        let (Some(low), Some(high)) = (uids.iter().min(), uids.iter().max()) else { return Ok(HashMap::new()) };
        let rows: Vec<(i64, i64, i64, i64)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT uid, attempts, taker, held_until FROM intake_attempts
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
            .filter_map(|(uid, attempts, taker, held_until)| {
                let uid = u32::try_from(uid).ok().filter(|u| wanted.contains(u))?;
                let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
                Some((uid, Attempted { attempts, taker: Taker(taker), held_until: from_ms(held_until) }))
            })
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
