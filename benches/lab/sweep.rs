//! The deadline sweep at scale: the real `SweepWorker::try_step` over a
//! database of N tickets (a tenth open), with the same numbers due at every
//! size, on SQLite and on the lab's PostgreSQL.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row as _;

use complaintd::app::App;
use complaintd::clock::Clock;
use complaintd::config::Settings;
use complaintd::jobs::Step as _;
use complaintd::store::{Store, to_ms};
use complaintd::ticket::Urgency;

use crate::rig::{Dist, Lab, Network, write_config};

/// Rounds with tickets due, per number due: each round's tickets are fresh.
const ROUNDS: usize = 5;
/// Rounds with nothing due.
const EMPTY_ROUNDS: usize = 30;
/// Tickets due per round: a typical sweep, and a burst (a morning after
/// alerts piled up outside working time; the worker takes 500 at most).
pub const DUE: [usize; 2] = [10, 100];
/// Wednesday 2026-11-18 11:00 in Shanghai: a working instant.
const NOW: &str = "2026-11-18T03:00:00Z";
/// The due tickets were dispatched the day before, 10:00 local (expedited):
/// at NOW the reply is overdue (escalation) and the result reminder is due.
const DISPATCHED: &str = "2026-11-17T02:00:00Z";

#[derive(Debug, Serialize)]
pub struct SweepRun {
    pub backend: &'static str,
    pub tickets: usize,
    pub open: usize,
    /// Bulk-loading the tickets, seconds.
    pub load_secs: f64,
    /// A round with nothing due: `try_step` plus the next-alert query the
    /// worker makes before it sleeps (every ≤ 5 s), milliseconds.
    pub empty_ms: Dist,
    /// The due-tickets query alone, nothing due, milliseconds.
    pub due_query_ms: Dist,
    /// The next-alert query as the store makes it (`MIN(next_alert_at)`), milliseconds.
    pub next_alert_ms: Dist,
    /// The same with `WHERE next_alert_at IS NOT NULL`, which lets SQLite
    /// use the partial index (a proposal for the store), milliseconds.
    pub next_alert_indexed_ms: Dist,
    /// Rounds with tickets due: read, ladder, render, enqueue, commit.
    pub due: Vec<DueRounds>,
    /// How the database answers the due-tickets query.
    pub plan: String,
}

#[derive(Debug, Serialize)]
pub struct DueRounds {
    /// Tickets due in each round.
    pub due: usize,
    /// One round, milliseconds.
    pub ms: Dist,
    /// Mails queued per round.
    pub mails: f64,
}

/// Columns and expressions of the bulk insert; `i` is the row's index.
struct Dialect {
    name: &'static str,
    /// A row source `s(i)` of indexes `$1 ≤ i < $2`.
    series: &'static str,
    number: &'static str,
    phone: &'static str,
}

const SQLITE: Dialect = Dialect {
    name: "sqlite",
    series: "WITH RECURSIVE s(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < $2)",
    number: "printf('TS-%s-%07d', strftime('%Y%m%d', ($3 + i * $4) / 1000, 'unixepoch'), i + 1)",
    phone: "printf('139%08d', i)",
};

const POSTGRES: Dialect = Dialect {
    name: "postgres",
    series: "WITH s(i) AS (SELECT generate_series($1::bigint, $2::bigint - 1))",
    number: "'TS-' || to_char(to_timestamp(($3 + i * $4) / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD') || '-' || lpad((i + 1)::text, 7, '0')",
    phone: "'139' || lpad(i::text, 8, '0')",
};

impl Dialect {
    /// Inserts tickets `$1 ≤ i < $2`: received `$3 + i·$4` ms, deadlines at
    /// the offsets `$5…$9` ms after it, every `$10`-th open, the others
    /// closed; an open ticket's next alert at `$11 + ((i − $1) / $12)` s.
    fn insert(&self) -> String {
        format!(
            "{series}
             INSERT INTO tickets (number, kind, status, urgency, station, handler, subject, complaint_no,
                 category, customer_name, phone, service_order, fields, received_at, dispatched_at,
                 reply_due, escalate_at, result_due, close_due, extension_cap, first_reply_at, result_at,
                 closed_at, valid, next_alert_at)
             SELECT {number}, 'complaint', CASE WHEN i % $10 = 0 THEN 'open' ELSE 'closed' END, $13,
                 CASE i % 5 WHEN 0 THEN 'BJ01' WHEN 1 THEN 'SH02' WHEN 2 THEN 'GZ03' WHEN 3 THEN 'CD04' ELSE 'HK05' END,
                 $14, '投诉转出-马丽', 'HC' || i, '服务类-服务质量-维修周期', '马丽', {phone}, 'SO-' || i, $15,
                 $3 + i * $4, $3 + i * $4, $3 + i * $4 + $5, $3 + i * $4 + $6, $3 + i * $4 + $7,
                 $3 + i * $4 + $8, $3 + i * $4 + $9,
                 CASE WHEN i % $10 = 0 THEN NULL ELSE $3 + i * $4 + 3600000 END,
                 CASE WHEN i % $10 = 0 THEN NULL ELSE $3 + i * $4 + 86400000 END,
                 CASE WHEN i % $10 = 0 THEN NULL ELSE $3 + i * $4 + 172800000 END,
                 CASE WHEN i % $10 = 0 THEN NULL ELSE 1 END,
                 CASE WHEN i % $10 = 0 THEN $11 + ((i - $1) / $12) * 1000 ELSE NULL END
             FROM s",
            series = self.series,
            number = self.number,
            phone = self.phone,
        )
    }
}

