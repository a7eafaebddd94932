//! gitstate keeps the state of programs — JSON documents — in a plain git repository, so that
//! state can be audited, rolled back and migrated like code.
//!
//! Every write is atomic, durable and exactly one git commit; a crash or power cut at any
//! moment leaves the store at the last acknowledged write (or the one in flight). Many
//! processes can share a store: a file lock serializes writers, readers never wait.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Progress { done: u32, total: u32 }
//!
//! # fn main() -> Result<(), gitstate::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! let (store, _) = gitstate::Store::init(dir.path().join("state"), Default::default())?;
//! store.set("batch/run-42", &Progress { done: 0, total: 10 })?;
//! store.update("batch/run-42", |p: Option<Progress>| {
//!     let p = p.expect("exists");
//!     Progress { done: p.done + 1, ..p }
//! })?;
//! let now: Option<Progress> = store.get("batch/run-42")?;
//! assert_eq!(now, Some(Progress { done: 1, total: 10 }));
//!
//! // Several documents, one commit:
//! let mut tx = store.transaction();
//! tx.set("prefs", &serde_json::json!({"theme": "dark"}))?;
//! tx.delete("batch/run-42")?;
//! tx.message("finish run 42");
//! tx.commit()?;
//!
//! let log = store.log(&Default::default())?;
//! assert_eq!(log[0].message, "finish run 42");
//! assert_eq!(log.len(), 4); // init, set, update, transaction
//! # Ok(()) }
//! ```
//!
//! Use [`Store`] for everything; [`Snapshot`] is a consistent read-only view of one commit
//! ([`Store::snapshot`], [`Store::snapshot_at`]); [`Transaction`] stages edits to several
//! documents. See `docs/design.md` in the repository for the write protocol and its crash
//! guarantees.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// The migration guide's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/migrations.md")]
struct MigrationGuideDoctests;

mod cache;
mod canonical;
mod check;
mod checkpoint;
mod crashpoint;
pub mod diff;
mod durable;
mod error;
mod history;
mod identity;
mod lock;
mod log;
mod maintenance;
mod message;
pub mod migrate;
mod migration;
mod name;
mod objects;
mod outside;
pub mod patch;
mod permissions;
mod pool;
mod refs;
mod restore;
mod revision;
mod snapshot;
mod store;
mod transaction;
mod worktree;

pub use canonical::{canonicalize as canonicalize_json, parse as parse_json, to_canonical_bytes};
pub use check::{Drift, Status};
pub use checkpoint::Checkpoint;
pub use crashpoint::{CRASH_ENV, CRASH_POINTS};
pub use durable::{Durability, SyncMethod};
pub use error::{BoxError, Error};
pub use gix::ObjectId;
pub use gix::date::Time;
pub use history::{BlameLine, ChangeKind, DocChange, Shown};
pub use identity::{AUTHOR_ENV, DEFAULT_AUTHOR, TIME_ENV, parse_time};
pub use lock::{Holder, LockState};
pub use log::{LogEntry, LogOptions};
pub use maintenance::GcOutcome;
pub use message::{DOC_TRAILER, EXTERNAL_OP, OP_TRAILER, TARGET_TRAILER};
pub use migration::{
    CheckFailure, MIGRATED_TRAILER, Migrated, MigrationOutcome, OldVersionWrites, SCHEMA_DOC,
    SCHEMA_TRAILER,
};
pub use name::{DocName, InvalidName, MAX_NAME_LEN, MAX_SEGMENT_LEN};
pub use permissions::Sharing;
pub use refs::BRANCH;
pub use revision::parse_point_in_time;
pub use snapshot::Snapshot;
pub use store::{InitOutcome, Options, Store};
pub use transaction::{Transaction, WriteOutcome};
