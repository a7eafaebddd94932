//! Errors of the command line and their documented exit codes.

use gitstate::Error;

/// A failed command: the message printed as `error: …`, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<&'static str>,
    pub code: u8,
}

pub const GENERAL: u8 = 1;
pub const NOT_FOUND: u8 = 3;
pub const INVALID: u8 = 4;
pub const LOCKED: u8 = 5;
pub const CONFLICT: u8 = 6;
pub const UPDATE_FAILED: u8 = 7;
pub const CHECK_FAILED: u8 = 8;
pub const MIGRATION_FAILED: u8 = 9;

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            hint: None,
            code,
        }
    }
}

/// The error and its causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let (code, hint) = match &err {
            Error::NotFound { .. } | Error::Revision { .. } => (NOT_FOUND, None),
            Error::NotAStore { .. } => (
                NOT_FOUND,
                Some(
                    "create a store with `gitstate init DIR`, or point --store / GITSTATE_DIR at one",
                ),
            ),
            Error::InvalidName(_)
            | Error::InvalidJson { .. }
            | Error::Type { .. }
            | Error::Pointer { .. }
            | Error::Patch { .. }
            | Error::Config { .. }
            | Error::TooDeep { .. } => (INVALID, None),
            Error::Locked { .. } => (LOCKED, Some("retry later, or raise --lock-timeout")),
            Error::Conflict { .. } => (CONFLICT, Some("retry the write")),
            Error::OutsideEdit { .. } => (CONFLICT, None),
            Error::Callback { .. } => (UPDATE_FAILED, None),
            Error::Migrate { .. } => (MIGRATION_FAILED, None),
            _ => (GENERAL, None),
        };
        Failure {
            message: chain(&err),
            hint,
            code,
        }
    }
}
