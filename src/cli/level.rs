//! How bad a finding of `check-config` is: shared by its checks.

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The daemon would not start, or would fail at work.
    Error,
    /// Works, but the operator should know.
    Warning,
    /// A `--connect` check that passed.
    Ok,
}
