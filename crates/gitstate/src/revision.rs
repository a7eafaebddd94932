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

use crate::error::Error;
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
    peel_to_commit(repo, id.detach()).map_err(|e| bad(e.to_string()))
}

/// Follow tags from `id` to the commit they name. Unlike gix's own peeling, a damaged tag
/// is an error here, not a panic.
pub(crate) fn peel_to_commit(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId, Error> {
    let corrupt = |what: String| Error::Corrupt { what };
    let mut id = id;
    // Tags of tags are allowed, loops are not.
    for _ in 0..16 {
        let kind = repo
            .find_header(id)
            .map_err(|e| corrupt(format!("cannot read object {id}: {e}")))?
            .kind();
        let object = crate::objects::find(repo, id, kind)?;
        match object.kind {
            gix::object::Kind::Commit => return Ok(id),
            gix::object::Kind::Tag => {
                id = gix::objs::TagRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
                    .map_err(|_| corrupt(format!("tag object {id} is damaged")))?
                    .target();
            }
            kind => return Err(corrupt(format!("{id} is a {kind}, not a commit"))),
        }
    }
    Err(corrupt(format!("tag {id} nests too deeply")))
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
///
/// The reflog serves as an index when it mirrors the first-parent chain (every move a plain
/// commit on top of the previous value): then the walk reads reflog lines instead of
/// commits, and only commits not written by gitstate (whose reflog time may differ from
/// their commit time) are read.
pub(crate) fn at_time(
    repo: &gix::Repository,
    time: gix::date::Time,
) -> Result<Option<ObjectId>, Error> {
    let head = refs::read_branch(repo)?;
    let start = match reflog_walk(repo, head, time)? {
        ReflogWalk::Found(id) => return Ok(Some(id)),
        ReflogWalk::ContinueFrom(id) => id,
        ReflogWalk::Unusable => head,
    };
    walk_first_parents(repo, start, time)
}

fn walk_first_parents(
    repo: &gix::Repository,
    mut next: Option<ObjectId>,
    time: gix::date::Time,
) -> Result<Option<ObjectId>, Error> {
    while let Some(id) = next {
        let info = crate::log::read_commit(repo, id)?;
        if info.time.seconds <= time.seconds {
            return Ok(Some(id));
        }
        next = info.parent;
    }
    Ok(None)
}

enum ReflogWalk {
    /// The answer.
    Found(ObjectId),
    /// Every commit the reflog covers is newer than the time: walk on from this commit
    /// (`None`: the reflog covers the whole history, there is no answer).
    ContinueFrom(Option<ObjectId>),
    /// The reflog does not mirror the history: walk commits.
    Unusable,
}

fn reflog_walk(
    repo: &gix::Repository,
    head: Option<ObjectId>,
    time: gix::date::Time,
) -> Result<ReflogWalk, Error> {
    let Ok(text) = std::fs::read(repo.git_dir().join("logs/refs/heads/main")) else {
        return Ok(ReflogWalk::Unusable);
    };
    let mut expected_new = head;
    for line in text.lines().rev() {
        let Some(entry) = parse_reflog_line(line) else {
            return Ok(ReflogWalk::Unusable);
        };
        if Some(entry.new) != expected_new {
            return Ok(ReflogWalk::Unusable);
        }
        let is_ours = entry.message.starts_with(refs::REFLOG_PREFIX.as_bytes());
        let is_plain_commit = entry.message.starts_with(b"commit: ")
            || entry.message.starts_with(b"commit (initial): ");
        if !is_ours && !is_plain_commit {
            return Ok(ReflogWalk::Unusable);
        }
        let commit_time = if is_ours {
            entry.seconds
        } else {
            crate::log::read_commit(repo, entry.new)?.time.seconds
        };
        if commit_time <= time.seconds {
            return Ok(ReflogWalk::Found(entry.new));
        }
        expected_new = entry.old;
    }
    Ok(ReflogWalk::ContinueFrom(expected_new))
}

struct ReflogLine<'a> {
    old: Option<ObjectId>,
    new: ObjectId,
    seconds: i64,
    message: &'a [u8],
}

/// `OLD NEW NAME <EMAIL> SECONDS OFFSET\tMESSAGE`
fn parse_reflog_line(line: &[u8]) -> Option<ReflogLine<'_>> {
    let (head, message) = match line.find_byte(b'\t') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    let old = ObjectId::from_hex(head.get(..40)?).ok()?;
    let new = ObjectId::from_hex(head.get(41..81)?).ok()?;
    let close = head.rfind_byte(b'>')?;
    let mut fields = head
        .get(close + 1..)?
        .split_str(" ")
        .filter(|f| !f.is_empty());
    let seconds = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    Some(ReflogLine {
        old: (!old.is_null()).then_some(old),
        new,
        seconds,
        message,
    })
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
