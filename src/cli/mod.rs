//! The operator's commands, each called by one subcommand of `complaintd`:
//! [`tickets`] (list, show, act), [`check_config`], [`report`].

pub mod check_config;
pub mod report;
pub mod tickets;
