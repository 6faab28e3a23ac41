//! The operator's commands, one module each.

pub mod hash_password;
