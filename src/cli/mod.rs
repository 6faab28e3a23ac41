//! The operator's commands, each called by one subcommand of `complaintd`:
//! [`tickets`] (list, show, act), [`check_config`], [`report`], [`calendar`]
//! (import an official arrangement, show a year).

pub mod calendar;
pub mod check_config;
pub mod report;
pub mod tickets;
