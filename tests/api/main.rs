//! Integration tests against the real lab (scripts/lab up): Dovecot over
//! IMAP with IDLE, Postfix over SMTP, SQLite or PostgreSQL
//! (`COMPLAINTD_TEST_DB=postgres`). No mocks.

mod faults;
mod helpers;
mod lifecycle;
mod operator;
mod walking_skeleton;
