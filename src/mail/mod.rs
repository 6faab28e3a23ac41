//! Mail transport: IMAP in, SMTP out, and composing what we send.

pub mod compose;
pub mod imap;
pub mod smtp;
