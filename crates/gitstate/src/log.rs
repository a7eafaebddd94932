//! History: the commits of the branch, newest first, optionally limited to one document.

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::error::{Error, GitContext};
use crate::message;
use crate::name::DocName;
use crate::refs;
use crate::snapshot::Snapshot;
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
}

/// What to list.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LogOptions {
    /// Only commits that changed this document (compared with the first parent).
    pub name: Option<DocName>,
    /// At most this many entries.
    pub limit: Option<usize>,
}

impl Store {
    /// The branch's history, newest first, following first parents.
    ///
    /// # Errors
    /// Unreadable commits or trees.
    pub fn log(&self, options: &LogOptions) -> Result<Vec<LogEntry>, Error> {
        let repo = self.repo();
        let mut next = refs::read_branch(&repo)?;
        let mut out = Vec::new();
        let rela = options.name.as_ref().map(DocName::rela_path);
        let limit = options.limit.unwrap_or(usize::MAX);
        let mut blob_here: Option<Option<ObjectId>> = None;
        while let Some(id) = next {
            if out.len() >= limit {
                break;
            }
            let commit = repo
                .find_commit(id)
                .git_context(|| format!("read commit {id}"))?;
            let decoded = commit
                .decode()
                .git_context(|| format!("decode commit {id}"))?;
            let parent = decoded.parents().next();
            let include = match &rela {
                None => true,
                Some(rela) => {
                    let here = match blob_here.take() {
                        Some(b) => b,
                        None => Snapshot::new(repo.clone(), Some(id), None)?.blob_id(rela)?,
                    };
                    let before = Snapshot::new(repo.clone(), parent, None)?.blob_id(rela)?;
                    blob_here = Some(before);
                    here != before
                }
            };
            if include {
                let author = decoded
                    .author()
                    .git_context(|| format!("decode author of {id}"))?;
                let time = author
                    .time()
                    .git_context(|| format!("decode time of {id}"))?;
                let parsed = message::parse(&decoded.message.to_str_lossy());
                out.push(LogEntry {
                    commit: id.to_string(),
                    parent: parent.map(|p| p.to_string()),
                    time: rfc3339(time),
                    author: format!("{} <{}>", author.name, author.email),
                    op: parsed.op,
                    message: parsed.text,
                    names: parsed.names,
                });
            }
            next = parent;
        }
        Ok(out)
    }
}

/// Format a git time as RFC 3339 in its own offset.
pub(crate) fn rfc3339(time: gix::date::Time) -> String {
    let offset = chrono::FixedOffset::east_opt(time.offset)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset is valid"));
    chrono::DateTime::from_timestamp(time.seconds, 0)
        .map(|t| t.with_timezone(&offset).to_rfc3339())
        .unwrap_or_else(|| format!("@{}", time.seconds))
}
