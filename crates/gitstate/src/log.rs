//! History: the commits of the branch, newest first (following first parents), optionally
//! limited to documents, to one value inside a document, to a time range or an operation.

use gix::ObjectId;
use gix::bstr::ByteSlice;
use serde_json::Value;

use crate::error::{Error, GitContext};
use crate::message;
use crate::name::DocName;
use crate::patch;
use crate::refs;
use crate::snapshot;
use crate::store::Store;

/// One commit as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    /// Full commit id.
    pub commit: String,
    /// First parent's id, if any.
    pub parent: Option<String>,
    /// Commit time, RFC 3339 in the commit's own offset.
    pub time: String,
    /// Author as `Name <email>`.
    pub author: String,
    /// The `Gitstate-Op` trailer, or `external` for commits made without gitstate.
    pub op: String,
    /// The message without trailers.
    pub message: String,
    /// The documents the commit touched (its `Gitstate-Doc` trailers).
    pub names: Vec<String>,
    /// Every trailer of the message, in order.
    pub trailers: Vec<(String, String)>,
}

/// What to list; the default lists every commit.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LogOptions {
    /// Only commits that changed one of these documents (compared with the first parent).
    pub names: Vec<DocName>,
    /// Only commits that changed the value at this JSON Pointer inside the (single) document
    /// of `names`.
    pub pointer: Option<String>,
    /// At most this many entries.
    pub limit: Option<usize>,
    /// Only commits made at or after this time; the walk stops at the first older commit.
    pub since: Option<gix::date::Time>,
    /// Only commits made at or before this time.
    pub until: Option<gix::date::Time>,
    /// Only commits with this op (`set`, `update`, …, `external`).
    pub op: Option<String>,
}

/// The parts of a commit the log needs.
pub(crate) struct CommitInfo {
    pub(crate) tree: ObjectId,
    pub(crate) parent: Option<ObjectId>,
    pub(crate) time: gix::date::Time,
    pub(crate) author: String,
    pub(crate) message: String,
}

/// Read and decode commit `id`.
pub(crate) fn read_commit(repo: &gix::Repository, id: ObjectId) -> Result<CommitInfo, Error> {
    let commit = crate::objects::find(repo, id, gix::objs::Kind::Commit)?.into_commit();
    let decoded = commit
        .decode()
        .git_context(|| format!("decode commit {id}"))?;
    let author = decoded
        .author()
        .git_context(|| format!("decode author of {id}"))?;
    let time = decoded
        .committer()
        .git_context(|| format!("decode committer of {id}"))?
        .time()
        .git_context(|| format!("decode time of {id}"))?;
    Ok(CommitInfo {
        tree: decoded.tree(),
        parent: decoded.parents().next(),
        time,
        author: format!("{} <{}>", author.name, author.email),
        message: decoded.message.to_str_lossy().into_owned(),
    })
}

impl CommitInfo {
    pub(crate) fn entry(&self, id: ObjectId) -> LogEntry {
        let parsed = message::parse(&self.message);
        LogEntry {
            commit: id.to_string(),
            parent: self.parent.map(|p| p.to_string()),
            time: rfc3339(self.time),
            author: self.author.clone(),
            op: parsed.op,
            message: parsed.text,
            names: parsed.names,
            trailers: parsed.trailers,
        }
    }
}