/// One batch of generated tickets.
struct Batch {
    /// Indexes `from ≤ i < to`.
    from: i64,
    to: i64,
    /// Received (and dispatched) at `base + i·step` ms.
    base: i64,
    step: i64,
    /// Deadline offsets after dispatch, ms: reply, escalate, result, close, cap.
    offsets: [i64; 5],
    /// Every `open_every`-th ticket is open.
    open_every: i64,
    /// First next-alert instant (ms) and how many tickets share each second.
    alert_at: i64,
    per_second: i64,
    urgency: Urgency,
}

async fn insert(store: &Store, sql: &str, b: &Batch, handler: &str, fields: &str) -> anyhow::Result<()> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    macro_rules! bind_all {
        ($q:expr) => {
            $q.bind(b.from)
                .bind(b.to)
                .bind(b.base)
                .bind(b.step)
                .bind(b.offsets[0])
                .bind(b.offsets[1])
                .bind(b.offsets[2])
                .bind(b.offsets[3])
                .bind(b.offsets[4])
                .bind(b.open_every)
                .bind(b.alert_at)
                .bind(b.per_second)
                .bind(b.urgency.as_str())
                .bind(handler)
                .bind(fields)
        };
    }
    match store {
        Store::Sqlite(p) => {
            bind_all!(sqlx::query(sql)).execute(p).await?;
        }
        Store::Postgres(p) => {
            bind_all!(sqlx::query(sql)).execute(p).await?;
        }
    }
    Ok(())
}

const DUE_QUERY: &str = "SELECT number FROM tickets WHERE next_alert_at IS NOT NULL AND next_alert_at <= $1 \
                         ORDER BY next_alert_at LIMIT $2";

/// The next-alert query with the condition of the partial index spelt out.
const NEXT_ALERT_INDEXED: &str = "SELECT MIN(next_alert_at) FROM tickets WHERE next_alert_at IS NOT NULL";

async fn next_alert_indexed(store: &Store) -> anyhow::Result<Option<i64>> {
    Ok(match store {
        Store::Sqlite(p) => sqlx::query_scalar(NEXT_ALERT_INDEXED).fetch_one(p).await?,
        Store::Postgres(p) => sqlx::query_scalar(NEXT_ALERT_INDEXED).fetch_one(p).await?,
    })
}

/// Milliseconds of `rounds` runs of `f`.
async fn timed<F: Future<Output = anyhow::Result<()>>>(
    rounds: usize,
    mut f: impl FnMut() -> F,
) -> anyhow::Result<Dist> {
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Dist::of(&ms))
}

/// How the database plans the sweep's query (it should use the partial index).
async fn plan(store: &Store, now: i64) -> anyhow::Result<String> {
    let lines: Vec<String> = match store {
        Store::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {DUE_QUERY}")))
            .bind(now)
            .bind(500_i64)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("detail"))
            .collect::<Result<_, _>>()?,
        Store::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {DUE_QUERY}")))
            .bind(now)
            .bind(500_i64)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?,
    };
    Ok(lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join("; "))
}

