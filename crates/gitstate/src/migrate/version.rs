//! Schema versions: non-negative integers or `MAJOR.MINOR.PATCH` strings.
//!
//! In a document (and in a schema file) a version is written either as a JSON
//! number that is a non-negative integer (`3`) or as a JSON string of exactly
//! three dot-separated non-negative integers (`"1.2.0"`). Integers must be
//! written plainly: `3.0`, `3e0` and `-0` are rejected, and so are semver
//! components with a leading zero (`"1.02.0"`), pre-release or build suffixes
//! (`"1.0.0-rc1"`) and a number of components other than three (`"1.2"`).
//!
//! Versions of the same kind are totally ordered (semvers lexicographically by
//! component); an integer and a semver are unordered (`partial_cmp` gives
//! `None`), and a schema refuses to mix them.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::MigrateError;

/// A schema version.
///
/// `Display` writes the canonical form (`3`, `1.2.0`); [`Version::to_json`]
/// gives the JSON form it is written in (a number for [`Version::Int`], a
/// string for [`Version::Semver`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// An integer version such as `3`.
    Int(u64),
    /// A semantic version `MAJOR.MINOR.PATCH` such as `1.2.0`.
    Semver(u64, u64, u64),
}

/// Longest rendering of an offending value kept in an error message.
const MAX_SHOWN: usize = 60;

fn shorten(s: String) -> String {
    if s.len() <= MAX_SHOWN {
        return s;
    }
    let mut end = MAX_SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn invalid(value: String, reason: &str) -> MigrateError {
    MigrateError::InvalidVersion {
        value: shorten(value),
        reason: reason.to_owned(),
    }
}

/// Parse one decimal component: digits only, no leading zero, fits `u64`.
fn component(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let well_formed = match b {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => b.iter().all(u8::is_ascii_digit),
    };
    if well_formed { s.parse().ok() } else { None }
}

impl Version {
    /// Parse a version from its JSON form: a non-negative integer number or a
    /// `"MAJOR.MINOR.PATCH"` string.
    ///
    /// # Errors
    ///
    /// [`MigrateError::InvalidVersion`] for any other value.
    pub fn from_json(value: &Value) -> Result<Version, MigrateError> {
        match value {
            Value::Number(n) => match n.as_u64() {
                Some(i) => Ok(Version::Int(i)),
                None => Err(invalid(
                    n.to_string(),
                    "a number version must be a non-negative integer",
                )),
            },
            Value::String(s) => Version::parse_semver(s),
            other => Err(invalid(
                other.to_string(),
                "must be a non-negative integer or a \"MAJOR.MINOR.PATCH\" string",
            )),
        }
    }

    fn parse_semver(s: &str) -> Result<Version, MigrateError> {
        let shown = || format!("{s:?}");
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 {
            return Err(invalid(
                shown(),
                "must have exactly three parts MAJOR.MINOR.PATCH",
            ));
        }
        match (
            component(parts[0]),
            component(parts[1]),
            component(parts[2]),
        ) {
            (Some(a), Some(b), Some(c)) => Ok(Version::Semver(a, b, c)),
            _ => Err(invalid(
                shown(),
                "each part must be a non-negative integer without leading zeros",
            )),
        }
    }

    /// The JSON form of the version: a number for [`Version::Int`], a string
    /// for [`Version::Semver`].
    pub fn to_json(&self) -> Value {
        match self {
            Version::Int(i) => Value::from(*i),
            Version::Semver(..) => Value::String(self.to_string()),
        }
    }

    /// Whether both versions are of the same kind (both integers or both
    /// semvers), that is, whether they can be compared.
    pub fn same_kind(&self, other: &Version) -> bool {
        matches!(
            (self, other),
            (Version::Int(_), Version::Int(_)) | (Version::Semver(..), Version::Semver(..))
        )
    }

    /// The kind of version as a word: `integer` or `semver`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Version::Int(_) => "integer",
            Version::Semver(..) => "semver",
        }
    }
}

impl PartialOrd for Version {
    /// Integers compare as integers and semvers component by component; an
    /// integer and a semver are unordered (`None`).
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        match (self, other) {
            (Version::Int(a), Version::Int(b)) => Some(a.cmp(b)),
            (Version::Semver(a, b, c), Version::Semver(x, y, z)) => Some((a, b, c).cmp(&(x, y, z))),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Int(i) => write!(f, "{i}"),
            Version::Semver(a, b, c) => write!(f, "{a}.{b}.{c}"),
        }
    }
}

impl FromStr for Version {
    type Err = MigrateError;