impl Store {
    /// The branch's history, newest first, following first parents.
    ///
    /// # Errors
    /// [`Error::Pointer`] for a malformed pointer or a pointer without exactly one document;
    /// unreadable commits or trees.
    pub fn log(&self, options: &LogOptions) -> Result<Vec<LogEntry>, Error> {
        let repo = self.repo();
        if let Some(ptr) = &options.pointer {
            if options.names.len() != 1 {
                return Err(Error::Pointer {
                    name: options
                        .names
                        .iter()
                        .map(DocName::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    pointer: ptr.clone(),
                    reason: "a pointer needs exactly one document".into(),
                });
            }
            patch::pointer_get(&Value::Null, ptr).map_err(|e| Error::Pointer {
                name: options.names[0].to_string(),
                pointer: ptr.clone(),
                reason: e.to_string(),
            })?;
        }
        let paths: Vec<String> = options.names.iter().map(DocName::rela_path).collect();
        let limit = options.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut next = refs::read_branch(&repo)?;
        let mut cached: Option<(ObjectId, CommitInfo)> = None;
        let mut blobs_here: Option<Vec<Option<ObjectId>>> = None;
        while let Some(id) = next {
            if out.len() >= limit {
                break;
            }
            let info = match cached.take() {
                Some((cid, info)) if cid == id => info,
                _ => read_commit(&repo, id)?,
            };
            if options.since.is_some_and(|s| info.time.seconds < s.seconds) {
                break;
            }
            let mut include = options.until.is_none_or(|u| info.time.seconds <= u.seconds);
            if !paths.is_empty() {
                // gitstate's own commits name what they changed in trailers; only commits
                // made by other programs need their trees compared with the parent's.
                let parsed = message::parse(&info.message);
                let trusted = parsed.op != message::EXTERNAL_OP && options.pointer.is_none();
                let changed = if trusted {
                    blobs_here = None;
                    options
                        .names
                        .iter()
                        .any(|n| parsed.names.iter().any(|t| t == n.as_str()))
                } else {
                    let here = match blobs_here.take() {
                        Some(b) => b,
                        None => blobs(&repo, Some(info.tree), &paths)?,
                    };
                    let parent_info = match info.parent {
                        Some(p) => Some(read_commit(&repo, p)?),
                        None => None,
                    };
                    let before = blobs(&repo, parent_info.as_ref().map(|p| p.tree), &paths)?;
                    let mut changed = here != before;
                    if changed && let Some(ptr) = &options.pointer {
                        let now = pointer_value(&repo, here[0], ptr)?;
                        let then = pointer_value(&repo, before[0], ptr)?;
                        changed = match (&now, &then) {
                            (Some(a), Some(b)) => !patch::json_equal(a, b),
                            (None, None) => false,
                            _ => true,
                        };
                    }
                    blobs_here = Some(before);
                    if let (Some(p), Some(pi)) = (info.parent, parent_info) {
                        cached = Some((p, pi));
                    }
                    changed
                };
                include &= changed;
            }
            if include {
                let entry = info.entry(id);
                if options.op.as_ref().is_none_or(|op| *op == entry.op) {
                    out.push(entry);
                }
            }
            next = info.parent;
        }
        Ok(out)
    }
}

/// The blob ids at `paths` in `tree` (`None` tree: all absent).
fn blobs(
    repo: &gix::Repository,
    tree: Option<ObjectId>,
    paths: &[String],
) -> Result<Vec<Option<ObjectId>>, Error> {
    paths
        .iter()
        .map(|p| match tree {
            Some(t) => snapshot::blob_in_tree(repo, t, p),
            None => Ok(None),
        })
        .collect()
}

/// The value at `pointer` in the document stored as `blob`.
fn pointer_value(
    repo: &gix::Repository,
    blob: Option<ObjectId>,
    pointer: &str,
) -> Result<Option<Value>, Error> {
    let Some(id) = blob else {
        return Ok(None);
    };
    let data = crate::objects::find(repo, id, gix::objs::Kind::Blob)?;
    let value = crate::canonical::parse(&data.data).map_err(|source| Error::InvalidJson {
        what: format!("blob {id}"),
        source,
    })?;
    Ok(patch::pointer_get(&value, pointer).ok().flatten().cloned())
}

/// Format a git time as RFC 3339 in its own offset.
pub(crate) fn rfc3339(time: gix::date::Time) -> String {
    let offset = chrono::FixedOffset::east_opt(time.offset)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset is valid"));
    chrono::DateTime::from_timestamp(time.seconds, 0)
        .map(|t| t.with_timezone(&offset).to_rfc3339())
        .unwrap_or_else(|| format!("@{}", time.seconds))
}
