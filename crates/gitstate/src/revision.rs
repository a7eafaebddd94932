//! Revisions: how a string the user wrote becomes a commit.
//!
//! Accepted, in this order:
//! - reflog forms `main@{N}` / `@{N}` (the branch as it was N moves ago);
//! - a point in time: RFC 3339 (`2026-11-27T10:00:00+01:00`) or a plain date or date-time in
//!   the machine's local time zone (`2026-11-27`, `2026-11-27T10:00`, `2026-11-27 10:00:05`),
//!   meaning the newest commit of the branch (following first parents) made at or before it;
//! - everything git's revision syntax takes, as gix parses it: full or abbreviated ids,
//!   `HEAD`, `HEAD~N`, `HEAD^`, checkpoint labels (tags), `main`, …

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::error::{Error, GitContext};
use crate::refs;

/// Resolve `rev` to a commit.
pub(crate) fn resolve(repo: &gix::Repository, rev: &str) -> Result<ObjectId, Error> {
    let bad = |reason: String| Error::Revision {
        rev: rev.to_owned(),
        reason,
    };
    let trimmed = rev.trim();
    if trimmed.is_empty() || trimmed.starts_with('-') || trimmed.chars().any(char::is_control) {
        return Err(bad("not a revision".into()));
    }
    if let Some(n) = reflog_index(trimmed) {
        return reflog_entry(repo, n)
            .and_then(|id| id.ok_or_else(|| bad(format!("the reflog has no entry {n}"))));
    }
    if let Some(time) = parse_point_in_time(trimmed) {
        return at_time(repo, time)?.ok_or_else(|| bad("no commit at or before that time".into()));
    }
    let id = repo
        .rev_parse_single(trimmed)
        .map_err(|e| bad(e.to_string().replace('\n', " ")))?;
    let object = id
        .object()
        .map_err(|e| bad(format!("cannot read the object: {e}")))?;
    let commit = object
        .peel_to_kind(gix::object::Kind::Commit)
        .map_err(|_| bad("does not name a commit".into()))?;
    Ok(commit.id)
}

/// `main@{N}` or `@{N}` → N.
fn reflog_index(rev: &str) -> Option<usize> {
    let rest = rev
        .strip_prefix("main@{")
        .or_else(|| rev.strip_prefix("HEAD@{"))
        .or_else(|| rev.strip_prefix("@{"))?;
    rest.strip_suffix('}')?.parse().ok()
}

/// The branch's value `n` moves ago, from its reflog (0: now).
fn reflog_entry(repo: &gix::Repository, n: usize) -> Result<Option<ObjectId>, Error> {
    if n == 0 {
        return refs::read_branch(repo);
    }
    let path = repo.git_dir().join("logs/refs/heads/main");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                op: "read reflog",
                path,
                source,
            });
        }
    };
    let line = text.lines().rev().nth(n);
    Ok(line.and_then(|l| {
        let new = l.split(|b| *b == b' ').nth(1)?;
        ObjectId::from_hex(new).ok()
    }))
}

/// Parse RFC 3339, or a local date / date-time. `None` when `text` is not a time.
pub fn parse_point_in_time(text: &str) -> Option<gix::date::Time> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    let bytes = text.as_bytes();
    if bytes.len() < 10 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(gix::date::Time::new(
            t.timestamp(),
            t.offset().local_minus_utc(),
        ));
    }
    let naive = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%d %H:%M:%S",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        })?;
    let local = Local.from_local_datetime(&naive).earliest()?;
    Some(gix::date::Time::new(
        local.timestamp(),
        local.offset().local_minus_utc(),
    ))
}

/// The newest commit on the branch's first-parent chain whose commit time is at or before
/// `time`. Walking from the branch tip, the first such commit is the newest one in history,
/// which also settles ties between commits of the same second.
pub(crate) fn at_time(
    repo: &gix::Repository,
    time: gix::date::Time,
) -> Result<Option<ObjectId>, Error> {
    let mut next = refs::read_branch(repo)?;
    while let Some(id) = next {
        let commit = repo
            .find_commit(id)
            .git_context(|| format!("read commit {id}"))?;
        let decoded = commit
            .decode()
            .git_context(|| format!("decode commit {id}"))?;
        let when = decoded
            .committer()
            .git_context(|| format!("decode committer of {id}"))?
            .time()
            .git_context(|| format!("decode time of {id}"))?;
        if when.seconds <= time.seconds {
            return Ok(Some(id));
        }
        next = decoded.parents().next();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflog_forms() {
        assert_eq!(reflog_index("main@{3}"), Some(3));
        assert_eq!(reflog_index("@{0}"), Some(0));
        assert_eq!(reflog_index("main@{x}"), None);
        assert_eq!(reflog_index("HEAD~1"), None);
    }

    #[test]
    fn points_in_time() {
        let t = parse_point_in_time("2026-11-27T10:00:00Z").expect("rfc3339");
        assert_eq!(t.seconds, 1_795_773_600);
        assert!(parse_point_in_time("2026-11-27").is_some());
        assert!(parse_point_in_time("2026-11-27T10:00").is_some());
        assert!(parse_point_in_time("2026-11-27 10:00:05").is_some());
        assert!(parse_point_in_time("HEAD~1").is_none());
        assert!(parse_point_in_time("deadbeef").is_none());
        assert!(parse_point_in_time("2026-13-45").is_none());
    }
}
