//! The operator's commands, each called by one subcommand of `complaintd`:
//! [`tickets`] (list, show, act), [`check_config`], [`report`], [`calendar`]
//! (import an official arrangement, show a year), [`hash_password`] (for the
//! board's users).

pub mod calendar;
mod check_auth;
pub mod check_config;
pub mod hash_password;
mod level;
pub mod report;
pub mod tickets;
