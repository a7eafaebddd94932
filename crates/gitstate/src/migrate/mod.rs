//! Schema versions and migration chains over JSON documents.
//!
//! A [`Schema`] covers the documents whose names match a glob pattern (see
//! [`matches()`]), records a [`Version`] inside each document (a top-level key, by
//! default `version`, or a JSON Pointer) and migrates documents forward one
//! [`Step`] at a time along a single chain `v1 -> v2 -> ... -> current`.
//!
//! - [`version`]: [`Version`], integer (`3`) or semver (`"1.2.0"`) versions.
//! - [`schema`]: [`matches()`], [`SchemaBuilder`], [`Schema`], [`Outcome`] and
//!   [`find_schema`].
//! - [`step`]: [`Step`] (a Rust closure, declarative [`Op`]s, or an external
//!   command) and [`StepContext`].
//! - [`mod@file`]: [`parse_schema_file`], the declarative JSON schema file format.
//! - [`testing`]: [`run_golden`], golden tests over a directory of cases.
//!
//! Every fallible function returns [`MigrateError`]. Errors raised while
//! building a schema name the schema (and the step when there is one); errors
//! raised while migrating name the document, its version and the step.
//!
//! # Example
//!
//! ```
//! use gitstate::migrate::{Op, SchemaBuilder, Step, Version};
//! use serde_json::json;
//!
//! let schema = SchemaBuilder::new("batch", "batch/*")
//!     .current(Version::Int(2))
//!     .missing_version(Version::Int(1))
//!     .step(
//!         Version::Int(1),
//!         Version::Int(2),
//!         Step::Ops(vec![Op::Rename { from: "/items".into(), path: "/work".into() }]),
//!     )
//!     .build()?;
//! assert!(schema.covers("batch/run-42"));
//! let out = schema.migrate("batch/run-42", json!({"items": [1, 2]}))?;
//! assert_eq!(out.value, json!({"work": [1, 2], "version": 2}));
//! assert_eq!(out.steps_applied, vec![(Version::Int(1), Version::Int(2))]);
//! # Ok::<(), gitstate::migrate::MigrateError>(())
//! ```

pub mod file;
pub mod schema;
pub mod step;
pub mod testing;
pub mod version;

use std::path::PathBuf;

pub use file::parse_schema_file;
pub use schema::{ChainProblem, Outcome, Schema, SchemaBuilder, find_schema, matches};
pub use step::{Op, Step, StepContext};
pub use testing::{GoldenReport, run_golden};
pub use version::Version;

/// Errors from building schemas, reading schema files, migrating documents and
/// running golden tests.
///
/// Messages are short lowercase fragments without a trailing period, for
/// example `document batch/run-1: step 1.0.0 -> 2.0.0: ops[0] (rename): from
/// /items does not exist`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A JSON value or string is not a version.
    #[error("invalid version {value}: {reason}")]
    InvalidVersion {
        /// The value as written (compact JSON for JSON values), possibly
        /// shortened.
        value: String,
        /// Why it is not a version.
        reason: String,
    },
    /// A schema definition is invalid: empty name, bad pattern, bad version
    /// field, no current version.
    #[error("schema {schema}: {reason}")]
    InvalidSchema {
        /// The schema's name.
        schema: String,
        /// What is wrong.
        reason: String,
    },
    /// The steps of a schema do not form one chain up to the current
    /// version.
    #[error("schema {schema}: {problem}")]
    Chain {
        /// The schema's name.
        schema: String,
        /// What is wrong with the chain (boxed to keep the error small).
        problem: Box<ChainProblem>,
    },
    /// One step of a schema is invalid on its own (a malformed pointer in an
    /// op, an empty command).
    #[error("schema {schema}: step {from} -> {to}: {reason}")]
    InvalidStep {
        /// The schema's name.
        schema: String,
        /// The step's source version.
        from: Version,
        /// The step's target version.
        to: Version,
        /// What is wrong.
        reason: String,
    },
    /// A declarative schema file is malformed.
    #[error("schema file: {location}: {reason}")]
    SchemaFile {
        /// Where in the file: `schemas[0] (batch)`, `schemas[0] (batch):
        /// steps[1] (1.0.0 -> 2.0.0)`, or `top level`.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The version field of a document could not be read (returned by
    /// [`Schema::version_of`], which does not know the document's name).
    #[error("version field {field}: {reason}")]
    VersionField {
        /// The version field as a JSON Pointer.
        field: String,
        /// What is wrong: not an object, not a version, wrong version kind.
        reason: String,
    },
    /// The version field of a named document could not be read.
    #[error("document {name}: version field {field}: {reason}")]
    DocumentVersion {
        /// The document's name.
        name: String,
        /// The version field as a JSON Pointer.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A document is at a version newer than the schema's current version;
    /// it is left alone.
    #[error("document {name}: version {found} is newer than current version {current}")]
    Newer {
        /// The document's name.
        name: String,
        /// The version recorded in the document.
        found: Version,
        /// The schema's current version.
        current: Version,
    },
    /// A document is at a version that is not on the migration chain (older
    /// than the first version, or between the versions of the steps).
    #[error("document {name}: version {found} is not on the migration chain ({chain})")]
    NotOnChain {
        /// The document's name.
        name: String,
        /// The version recorded in the document.
        found: Version,
        /// The versions on the chain, as `1 -> 2 -> 3`.
        chain: String,
    },
    /// A migration step failed on a document.
    #[error("document {name}: step {from} -> {to}: {reason}")]
    StepFailed {
        /// The document's name.
        name: String,
        /// The step's source version.
        from: Version,
        /// The step's target version.
        to: Version,
        /// Why the step failed (the closure's message, the failing op, or
        /// the command and its exit status or output problem).
        reason: String,
    },
    /// A document name is covered by more than one schema.
    #[error("document {name}: covered by several schemas: {}", schemas.join(", "))]
    Ambiguous {
        /// The document's name.
        name: String,
        /// The names of the schemas whose patterns match it.
        schemas: Vec<String>,
    },
    /// A file-system operation of the golden-test runner failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operation and the system error.
        reason: String,
    },
}
