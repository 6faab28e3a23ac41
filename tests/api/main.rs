//! Integration tests against the real lab (scripts/lab up): Dovecot over
//! IMAP with IDLE, Postfix over SMTP, SQLite or PostgreSQL
//! (`COMPLAINTD_TEST_DB=postgres`). No mocks.

mod auth;
mod auth_machine;
mod board;
mod browser;
mod calendar;
mod directory;
mod faults;
mod forgery;
mod helpers;
mod hostile;
mod hygiene;
mod instances;
mod lifecycle;
mod moves;
mod operator;
mod outages;
mod poison;
mod prereports;
mod reload;
mod repeats;
mod reports;
mod service;
mod walking_skeleton;
