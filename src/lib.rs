//! complaintd runs an after-sales network's complaint desk by email.
//!
//! Layout:
//! - [`config`]: typed settings from one TOML file.
//! - [`ticket`]: ticket numbers, urgencies, actions.
//! - [`intake`]: what an incoming message is (classify, read the form or reply).
//! - [`calendar`]: working time, holidays, make-up days; business-time arithmetic.
//! - [`deadline`]: a ticket's deadlines and its reminder/escalation ladder.

pub mod calendar;
pub mod config;
pub mod deadline;
pub mod intake;
pub mod ticket;
