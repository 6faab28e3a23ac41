//! The calendar_years table: the fingerprint of each year of each calendar
//! as deadlines were last computed, so a change of holiday data can be
//! told at start and the deadlines it moves repaired, once.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use sqlx::Row as _;

use super::rows::{TICKET_COLUMNS, from_ms};
use super::{ROWS_PER_STATEMENT, Result, Tx};
use crate::ticket::Ticket;

/// Fingerprints by calendar scope (`desk`, `station:CODE`), then by year.
pub type Fingerprints = BTreeMap<String, BTreeMap<i32, u64>>;

impl Tx {
    /// Reads the stored fingerprints, keeping every other instance from
    /// reading them until this transaction ends (on SQLite the write
    /// transaction already does): two instances starting together repair
    /// once, the second finding the first's fingerprints.
    pub async fn lock_calendar_years(&mut self) -> Result<Fingerprints> {
        if let Tx::Postgres(t) = self {
            sqlx::query("LOCK TABLE calendar_years IN EXCLUSIVE MODE").execute(&mut **t).await?;
        }
        let rows: Vec<(String, i64, i64)> = on_tx!(self, |c| {
            // INTEGER is 4 bytes on PostgreSQL: widened for one decoding on both.
            sqlx::query("SELECT scope, CAST(year AS BIGINT) AS year, fingerprint FROM calendar_years")
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("scope")?, r.try_get::<i64, _>("year")?, r.try_get("fingerprint")?)))
                .collect::<Result<_>>()?
        });
        let mut out = Fingerprints::new();
        for (scope, year, fp) in rows {
            // Stored as the same 64 bits in a signed column.
            out.entry(scope).or_default().insert(year as i32, fp as u64);
        }
        Ok(out)
    }

    /// Replaces the stored fingerprints with `all`.
    pub async fn store_calendar_years(&mut self, all: &Fingerprints) -> Result<()> {
        let rows: Vec<(&str, i32, i64)> =
            all.iter().flat_map(|(s, years)| years.iter().map(move |(y, f)| (s.as_str(), *y, *f as i64))).collect();
        on_tx!(self, |c| {
            sqlx::query("DELETE FROM calendar_years").execute(&mut *c).await?;
        });
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            on_tx!(self, |c| {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO calendar_years (scope, year, fingerprint) ");
                q.push_values(chunk, |mut row, (scope, year, fp)| {
                    row.push_bind(*scope).push_bind(*year).push_bind(*fp);
                });
                q.build().execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// Every dispatched ticket not closed, locked (on PostgreSQL) in number
    /// order: the deadlines a calendar change may move.
    pub async fn lock_open_tickets(&mut self) -> Result<Vec<Ticket>> {
        let lock = if matches!(self, Tx::Postgres(_)) { " FOR UPDATE" } else { "" };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE status <> 'closed' AND dispatched_at IS NOT NULL ORDER BY number{lock}"
        ));
        on_tx!(self, |c| tickets_from_rows!(sqlx::query(sql).fetch_all(&mut *c).await?))
    }

    /// When each ticket's customer complained again, oldest first, by
    /// ticket number: repeats pull the reply deadline in, and a repair must
    /// do the same.
    pub async fn repeat_times(&mut self) -> Result<HashMap<String, Vec<DateTime<Utc>>>> {
        let rows: Vec<(String, i64)> = on_tx!(self, |c| {
            sqlx::query_as("SELECT ticket, at FROM events WHERE kind = 'repeat' ORDER BY at, id")
                .fetch_all(&mut *c)
                .await?
        });
        let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for (ticket, at) in rows {
            out.entry(ticket).or_default().push(from_ms(at));
        }
        Ok(out)
    }
}
