//! complaintd runs an after-sales network's complaint desk by email.
//!
//! # Layout
//!
//! Each line may import only the lines below it (and the modules on its own
//! line do not import each other); there are no cycles.
//!
//! 1. [`app`]: the composition root: builds the daemon and runs its workers.
//!    [`cli`]: the operator's commands (`tickets`, `check-config`, `report`,
//!    `calendar`, `hash-password`). [`systemd`]: readiness, watchdog, stopping.
//! 2. [`board`]: the desk board's web pages (axum, read-only).
//!    [`setup`]: what start-up loads from the settings: calendar, templates
//!    (checked), the desk, the database, secrets.
//! 3. [`jobs`]: the four workers (intake, outbox, sweep, reports), each a
//!    `Step` run by one loop.
//! 4. [`metrics`]: counters with typed labels, health, and the `/metrics` and
//!    `/health` endpoint (axum).
//! 5. [`desk`]: what the desk does with a message, one file per kind:
//!    **`desk/reply.rs` decides what a station's (or handler's) reply does**;
//!    complaints, pre-reports, machine mail, operator actions, alert mail.
//! 6. [`notify`]: what the desk mails: a `Notice` becomes an outbox row.
//!    **`notify/mod.rs` builds every mail** from the templates
//!    (`notify/templates.rs`), typed contexts (`notify/context.rs`) and outbox
//!    keys (`notify/key.rs`).
//! 7. [`report`]: the monthly assessment and weekly digest, from tickets. Pure.
//! 8. [`store`]: SQLite or PostgreSQL, split by table; idempotency by unique
//!    constraints. [`mail`]: transports only, IMAP (with IDLE) in and SMTP out.
//! 9. [`intake`]: what an incoming message is (classify, read the form or
//!    reply). Pure.
//! 10. [`config`]: typed settings from one TOML file.
//! 11. [`deadline`]: deadlines, the alert ladder, which alerts are due. Pure.
//! 12. [`calendar`]: working time, holidays, make-up days. Pure.
//! 13. [`ticket`]: ticket numbers, kinds, states and their transitions.
//!     [`words`]: the words replies are read by (built in, extended by `[replies]`).
//!     [`clock`]: injected time. [`printable`]: text made safe to print.

pub mod app;
pub mod auth;
pub mod board;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod desk;
pub mod intake;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod printable;
pub mod report;
pub mod setup;
pub mod store;
pub mod systemd;
pub mod ticket;
pub mod words;
