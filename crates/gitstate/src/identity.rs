//! Who and when: the signature a commit carries.
//!
//! `Repository` caches the committer time and fails without a configured identity, so the
//! signature is built here for every commit.

use gix::actor::Signature;
use gix::date::Time;

use crate::error::Error;

/// The identity used when none is configured anywhere.
pub const DEFAULT_AUTHOR: &str = "gitstate <gitstate@localhost>";

/// Environment variable that sets the commit identity, as `Name <email>`.
pub const AUTHOR_ENV: &str = "GITSTATE_AUTHOR";

/// Environment variable that fixes the commit time (Unix seconds, or RFC 3339), for
/// reproducible histories in tests.
pub const TIME_ENV: &str = "GITSTATE_COMMIT_TIME";

/// Parse `Name <email>`.
pub(crate) fn parse_identity(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let open = text.find('<')?;
    let close = text.rfind('>')?;
    if close < open || close != text.len() - 1 {
        return None;
    }
    let name = text[..open].trim();
    let email = text[open + 1..close].trim();
    if name.is_empty() || name.contains(['<', '>', '\n']) || email.contains(['<', '>', '\n']) {
        return None;
    }
    Some((name.to_owned(), email.to_owned()))
}

/// Resolve the identity: explicit option, then `GITSTATE_AUTHOR`, then the store's
/// `user.name`/`user.email`, then [`DEFAULT_AUTHOR`].
pub(crate) fn resolve(
    explicit: Option<&str>,
    repo: &gix::Repository,
) -> Result<(String, String), Error> {
    if let Some(text) = explicit {
        return parse_identity(text).ok_or_else(|| bad_identity("author option", text));
    }
    if let Ok(text) = std::env::var(AUTHOR_ENV) {
        return parse_identity(&text).ok_or_else(|| bad_identity(AUTHOR_ENV, &text));
    }
    let config = repo.config_snapshot();
    if let (Some(name), Some(email)) = (config.string("user.name"), config.string("user.email")) {
        return Ok((name.to_string(), email.to_string()));
    }
    parse_identity(DEFAULT_AUTHOR).ok_or_else(|| bad_identity("default", DEFAULT_AUTHOR))
}

fn bad_identity(source: &str, text: &str) -> Error {
    Error::Config {
        setting: format!("{source}={text:?}"),
        reason: "an identity is of the form 'Name <email>'".into(),
    }
}

/// The commit time: explicit, then `GITSTATE_COMMIT_TIME`, then now in the local offset.
pub(crate) fn commit_time(explicit: Option<Time>) -> Result<Time, Error> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    if let Ok(text) = std::env::var(TIME_ENV) {
        return parse_time(&text).ok_or_else(|| Error::Config {
            setting: format!("{TIME_ENV}={text:?}"),
            reason: "a time is Unix seconds or RFC 3339".into(),
        });
    }
    let now = chrono::Local::now();
    Ok(Time::new(now.timestamp(), now.offset().local_minus_utc()))
}

/// Parse Unix seconds or an RFC 3339 timestamp.
pub fn parse_time(text: &str) -> Option<Time> {
    // git refuses commits dated before 1970 (`git fsck`: badDateOverflow).
    if let Ok(secs) = text.trim().parse::<i64>() {
        return (secs >= 0).then(|| Time::new(secs, 0));
    }
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    (t.timestamp() >= 0).then(|| Time::new(t.timestamp(), t.offset().local_minus_utc()))
}

/// A signature for `identity` at `time`.
pub(crate) fn signature((name, email): &(String, String), time: Time) -> Signature {
    Signature {
        name: name.as_str().into(),
        email: email.as_str().into(),
        time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        assert_eq!(
            parse_identity("A B <a@b>"),
            Some(("A B".into(), "a@b".into()))
        );
        assert_eq!(parse_identity("no email"), None);
        assert_eq!(parse_identity("<a@b>"), None);
        assert_eq!(parse_identity("x <a@b> trailing"), None);
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1700000000").map(|t| t.seconds),
            Some(1_700_000_000)
        );
        let t = parse_time("2026-11-27T10:00:00+01:00").expect("rfc3339");
        assert_eq!((t.seconds, t.offset), (1_795_770_000, 3600));
        assert!(parse_time("yesterday").is_none());
        assert!(parse_time("-5").is_none());
        assert!(parse_time("1960-01-01T00:00:00Z").is_none());
    }
}
