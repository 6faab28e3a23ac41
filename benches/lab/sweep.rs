//! The deadline sweep at scale: the real `SweepWorker::try_step` over a
//! database of N tickets (a tenth open), with the same number due at every
//! size, on SQLite and on the lab's PostgreSQL.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row as _;

use complaintd::app::App;
use complaintd::clock::Clock;
use complaintd::config::Settings;
use complaintd::store::{Store, to_ms};
use complaintd::ticket::Urgency;

use crate::rig::{Dist, Lab, Network, write_config};

/// Rounds with tickets due, per size: each round's tickets are fresh.
const ROUNDS: usize = 5;
/// Rounds with nothing due.
const EMPTY_ROUNDS: usize = 30;
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
    /// Tickets due in each measured round.
    pub due: usize,
    /// Bulk-loading the tickets, seconds.
    pub load_secs: f64,
    /// A round with nothing due (the query, plus the next-alert query the
    /// worker makes before it sleeps), milliseconds.
    pub empty_ms: Dist,
    /// A round with `due` tickets due: read, ladder, render, enqueue, commit,
    /// milliseconds.
    pub due_ms: Dist,
    /// Mails queued per due round.
    pub mails_per_round: f64,
    /// How the database answers the due-tickets query.
    pub plan: String,
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
async fn measure(
    settings: &Settings,
    dialect: &Dialect,
    tickets: usize,
    due: usize,
    fields: &str,
) -> anyhow::Result<SweepRun> {
    let now: DateTime<Utc> = NOW.parse()?;
    let dispatched: DateTime<Utc> = DISPATCHED.parse()?;
    let clock = Clock::manual(now - Duration::seconds(1));
    let app = App::build(settings.clone(), clock.clone()).await?;
    let store = app.store.clone();
    let handler = settings.desk.handlers.first().context("a handler")?.clone();
    let day = 86_400_000;
    let background = (tickets - due * ROUNDS) as i64;
    ensure!(background > 0, "too few tickets for {due} due × {ROUNDS} rounds");
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
    // The due ones: real deadlines, `due` of them coming due each second from NOW.
    let d =
        complaintd::deadline::compute(&app.dispatcher.calendar, &settings.deadlines, dispatched, Urgency::Expedited);
    let after = |t: DateTime<Utc>| to_ms(t) - to_ms(dispatched);
    insert(
        &store,
        &sql,
        &Batch {
            from: background,
            to: tickets as i64,
            base: to_ms(dispatched),
            step: 0,
            offsets: [
                after(d.reply_due),
                after(d.escalate_at),
                after(d.result_due),
                after(d.close_due),
                after(d.extension_cap),
            ],
            open_every: 1,
            alert_at: to_ms(now),
            per_second: due as i64,
            urgency: Urgency::Expedited,
        },
        &handler,
        fields,
    )
    .await
    .context("due tickets")?;
    if let Store::Postgres(p) = &store {
        // Autovacuum would analyze a table this size soon anyway; do it now
        // so every run plans alike.
        sqlx::query("ANALYZE tickets").execute(p).await?;
    }
    let load_secs = started.elapsed().as_secs_f64();

    let worker = app.sweep_worker(app.outbox_wake.clone());
    let mut empty = Vec::new();
    for _ in 0..EMPTY_ROUNDS {
        let t = Instant::now();
        let n = worker.try_step().await?;
        store.next_alert_at().await?;
        empty.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(n == 0, "{n} tickets due before NOW");
    }
    let mut due_ms = Vec::new();
    for r in 0..ROUNDS {
        clock.set(now + Duration::seconds(r as i64));
        let t = Instant::now();
        let n = worker.try_step().await?;
        due_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if n != due {
            bail!("round {r}: {n} tickets due, expected {due}");
        }
    }
    let mails = outbox_rows(&store).await? as f64 / ROUNDS as f64;
    let plan = plan(&store, to_ms(now)).await?;
    store.close().await;
    Ok(SweepRun {
        backend: dialect.name,
        tickets,
        open: background as usize / 10 + due * ROUNDS,
        due,
        load_secs,
        empty_ms: Dist::of(&empty),
        due_ms: Dist::of(&due_ms),
        mails_per_round: mails,
        plan,
    })
}

/// The fields of a realistic complaint, as intake stores them.
fn sample_fields(settings: &Settings) -> anyhow::Result<String> {
    let raw = Network { prefix: "x".into() }.complaint(1, crate::rig::STATIONS[0]);
    Ok(serde_json::to_string(&complaintd::intake::parse(&raw, settings).fields)?)
}

pub async fn run(lab: &Lab, sizes: &[usize], due: usize, work: &Path) -> anyhow::Result<Vec<SweepRun>> {
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
        out.push(measure(&settings, &SQLITE, n, due, &fields).await?);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }

        let db = format!("{}_{n}", net.prefix);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&admin).await?;
        settings.database.url = lab.pg_database(&db);
        let run = measure(&settings, &POSTGRES, n, due, &fields).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}"))).execute(&admin).await?;
        out.push(run?);
    }
    admin.close().await;
    Ok(out)
}
