//! Canonical JSON: how a value becomes the bytes stored in git, and how input text becomes a value.
//!
//! Stored bytes are pretty-printed with a 2-space indent, object keys sorted by their UTF-8
//! bytes, and a trailing newline, so equal values give equal bytes and git diffs stay
//! readable. Numbers keep their exact digits (serde_json's `arbitrary_precision`), so a
//! read-modify-write never alters a number, however large or precise; only the spelling of
//! an exponent is normalised (`1E2` is stored as `1e+2`, the same number). Duplicate keys in input
//! keep the last value, as in JavaScript's `JSON.parse`.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Encode `value` to its canonical bytes.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    // serde_json's `Map` is a `BTreeMap` (no `preserve_order` feature), so keys come out sorted.
    let mut out =
        serde_json::to_vec_pretty(value).expect("serializing a Value to memory cannot fail");
    out.push(b'\n');
    out
}

/// [`to_canonical_bytes`], or `None` when `value` nests deeper than `max` levels (a scalar is
/// one level, each array or object around it one more), found while serializing rather
/// than by a walk of its own over the value.
pub(crate) fn to_canonical_bytes_within(value: &Value, max: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = DepthLimited {
        pretty: serde_json::ser::PrettyFormatter::new(),
        open: 0,
        max,
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).ok()?;
    out.push(b'\n');
    Some(out)
}

/// serde_json's pretty formatter, failing past `max` levels of nesting.
struct DepthLimited {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    /// Arrays and objects open around the current position.
    open: usize,
    max: usize,
}

