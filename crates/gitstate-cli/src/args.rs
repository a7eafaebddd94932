//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Keep program state as JSON documents in a plain git repository: one durable commit per
/// write.
#[derive(Debug, Parser)]
#[command(name = "gitstate", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The store directory [default: $GITSTATE_DIR, else the current directory]
    #[arg(long, global = true, env = "GITSTATE_DIR", value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Machine-readable output (JSON) on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// full: every write is synced before it is acknowledged; fast: no fsync (not power-loss safe)
    #[arg(long, global = true, env = "GITSTATE_DURABILITY", value_enum, default_value_t = DurabilityArg::Full)]
    pub durability: DurabilityArg,
    /// Seconds a write waits for the store lock
    #[arg(
        long,
        global = true,
        env = "GITSTATE_LOCK_TIMEOUT",
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub lock_timeout: f64,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes: 0 ok, 1 error, 2 usage, 3 not found (document, revision or store), \
4 invalid input (name, JSON, patch, pointer), 5 store locked, 6 conflict or outside edit, \
7 update command failed, 8 verify found problems, 9 migration failed";

#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Validate a schema file and store it (one commit)
    Put {
        /// The schema file (JSON); `-` for stdin
        file: PathBuf,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Print the stored schema file
    Show,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Patch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Who besides the owner may use a new store (git's `core.sharedRepository` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SharedArg {
    /// Members of the store directory's group read and write
    Group,
    /// As group, and everyone else reads
    #[value(alias = "world", alias = "everybody")]
    All,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    Full,
    Fast,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a store (on an existing store: say so and change nothing)
    Init {
        /// Where [default: --store]
        dir: Option<PathBuf>,
        /// Share the store with the directory's group (read and write; `all`: everyone reads
        /// too), recorded as git's core.sharedRepository. Without it the store is private
        #[arg(
            long,
            value_enum,
            value_name = "WHO",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "group"
        )]
        shared: Option<SharedArg>,
    },
    /// Store a document: the JSON from the argument, or from stdin when omitted or `-`
    Set {
        name: String,
        /// The document's JSON text; `-` or omitted: read stdin
        #[arg(value_name = "JSON", allow_hyphen_values = true)]
        value: Option<String>,
        /// Commit message
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Print a document, or one value of it
    Get {
        name: String,
        /// Read at a git revision (commit id, HEAD~N, …)
        #[arg(long, value_name = "REV")]
        at: Option<String>,
        /// Only the value at this RFC 6901 JSON Pointer
        #[arg(long, value_name = "PTR", allow_hyphen_values = true)]
        pointer: Option<String>,
        /// Migrated to its schema's current version, in memory (nothing is written)
        #[arg(long, conflicts_with = "at")]
        migrated: bool,
    },
    /// Delete a document
    Rm {
        name: String,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// List documents
    Ls {
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// Patch a document from stdin: RFC 7396 merge patch, or RFC 6902 with --json-patch
    Patch {
        name: String,
        /// The patch is an RFC 6902 JSON Patch
        #[arg(long)]
        json_patch: bool,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Read-modify-write: run CMD under the lock with the document on stdin, store its stdout
    Update {
        name: String,
        #[arg(short, long)]
        message: Option<String>,
        /// The command and its arguments (after `--`)
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Show history, newest first
    Log {
        /// Only commits that changed these documents
        names: Vec<String>,
        /// Only commits that changed the value at this JSON Pointer (one document)
        #[arg(long, value_name = "PTR", allow_hyphen_values = true)]
        pointer: Option<String>,
        /// At most N entries
        #[arg(short = 'n', long = "max-count", value_name = "N")]
        max_count: Option<usize>,
        /// Only commits at or after this time (RFC 3339, or a local date / date-time)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only commits at or before this time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Only commits of this operation (set, update, patch, delete, rollback, …, external)
        #[arg(long, value_name = "OP")]
        op: Option<String>,
    },
    /// Show a commit: metadata, trailers and what it changed, document by document
    Show {
        /// The revision [default: HEAD]
        rev: Option<String>,
    },
    /// Compare states: none = working tree against HEAD; FROM = FROM against HEAD; FROM TO
    Diff {
        /// Revisions, then optionally `--` and document names
        #[arg(value_name = "REV")]
        revs: Vec<String>,
        /// Only these documents
        #[arg(last = true, value_name = "NAME")]
        names: Vec<String>,
        /// text: unified diff of the stored JSON; patch: RFC 6902 JSON Patch per document
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
        /// Documents and counts of changed values instead
        #[arg(long)]
        stat: bool,
        /// Colour: auto (on a terminal), always, never
        #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
        color: ColorArg,
    },
    /// For every value of a document, the commit that last set it
    Blame {
        name: String,
        /// Only the value at this JSON Pointer
        #[arg(long, value_name = "PTR", allow_hyphen_values = true)]
        pointer: Option<String>,
    },
    /// One new commit making documents (all when none named) what they were at REV
    Rollback {
        rev: String,
        names: Vec<String>,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// One new commit restoring the state before the last N commits (undo of an undo redoes)
    Undo {
        #[arg(default_value_t = 1)]
        n: usize,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Name the current state (an annotated tag); labels are revisions everywhere
    Checkpoint {
        label: String,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// List checkpoints
    Checkpoints,
    /// Record edits made by hand to document files as one commit
    Commit {
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Throw away edits made by hand: rewrite document files (all when none named) from HEAD
    Restore { names: Vec<String> },
    /// Migrate documents that are behind their schema, in one commit (all or nothing)
    Migrate {
        /// Only these documents [default: every covered document]
        names: Vec<String>,
        /// Print the diff it would commit; write nothing
        #[arg(long, conflicts_with = "check")]
        dry_run: bool,
        /// Replay every historical snapshot through the current schemas; write nothing
        #[arg(long)]
        check: bool,
        #[arg(short, long)]
        message: Option<String>,
    },
    /// The store's schema file (the document _gitstate/schemas)
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Pack the store's objects with git (safe beside writers; never prunes recent objects)
    Gc,
    /// Show the lock holder, working-tree drift and leftovers of crashed writers
    Status,
    /// Check every reachable object and every document; non-zero exit on any problem
    Verify,
    /// Repair what a crash left: stale locks, temporary files, a lagging working tree
    Recover,
}
