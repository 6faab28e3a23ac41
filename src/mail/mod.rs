//! Mail transport only: IMAP in (with IDLE), SMTP out.

pub mod imap;
pub mod smtp;