impl DepthLimited {
    /// A value is about to be written inside `open` containers: it is level `open + 1`.
    fn check(&self) -> std::io::Result<()> {
        if self.open + 1 > self.max {
            return Err(std::io::Error::other("nested too deep"));
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for DepthLimited {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open += 1;
        self.pretty.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open -= 1;
        self.pretty.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.check()?;
        self.pretty.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open += 1;
        self.pretty.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open -= 1;
        self.pretty.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.pretty.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.check()?;
        self.pretty.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_object_value(w)
    }
}

/// Parse JSON text: exactly one value, optionally surrounded by whitespace, strict UTF-8.
///
/// # Errors
/// serde_json's error, which gives the line and column.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(text)
}

/// The canonical bytes of JSON `text`, without building a tree of values: the same bytes as
/// `to_canonical_bytes(&parse(text)?)`, in about the text's size of memory (a
/// `serde_json::Value` of many small records takes ~16 times the text). Each object or array
/// is split into its members' raw text and written in canonical order, one level at a time.
///
/// # Errors
/// As [`parse`]: invalid JSON, invalid UTF-8, nesting beyond serde_json's limit (128).
pub fn canonicalize(text: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let raw: &RawValue = serde_json::from_slice(text)?;
    let mut out = Vec::with_capacity(text.len() + text.len() / 4 + 2);
    serde_json::to_writer_pretty(&mut out, &Canon(raw, 0))?;
    out.push(b'\n');
    Ok(out)
}

/// An object's members in the order given; keys borrowed from the text unless escaped.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(Key(key)) = a.next_key()? {
                    members.push((key, a.next_value()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// An object key: borrowed from the text when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// Any JSON value, read in full (every string decoded) and thrown away: validation without
/// a tree of values.
struct Validate;

impl<'de> Deserialize<'de> for Validate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Validate;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_str<E>(self, _: &str) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_unit<E>(self) -> Result<Validate, E> {
                Ok(Validate)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Validate, A::Error> {
                while a.next_element::<Validate>()?.is_some() {}
                Ok(Validate)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Validate, A::Error> {
                while a.next_key::<Validate>()?.is_some() {
                    a.next_value::<Validate>()?;
                }
                Ok(Validate)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Levels of nesting [`parse`] accepts (serde_json's recursion limit); deeper input is refused alike.
const MAX_NESTING: usize = 127;

/// A value given as raw JSON text at nesting `.1`, serialized in canonical form.
struct Canon<'a>(&'a RawValue, usize);

impl Serialize for Canon<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.0.get();
        let nested = matches!(text.as_bytes().first(), Some(b'{' | b'['));
        if nested && self.1 >= MAX_NESTING {
            return Err(S::Error::custom("recursion limit exceeded"));
        }
        match text.as_bytes().first() {
            Some(b'{') => {
                // Sorted by key bytes, the last of duplicate keys kept: as serde_json's Map.
                let Members(mut members) = serde_json::from_str(text).map_err(S::Error::custom)?;
                // Stable: among equal keys the one given last stays last.
                members.sort_by(|a, b| a.0.cmp(&b.0));
                let mut map = s.serialize_map(None)?;
                for (i, (key, value)) in members.iter().enumerate() {
                    if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                        // Shadowed by a later duplicate, so never written: still it must be
                        // valid JSON as the value path reads it (raw text is only skimmed,
                        // which lets a lone surrogate escape through; the fuzzer found this).
                        serde_json::from_str::<Validate>(value.get()).map_err(S::Error::custom)?;
                        continue;
                    }
                    map.serialize_entry(key.as_ref(), &Canon(value, self.1 + 1))?;
                }
                map.end()
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(S::Error::custom)?;
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in &items {
                    seq.serialize_element(&Canon(item, self.1 + 1))?;
                }
                seq.end()
            }
            // The commonest scalars without a parser: literals, and strings with no escapes
            // (raw JSON holds no control characters, so their text is their value).
            Some(b't') if text == "true" => s.serialize_bool(true),
            Some(b'f') if text == "false" => s.serialize_bool(false),
            Some(b'n') if text == "null" => s.serialize_unit(),
            Some(b'"') if text.len() >= 2 && !text.contains('\\') => {
                s.serialize_str(&text[1..text.len() - 1])
            }
            // Any other string, or a number: small, and spelled as a Value spells it.
            _ => serde_json::from_str::<Value>(text)
                .map_err(S::Error::custom)?
                .serialize(s),
        }
    }
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
    fn the_depth_limited_form_is_the_canonical_form_and_refuses_exactly_past_the_limit() {
        use serde_json::json;
        let nest = |levels: usize, inner: Value, in_object: bool| {
            (1..levels).fold(inner, |v, _| {
                if in_object {
                    json!({ "k": v })
                } else {
                    json!([v])
                }
            })
        };
        for in_object in [false, true] {
            for inner in [json!(1), json!([]), json!({}), json!("s")] {
                for levels in [1, 2, 5, 127, 128, 129, 140] {
                    let v = nest(levels, inner.clone(), in_object);
                    let depth = crate::patch::depth(&v);
                    let limited = to_canonical_bytes_within(&v, 128);
                    assert_eq!(
                        limited.is_some(),
                        depth <= 128,
                        "depth {depth}, in_object {in_object}, inner {inner}"
                    );
                    if let Some(bytes) = limited {
                        assert_eq!(bytes, to_canonical_bytes(&v));
                    }
                }
            }
        }
        let wide = json!({"b": [1, {"c": null}], "a": {"x": [[], {}], "y": "z"}});
        assert_eq!(
            to_canonical_bytes_within(&wide, 4),
            Some(to_canonical_bytes(&wide))
        );
        assert_eq!(to_canonical_bytes_within(&wide, 3), None);
    }

    #[test]
    fn a_member_shadowed_by_a_duplicate_key_must_still_be_valid() {
        // serde_json skims raw text without checking surrogate escapes; the value path reads
        // every member, the last duplicate winning. Both must refuse this.
        let text = br#"{"a": {"\ud83d": 1}, "a": 2}"#;
        assert!(parse(text).is_err());
        assert!(canonicalize(text).is_err());
        let fine = br#"{"a": {"b": [1, "\u00e9"]}, "a": 2}"#;
        assert_eq!(
            canonicalize(fine).expect("valid"),
            to_canonical_bytes(&parse(fine).expect("valid"))
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
    fn canonicalize_gives_the_bytes_of_the_value_path() {
        for text in [
            r#"{"b":1,"a":[true,null,{"z":"x","y":2}]}"#,
            r#"  {"k": 1, "k": 2, "é": "\u00e9\n", "": {}, "e": [], "n": [1E2, -0, 7.718846888376968888]}  "#,
            "[]",
            "{}",
            "\"just a string\"",
            "12345678901234567890123",
            r#"[[[[{"deep": [1, [2, [3]]]}]]]]"#,
        ] {
            let via_value = to_canonical_bytes(&parse(text.as_bytes()).expect(text));
            assert_eq!(
                canonicalize(text.as_bytes()).expect(text),
                via_value,
                "{text}"
            );
        }
        for bad in [&b"{} x"[..], b"", b"[1,]", b"{\"a\" 1}", b"\"\xff\""] {
            assert!(canonicalize(bad).is_err(), "{bad:?}");
        }
        // Exactly the nesting the value path accepts, and no stack overflow far beyond it.
        for n in [127, 128, 129, 200, 100_000] {
            let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
            assert_eq!(
                canonicalize(deep.as_bytes()).is_ok(),
                parse(deep.as_bytes()).is_ok(),
                "{n} levels"
            );
        }
    }

    #[test]
    fn rejects_trailing_garbage_and_invalid_utf8() {
        assert!(parse(b"{} x").is_err());
        assert!(parse(b"\"\xff\"").is_err());
        assert!(parse(b"").is_err());
    }
}