async fn outbox_rows(store: &Store) -> anyhow::Result<i64> {
    Ok(match store {
        Store::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await?,
        Store::Postgres(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await?,
    })
}

/// Measures one backend at one size on a fresh database.
async fn measure(settings: &Settings, dialect: &Dialect, tickets: usize, fields: &str) -> anyhow::Result<SweepRun> {
    let now: DateTime<Utc> = NOW.parse()?;
    let dispatched: DateTime<Utc> = DISPATCHED.parse()?;
    let clock = Clock::manual(now - Duration::seconds(1));
    let app = App::build(settings.clone(), clock.clone()).await?;
    let store = app.store.clone();
    let handler = settings.desk.handlers.first().context("a handler")?.address().to_owned();
    let day = 86_400_000;
    let due_total: usize = DUE.iter().sum::<usize>() * ROUNDS;
    let background = tickets.checked_sub(due_total).context("too few tickets")? as i64;
    let sql = dialect.insert();

    let started = Instant::now();
    // The bulk: a tenth open with their next alert a day or more away, the
    // rest closed (no next alert); ten seconds apart, ending before NOW.
    insert(
        &store,
        &sql,
        &Batch {
            from: 0,
            to: background,
            base: to_ms(dispatched) - background * 10_000,
            step: 10_000,
            offsets: [2 * day, 3 * day, 2 * day, 3 * day, 5 * day],
            open_every: 10,
            alert_at: to_ms(now) + day,
            per_second: 1,
            urgency: Urgency::Normal,
        },
        &handler,
        fields,
    )
    .await
    .context("bulk load")?;
    // The due ones: real deadlines; round r of each size comes due at its own second.
    let d =
        complaintd::deadline::compute(&app.desk.load().calendar, &settings.deadlines, dispatched, Urgency::Expedited);
    let after = |t: DateTime<Utc>| to_ms(t) - to_ms(dispatched);
    let offsets =
        [after(d.reply_due), after(d.escalate_at), after(d.result_due), after(d.close_due), after(d.extension_cap)];
    let mut from = background;
    let mut first_second = Vec::new();
    for (k, &due) in DUE.iter().enumerate() {
        let second = (k * ROUNDS) as i64;
        let to = from + (due * ROUNDS) as i64;
        let batch = Batch {
            from,
            to,
            base: to_ms(dispatched),
            step: 0,
            offsets,
            open_every: 1,
            alert_at: to_ms(now) + second * 1000,
            per_second: due as i64,
            urgency: Urgency::Expedited,
        };
        insert(&store, &sql, &batch, &handler, fields).await.context("due tickets")?;
        first_second.push(second);
        from = to;
    }
    if let Store::Postgres(p) = &store {
        // Autovacuum would analyze a table this size soon anyway; do it now
        // so every run plans alike.
        sqlx::query("ANALYZE tickets").execute(p).await?;
    }
    let load_secs = started.elapsed().as_secs_f64();

    let worker = app.sweep_worker();
    // The closures hand out futures, so they take references, not borrows of themselves.
    let (w, st, ck) = (&worker, &store, &clock);
    let empty_ms = timed(EMPTY_ROUNDS, move || async move {
        let n = w.try_step().await?;
        st.next_alert_at().await?;
        ensure!(n == 0, "{n} tickets due before NOW");
        Ok(())
    })
    .await?;
    let due_query_ms =
        timed(EMPTY_ROUNDS, move || async move { Ok(st.due_tickets(ck.now(), 500).await.map(drop)?) }).await?;
    let next_alert_ms = timed(EMPTY_ROUNDS, move || async move { Ok(st.next_alert_at().await.map(drop)?) }).await?;
    let next_alert_indexed_ms =
        timed(EMPTY_ROUNDS, move || async move { next_alert_indexed(st).await.map(drop) }).await?;

    let mut due_rounds = Vec::new();
    for (&due, &second) in DUE.iter().zip(&first_second) {
        let before = outbox_rows(&store).await?;
        let mut r = 0;
        let ms = timed(ROUNDS, move || {
            ck.set(now + Duration::seconds(second + r));
            r += 1;
            async move {
                let n = w.try_step().await?;
                ensure!(n == due, "{n} tickets due, expected {due}");
                Ok(())
            }
        })
        .await?;
        let mails = (outbox_rows(&store).await? - before) as f64 / ROUNDS as f64;
        due_rounds.push(DueRounds { due, ms, mails });
    }
    let plan = plan(&store, to_ms(now)).await?;
    store.close().await;
    Ok(SweepRun {
        backend: dialect.name,
        tickets,
        open: background as usize / 10 + due_total,
        load_secs,
        empty_ms,
        due_query_ms,
        next_alert_ms,
        next_alert_indexed_ms,
        due: due_rounds,
        plan,
    })
}

/// The fields of a realistic complaint, as intake stores them.
fn sample_fields(settings: &Settings) -> anyhow::Result<String> {
    let raw = Network { prefix: "x".into() }.complaint(1, crate::rig::STATIONS[0]);
    Ok(serde_json::to_string(&complaintd::intake::parse(&raw, settings).fields)?)
}

pub async fn run(lab: &Lab, sizes: &[usize], work: &Path) -> anyhow::Result<Vec<SweepRun>> {
    let net = Network::new("s");
    let dir = work.join(&net.prefix);
    let config = write_config(lab, &net, &dir)?;
    let mut settings = Settings::load(&config)?;
    let fields = sample_fields(&settings)?;
    let admin = sqlx::PgPool::connect(&lab.pg_url).await.context("lab PostgreSQL (scripts/lab up)")?;
    let mut out = Vec::new();
    for &n in sizes {
        let file = dir.join(format!("sweep-{n}.db"));
        settings.database.url = format!("sqlite://{}", file.display());
        out.push(measure(&settings, &SQLITE, n, &fields).await?);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }

        let db = format!("{}_{n}", net.prefix);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&admin).await?;
        settings.database.url = lab.pg_database(&db);
        let run = measure(&settings, &POSTGRES, n, &fields).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}"))).execute(&admin).await?;
        out.push(run?);
    }
    admin.close().await;
    Ok(out)
}
