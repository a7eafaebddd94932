//! Named crash points, for tests that prove crash consistency step by step.
//!
//! When the environment variable `GITSTATE_CRASH_AT` names a point (e.g. `after-barrier`),
//! the process aborts there — like a SIGKILL at exactly that step. Unset, a point costs one
//! check of a value read once.

use std::sync::OnceLock;

/// The environment variable that names the crash point.
pub const CRASH_ENV: &str = "GITSTATE_CRASH_AT";

/// Every crash point, in the order a write passes them.
pub const CRASH_POINTS: &[&str] = &[
    "after-lock",
    "after-object",
    "after-objects",
    "after-ref-lock",
    "after-barrier",
    "after-rename",
    "after-worktree-file",
    "after-worktree",
    "after-index",
    "during-recovery",
];

/// Abort here if `GITSTATE_CRASH_AT` names this point.
pub(crate) fn crash_point(name: &str) {
    static CHOSEN: OnceLock<Option<String>> = OnceLock::new();
    if CHOSEN
        .get_or_init(|| std::env::var(CRASH_ENV).ok())
        .as_deref()
        == Some(name)
    {
        std::process::abort();
    }
}
