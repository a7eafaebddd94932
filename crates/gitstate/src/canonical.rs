//! Canonical JSON: how a value becomes the bytes stored in git, and how input text becomes a value.
//!
//! Stored bytes are pretty-printed with a 2-space indent, object keys sorted by their UTF-8
//! bytes, and a trailing newline, so equal values give equal bytes and git diffs stay
//! readable. Numbers keep their exact digits (serde_json's `arbitrary_precision`), so a
//! read-modify-write never alters a number, however large or precise; only the spelling of
//! an exponent is normalised (`1E2` is stored as `1e+2`, the same number). Duplicate keys in input
//! keep the last value, as in JavaScript's `JSON.parse`.

use serde_json::Value;

/// Encode `value` to its canonical bytes.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    // serde_json's `Map` is a `BTreeMap` (no `preserve_order` feature), so keys come out sorted.
    let mut out =
        serde_json::to_vec_pretty(value).expect("serializing a Value to memory cannot fail");
    out.push(b'\n');
    out
}

/// Parse JSON text: exactly one value, optionally surrounded by whitespace, strict UTF-8.
///
/// # Errors
/// serde_json's error, which gives the line and column.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_sorted_indented_and_newline_terminated() {
        let v = parse(br#"{"b":1,"a":[true,null,{"z":"x","y":2}]}"#).expect("valid");
        let s = String::from_utf8(to_canonical_bytes(&v)).expect("utf8");
        assert_eq!(
            s,
            "{\n  \"a\": [\n    true,\n    null,\n    {\n      \"y\": 2,\n      \"z\": \"x\"\n    }\n  ],\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        for n in [
            "7.718846888376968888",
            "100000000000000000000",
            "-0",
            "1.0",
            "-12.5",
        ] {
            let v = parse(n.as_bytes()).expect(n);
            assert_eq!(to_canonical_bytes(&v), format!("{n}\n").into_bytes());
        }
        // Exponents are normalised; the number is the same.
        for (input, stored) in [("1E400", "1e+400"), ("1e-7", "1e-7"), ("2.5E+3", "2.5e+3")] {
            let v = parse(input.as_bytes()).expect(input);
            assert_eq!(to_canonical_bytes(&v), format!("{stored}\n").into_bytes());
        }
    }

    #[test]
    fn rejects_trailing_garbage_and_invalid_utf8() {
        assert!(parse(b"{} x").is_err());
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(b"").is_err());
    }
}
