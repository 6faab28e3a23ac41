//! complaintd runs an after-sales network's complaint desk by email.
//!
//! Layout:
//! - [`config`]: typed settings from one TOML file.
//! - [`ticket`]: ticket numbers, urgencies, states, actions.
//! - [`intake`]: what an incoming message is (classify, read the form or reply). Pure.
//! - [`calendar`]: working time, holidays, make-up days; business-time arithmetic.
//! - [`deadline`]: a ticket's deadlines and its reminder/escalation ladder.
//! - [`dispatch`]: what the desk does with a message: tickets, timeline, outgoing mail,
//!   all in the caller's transaction.
//! - [`templates`]: operator-editable mail templates, checked at start-up.
//! - [`mail`]: IMAP (with IDLE) in, SMTP out, composing messages.
//! - [`report`]: the monthly assessment and the weekly digest, from tickets. Pure.
//! - [`store`]: SQLite or PostgreSQL; idempotency by unique constraints.
//! - [`jobs`]: the workers (intake, outbox, sweep, reports), each a `try_step` loop.
//! - [`clock`]: injected time.
//! - [`app`]: builds everything from the settings and runs the workers.
//! - [`metrics`]: counters, and the local `/metrics` and `/health` endpoint.
//! - [`preflight`]: `complaintd check-config`, each finding naming file and key.
//! - [`console`]: the operator's `complaintd tickets …` (list, show, actions).

pub mod app;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod console;
pub mod deadline;
pub mod dispatch;
pub mod intake;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod preflight;
pub mod report;
pub mod store;
pub mod templates;
pub mod ticket;