    /// Parse the canonical (`Display`) form: digits only give
    /// [`Version::Int`], `MAJOR.MINOR.PATCH` gives [`Version::Semver`]. Used
    /// for golden-test directory names and command-line arguments; inside
    /// documents use [`Version::from_json`], where `"3"` is not a version.
    fn from_str(s: &str) -> Result<Version, MigrateError> {
        if !s.contains('.') {
            return match component(s) {
                Some(i) => Ok(Version::Int(i)),
                None => Err(invalid(
                    format!("{s:?}"),
                    "must be a non-negative integer or MAJOR.MINOR.PATCH",
                )),
            };
        }
        Version::parse_semver(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("valid JSON")
    }

    #[test]
    fn parses_integers() {
        assert_eq!(Version::from_json(&json!(0)), Ok(Version::Int(0)));
        assert_eq!(Version::from_json(&json!(42)), Ok(Version::Int(42)));
        assert_eq!(
            Version::from_json(&parse("18446744073709551615")),
            Ok(Version::Int(u64::MAX))
        );
        for bad in ["-1", "1.5", "1.0", "1e0", "-0", "18446744073709551616"] {
            let err = Version::from_json(&parse(bad)).expect_err(bad);
            assert!(
                matches!(err, MigrateError::InvalidVersion { .. }),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Version::from_json(&parse("1.5"))
                .expect_err("float")
                .to_string(),
            "invalid version 1.5: a number version must be a non-negative integer"
        );
    }

    #[test]
    fn parses_semvers() {
        assert_eq!(
            Version::from_json(&json!("1.2.3")),
            Ok(Version::Semver(1, 2, 3))
        );
        assert_eq!(
            Version::from_json(&json!("0.0.0")),
            Ok(Version::Semver(0, 0, 0))
        );
        assert_eq!(
            Version::from_json(&json!("10.20.30")),
            Ok(Version::Semver(10, 20, 30))
        );
        for bad in [
            "1.2",
            "1",
            "3",
            "1.2.3.4",
            "",
            "1..2",
            "1.2.",
            ".1.2",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3-rc1",
            "1.2.3+build",
            "v1.2.3",
            " 1.2.3",
            "1.2.x",
            "1.-2.3",
            "1.2.99999999999999999999",
        ] {
            let err = Version::from_json(&json!(bad)).expect_err(bad);
            assert!(
                matches!(err, MigrateError::InvalidVersion { .. }),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Version::from_json(&json!("1.2"))
                .expect_err("two parts")
                .to_string(),
            r#"invalid version "1.2": must have exactly three parts MAJOR.MINOR.PATCH"#
        );
    }

    #[test]
    fn rejects_other_json() {
        for bad in [json!(null), json!(true), json!([1]), json!({"v": 1})] {
            let err = Version::from_json(&bad).expect_err("not a version");
            assert!(matches!(err, MigrateError::InvalidVersion { .. }), "{err}");
        }
        let long = json!({"a": "x".repeat(200)});
        let err = Version::from_json(&long).expect_err("long");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn ordering() {
        assert!(Version::Int(2) < Version::Int(10));
        assert!(Version::Int(3) == Version::Int(3));
        assert!(Version::Semver(1, 2, 3) < Version::Semver(1, 10, 0));
        assert!(Version::Semver(1, 9, 9) < Version::Semver(2, 0, 0));
        assert!(Version::Semver(1, 0, 1) > Version::Semver(1, 0, 0));
        assert_eq!(
            Version::Semver(1, 0, 0).partial_cmp(&Version::Semver(1, 0, 0)),
            Some(Ordering::Equal)
        );
        assert_eq!(Version::Int(1).partial_cmp(&Version::Semver(1, 0, 0)), None);
        // Neither less, greater nor equal.
        let (lt, gt) = (
            Version::Int(1) < Version::Semver(1, 0, 0),
            Version::Int(1) > Version::Semver(1, 0, 0),
        );
        assert!(!lt && !gt);
        assert!(Version::Int(1) != Version::Semver(1, 0, 0));
        assert!(Version::Int(1).same_kind(&Version::Int(7)));
        assert!(!Version::Int(1).same_kind(&Version::Semver(0, 0, 1)));
    }

    #[test]
    fn display_and_json_forms() {
        assert_eq!(Version::Int(7).to_string(), "7");
        assert_eq!(Version::Semver(1, 2, 0).to_string(), "1.2.0");
        assert_eq!(Version::Int(7).to_json(), json!(7));
        assert_eq!(Version::Semver(1, 2, 0).to_json(), json!("1.2.0"));
        for v in [Version::Int(0), Version::Int(99), Version::Semver(3, 0, 12)] {
            assert_eq!(Version::from_json(&v.to_json()), Ok(v));
            assert_eq!(v.to_string().parse::<Version>(), Ok(v));
        }
    }

    #[test]
    fn from_str_canonical() {
        assert_eq!("12".parse::<Version>(), Ok(Version::Int(12)));
        assert_eq!("1.0.0".parse::<Version>(), Ok(Version::Semver(1, 0, 0)));
        for bad in ["", "012", "-1", "1.0", "x", "1.0.0-rc"] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
    }
}
