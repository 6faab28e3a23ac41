//! Deadlines of a ticket, counted in business time, and its reminder ladder.

use serde::Deserialize;

/// The `[deadlines]` section of the config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeadlinePolicy {}
