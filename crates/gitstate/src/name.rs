//! Document names: validation, and the mapping from a name to its file in the working tree.

use std::fmt;

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// The longest segment accepted, in bytes: `SEGMENT.json` must fit the file system's
/// 255-byte limit for one file name.
pub const MAX_SEGMENT_LEN: usize = 250;

/// The file extension every document file carries.
pub(crate) const EXTENSION: &str = ".json";

/// A validated document name such as `batch/run-42`.
///
/// Names are `/`-separated segments, each matching `[A-Za-z0-9_-][A-Za-z0-9._-]*` and at most
/// [`MAX_SEGMENT_LEN`] bytes and not ending in `.`, at most [`MAX_NAME_LEN`] bytes in all, no segment equal to `.git` in any case. Such a name can only
/// ever map to a file below the store's working tree: it has no `..`, no leading dot, no
/// backslash, no control character and is never absolute.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocName(String);

/// Why a name was rejected; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid document name {name:?}: {rule}")]
pub struct InvalidName {
    /// The name as given.
    pub name: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl DocName {
    /// Validate `name`.
    ///
    /// # Errors
    /// [`InvalidName`] naming the broken rule.
    pub fn new(name: &str) -> Result<Self, InvalidName> {
        validate(name, true).map(|()| DocName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The document's path relative to the working tree, with `/` separators: `NAME.json`.
    pub fn rela_path(&self) -> String {
        format!("{}{EXTENSION}", self.0)
    }

    /// The inverse of [`DocName::rela_path`]: `None` when `path` is not a document file.
    pub fn from_rela_path(path: &str) -> Option<Self> {
        let stem = path.strip_suffix(EXTENSION)?;
        DocName::new(stem).ok()
    }
}

/// Validate a name; `allow_slash` is false for labels that must be a single segment.
pub(crate) fn validate(name: &str, allow_slash: bool) -> Result<(), InvalidName> {
    let fail = |rule| {
        Err(InvalidName {
            name: name.to_owned(),
            rule,
        })
    };
    if name.is_empty() {
        return fail("must not be empty");
    }
    if name.len() > MAX_NAME_LEN {
        return fail("longer than 255 bytes");
    }
    if name.starts_with('/') {
        return fail("must be relative, not start with '/'");
    }
    if name.chars().any(|c| c.is_control()) {
        return fail("must not contain control characters");
    }
    if name.contains('\\') {
        return fail("must not contain a backslash");
    }
    if !allow_slash && name.contains('/') {
        return fail("must be a single segment without '/'");
    }
    let segments = name.split('/').count();
    for (i, segment) in name.split('/').enumerate() {
        if i + 1 < segments && segment.ends_with(EXTENSION) {
            // Document `a` is the file `a.json`; a directory `a.json` would collide with it.
            return fail("only the last segment may end in .json");
        }
        if segment.is_empty() {
            return fail("must not contain an empty segment ('//' or a trailing '/')");
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return fail("segments are at most 250 bytes (the file name adds .json)");
        }
        if segment == "." || segment == ".." {
            return fail("must not contain '.' or '..' segments");
        }
        if segment.starts_with('.') {
            return fail("segments must not start with '.'");
        }
        if segment.ends_with('.') {
            // Some file systems drop a trailing dot, making `a.` the same file as `a`.
            return fail("segments must not end with '.'");
        }
        if segment.eq_ignore_ascii_case(".git") || segment.eq_ignore_ascii_case("git~1") {
            return fail("must not name the git directory");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return fail("segments may only contain A-Z a-z 0-9 . _ -");
        }
    }
    Ok(())
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for DocName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DocName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocName::new(s)
    }
}

impl TryFrom<&str> for DocName {
    type Error = InvalidName;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        DocName::new(s)
    }
}

impl TryFrom<&String> for DocName {
    type Error = InvalidName;
    fn try_from(s: &String) -> Result<Self, Self::Error> {
        DocName::new(s)
    }
}

impl TryFrom<String> for DocName {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(&s, true).map(|()| DocName(s))
    }
}

impl TryFrom<&DocName> for DocName {
    type Error = InvalidName;
    fn try_from(s: &DocName) -> Result<Self, Self::Error> {
        Ok(s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "prefs",
            "batch/run-42",
            "a.b/c_d-e",
            "_x",
            "-",
            "A/B/C",
            "v1.2.3",
        ] {
            assert!(DocName::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            DocName::new("a/b").map(|n| n.rela_path()),
            Ok("a/b.json".into())
        );
    }

    #[test]
    fn rejects_hostile_names_with_the_rule() {
        let cases = [
            ("", "empty"),
            ("..", "'..'"),
            ("a/../b", "'..'"),
            ("../x", "'..'"),
            ("/etc/passwd", "relative"),
            (".hidden", "start with '.'"),
            ("a/.git", "start with '.'"),
            (".GIT", "start with '.'"),
            ("GiT~1", "git directory"),
            ("a//b", "empty segment"),
            ("a/", "empty segment"),
            ("a\\b", "backslash"),
            ("a\nb", "control"),
            ("a\0b", "control"),
            ("a b", "may only contain"),
            ("a./b", "end with '.'"),
            ("a.json/b", "only the last segment"),
            ("caf\u{e9}", "may only contain"),
            ("a\u{2215}b", "may only contain"),
        ];
        for (name, rule) in cases {
            let err = DocName::new(name).expect_err(name);
            assert!(err.to_string().contains(rule), "{name:?}: {err}");
        }
        let long = "a".repeat(256);
        assert!(DocName::new(&long).is_err());
        assert!(DocName::new(&"a".repeat(251)).is_err());
        assert!(DocName::new(&"a".repeat(250)).is_ok());
        assert!(DocName::new(&format!("{}/{}", "a".repeat(200), "b".repeat(54))).is_ok());
    }

    #[test]
    fn rela_path_round_trips() {
        let n = DocName::new("x/y").expect("valid");
        assert_eq!(DocName::from_rela_path(&n.rela_path()), Some(n));
        assert_eq!(DocName::from_rela_path("x/y.txt"), None);
    }
}
