//! The desk's decisions, on a temporary SQLite file: each kind of message,
//! each reply action and the permission rules, in seconds and without the lab.
