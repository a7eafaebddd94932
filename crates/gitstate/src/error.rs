//! The store's error type: every variant names the document, path or revision involved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lock::Holder;
use crate::name::InvalidName;
use crate::patch::PatchError;

/// A boxed error from a dependency (gix) or a user callback, kept out of the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the store.
///
/// Variants a caller may want to act on are separate: [`Error::Locked`] and
/// [`Error::Conflict`] can be retried, [`Error::NotFound`] is often expected,
/// [`Error::OutsideEdit`] needs a human.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or decoding git data failed.
    #[error("git: {what}")]
    Git {
        /// What was being read.
        what: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The repository holds something gitstate cannot read as a store.
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What is wrong, naming the object, ref or path.
        what: String,
    },
    /// An external tool gitstate relies on (git, for packing) is missing or failed.
    #[error("{reason}")]
    Tool {
        /// The tool.
        tool: &'static str,
        /// What went wrong, and what needed it.
        reason: String,
    },
    /// A setting (option, environment variable, or the store's git config) has an invalid
    /// value.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The option, variable or config key, with its value.
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// The directory is not a gitstate store.
    #[error("{} is not a gitstate store: {reason}", path.display())]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A document name breaks the naming rules.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// Input is not valid JSON.
    #[error("invalid JSON for {what}")]
    InvalidJson {
        /// The document or input it was meant for.
        what: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A value nests deeper than [`crate::patch::MAX_DEPTH`] levels: it could be stored but
    /// never parsed back.
    #[error("document {name} nests deeper than {} levels", crate::patch::MAX_DEPTH)]
    TooDeep {
        /// The document.
        name: String,
    },
    /// A value does not convert to or from the requested Rust type.
    #[error("document {name} does not match the requested type")]
    Type {
        /// The document.
        name: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// The document does not exist (at the revision read).
    #[error("no document {name}{}", at.as_ref().map(|r| format!(" at {r}")).unwrap_or_default())]
    NotFound {
        /// The document.
        name: String,
        /// The revision, when not the current state.
        at: Option<String>,
    },
    /// A revision does not resolve to a commit.
    #[error("unknown revision {rev:?}: {reason}")]
    Revision {
        /// The revision as given.
        rev: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// A JSON Pointer is malformed or does not resolve.
    #[error("pointer {pointer:?} in {name}: {reason}")]
    Pointer {
        /// The document.
        name: String,
        /// The pointer.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// A patch does not apply; nothing was written.
    #[error("patch does not apply to {name}")]
    Patch {
        /// The document.
        name: String,
        /// Which operation failed and why.
        #[source]
        source: PatchError,
    },
    /// A schema or migration failed; nothing was written.
    #[error("{what}: {source}")]
    Migrate {
        /// The document or schema file.
        what: String,
        /// The schema, version and step involved.
        source: Box<crate::migrate::MigrateError>,
    },
    /// An `update` callback failed; nothing was written.
    #[error("update of {name} failed")]
    Callback {
        /// The document.
        name: String,
        /// The callback's error.
        #[source]
        source: BoxError,
    },
    /// The store lock was not free within the timeout.
    #[error("store is locked{}; waited {:.1}s", holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default(), waited.as_secs_f64())]
    Locked {
        /// Who holds it, when the lock file says.
        holder: Option<Holder>,
        /// How long we waited.
        waited: Duration,
    },
    /// The branch moved underneath the write (another program wrote without the lock).
    #[error(
        "conflict: branch {branch} moved from {expected} to {actual} during the write; nothing was written, retry"
    )]
    Conflict {
        /// The branch ref.
        branch: String,
        /// The commit the write was based on.
        expected: String,
        /// The commit found.
        actual: String,
    },
    /// A document file was edited outside gitstate; writing it would discard that edit.
    #[error("document {name} was edited outside gitstate ({}); record the edit with `gitstate commit` or discard it with `gitstate restore {name}` first", path.display())]
    OutsideEdit {
        /// The document.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// The store contains something gitstate refuses to touch, such as a symlink.
    #[error("unsafe path {}: {reason}", path.display())]
    Unsafe {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

/// Attach the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn io_context(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}

/// Attach a description to a git error.
pub(crate) trait GitContext<T> {
    fn git_context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: Into<BoxError>> GitContext<T> for Result<T, E> {
    fn git_context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::Git {
            what: what(),
            source: e.into(),
        })
    }
}
