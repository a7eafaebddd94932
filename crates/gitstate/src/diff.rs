//! Differences between JSON documents and between versions of one document.
//!
//! - [`json_patch`]: an RFC 6902 JSON Patch turning one value into another,
//!   which [`crate::patch::apply_json_patch`] applies back exactly.
//! - [`leaves`], [`leaf_stat`]: the leaf values of a document with their
//!   JSON Pointers, and added/removed/changed counts between two versions.
//! - [`unified`]: a line-based unified diff of two texts, optionally coloured.
//! - [`blame`], [`pointer_changes`]: for a document's history, which commit
//!   gave each leaf its current value, and which commits changed the value
//!   at one pointer.
//!
//! Equality is always [`crate::patch::json_equal`], so numbers compare by
//! value (`1`, `1.0` and `1e0` are equal) even though serde_json keeps their
//! exact text under `arbitrary_precision`.
//!
//! Semantic choices:
//!
//! - Patches use only `add`, `remove` and `replace`, never `move`/`copy`/
//!   `test`. Within an object, removals of keys missing from the target come
//!   first, then (in the target's key order) recursion into common keys and
//!   additions. Arrays are compared by position; new elements are added with
//!   explicit numeric indices (never `-`).
//! - Objects are walked in the [`serde_json::Map`] order (sorted keys unless
//!   serde_json's `preserve_order` feature is on); that is "document order".
//! - In [`leaf_stat`] a pointer that is a leaf on one side and a container
//!   on the other counts as removed there and its new leaves as added.
//! - [`blame`] with a pointer that is syntactically invalid or names nothing
//!   in the newest version gives an empty result.
//!
//! Recursion goes no deeper than the input value, which serde_json's parser
//! limits to 128 levels.

use std::collections::HashMap;

use serde_json::{Map, Value};
use similar::{ChangeTag, TextDiff};

use crate::patch::{PatchError, json_equal, pointer_get};

/// ANSI colour for removed lines.
const RED: &str = "\x1b[31m";
/// ANSI colour for added lines.
const GREEN: &str = "\x1b[32m";
/// ANSI colour for hunk headers.
const CYAN: &str = "\x1b[36m";
/// ANSI reset.
const RESET: &str = "\x1b[0m";

// ---------------------------------------------------------------------------
// JSON Patch generation

/// RFC 6902 JSON Patch (a JSON array of operations) that turns `from` into
/// `to`.
///
/// Applying it to `from` with [`crate::patch::apply_json_patch`] gives a
/// value [`json_equal`] to `to`.
///
/// - Objects: `remove` keys missing in `to`, `add` new keys, recurse into
///   common keys.
/// - Arrays: positional: recurse on the common prefix indices, then `remove`
///   surplus elements from the end (highest index first) or `add` new ones
///   at index = position.
/// - Scalars and type changes: `replace` (the root with path `""`).
///
/// Values that are [`json_equal`] give no operation (so `1` to `1.0` is a
/// no-op), and equal documents give an empty array.
pub fn json_patch(from: &Value, to: &Value) -> Value {
    let mut ops = Vec::new();
    let mut path = String::new();
    diff_into(from, to, &mut path, &mut ops);
    Value::Array(ops)
}

/// Append to `ops` the operations turning `from` (at `path`) into `to`.
/// `path` is restored to its original content on return.
fn diff_into(from: &Value, to: &Value, path: &mut String, ops: &mut Vec<Value>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys() {
                if !b.contains_key(key) {
                    with_token(path, key, |p| ops.push(op("remove", p, None)));
                }
            }
            for (key, new) in b {
                with_token(path, key, |p| match a.get(key) {
                    Some(old) => diff_into(old, new, p, ops),
                    None => ops.push(op("add", p, Some(new))),
                });
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                with_token(path, &i.to_string(), |p| diff_into(old, new, p, ops));
            }
            for i in (b.len()..a.len()).rev() {
                with_token(path, &i.to_string(), |p| ops.push(op("remove", p, None)));
            }
            for (i, new) in b.iter().enumerate().skip(a.len()) {
                with_token(path, &i.to_string(), |p| ops.push(op("add", p, Some(new))));
            }
        }
        _ => {
            if !json_equal(from, to) {
                ops.push(op("replace", path, Some(to)));
            }
        }
    }
}

/// Run `f` with `/token` (escaped) appended to `path`, then restore `path`.
fn with_token<R>(path: &mut String, token: &str, f: impl FnOnce(&mut String) -> R) -> R {
    let len = path.len();
    path.push('/');
    push_escaped(path, token);
    let out = f(path);
    path.truncate(len);
    out
}

/// One patch operation object.
fn op(name: &str, path: &str, value: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("op".to_owned(), Value::String(name.to_owned()));
    m.insert("path".to_owned(), Value::String(path.to_owned()));
    if let Some(v) = value {
        m.insert("value".to_owned(), v.clone());
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------
// JSON Pointer helpers and leaves

/// Escape one RFC 6901 reference token (`~` becomes `~0`, `/` becomes `~1`).
pub fn escape_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    push_escaped(&mut out, token);
    out
}

/// Append `token`, escaped as an RFC 6901 reference token, to `out`.
fn push_escaped(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            _ => out.push(c),
        }
    }
}

/// Every leaf of a value with its JSON Pointer, in document order (object
/// keys in the [`Map`]'s order, array elements by index).
///
/// A leaf is a scalar, an empty object or an empty array. A root leaf has
/// the pointer `""`.
pub fn leaves(value: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    let mut path = String::new();
    collect_leaves(value, &mut path, &mut out);
    out
}

fn collect_leaves<'a>(value: &'a Value, path: &mut String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (key, child) in m {
                with_token(path, key, |p| collect_leaves(child, p, out));
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                with_token(path, &i.to_string(), |p| collect_leaves(child, p, out));
            }
        }
        _ => out.push((path.clone(), value)),
    }
}

/// Counts for `--stat`: how many leaf values (see [`leaves`]) were added,
/// removed and changed between two versions of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LeafStat {
    /// Leaves whose pointer exists only in the new version.
    pub added: usize,
    /// Leaves whose pointer exists only in the old version.
    pub removed: usize,
    /// Leaves present in both versions with values that are not
    /// [`json_equal`].
    pub changed: usize,
}

/// Leaf counts between two versions of a document (`None` = document
/// absent, which has no leaves). Leaves are matched by pointer and compared
/// with [`json_equal`].
pub fn leaf_stat(from: Option<&Value>, to: Option<&Value>) -> LeafStat {
    let old: HashMap<String, &Value> = from.map(leaves).unwrap_or_default().into_iter().collect();
    let new = to.map(leaves).unwrap_or_default();
    let mut stat = LeafStat::default();
    let mut common = 0;
    for (pointer, value) in &new {
        match old.get(pointer) {
            Some(prev) => {
                common += 1;
                if !json_equal(prev, value) {
                    stat.changed += 1;
                }
            }
            None => stat.added += 1,
        }
    }
    // Pointers in `leaves` are unique, so the old leaves not matched are
    // exactly the removed ones.
    stat.removed = old.len() - common;
    stat
}

// ---------------------------------------------------------------------------
// Text diff

/// A unified diff of two texts, line by line, with 3 lines of context and
/// headers `--- a/{old_label}` and `+++ b/{new_label}` (a label that is
/// exactly `/dev/null` is printed without the `a/`/`b/` prefix; for a
/// missing side the caller passes `""` as its text and `/dev/null` as its
/// label).
///
/// When `color` is true, removed lines are wrapped in `\x1b[31m` ...
/// `\x1b[0m`, added lines in `\x1b[32m` ... `\x1b[0m` and hunk headers
/// (`@@ ... @@`) in `\x1b[36m` ... `\x1b[0m`; the line terminator stays
/// outside the colour. Without colour the output is exactly `similar`'s
/// unified diff. Returns the empty string when the texts are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let label = |prefix: &str, l: &str| {
        if l == "/dev/null" {
            l.to_owned()
        } else {
            format!("{prefix}{l}")
        }
    };
    let (a, b) = (label("a/", old_label), label("b/", new_label));
    let diff = TextDiff::from_lines(old, new);
    let mut udiff = diff.unified_diff();
    udiff.context_radius(3).header(&a, &b);
    if !color {
        return udiff.to_string();
    }
    // Same layout as `similar`'s Display implementation, with colours.
    let mut out = String::new();
    for (n, hunk) in udiff.iter_hunks().enumerate() {
        if n == 0 {
            out.push_str(&format!("--- {a}\n+++ {b}\n"));
        }
        out.push_str(&format!("{CYAN}{}{RESET}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let (tag, colour) = match change.tag() {
                ChangeTag::Delete => ('-', Some(RED)),
                ChangeTag::Insert => ('+', Some(GREEN)),
                ChangeTag::Equal => (' ', None),
            };
            let text = change.to_string_lossy();
            let body = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .or_else(|| text.strip_suffix('\r'))
                .unwrap_or(&text);
            let terminator = &text[body.len()..];
            match colour {
                Some(c) => out.push_str(&format!("{c}{tag}{body}{RESET}{terminator}")),
                None => out.push_str(&format!("{tag}{body}{terminator}")),
            }
            if !diff.newline_terminated() {
                out.push('\n');
            } else if change.missing_newline() {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// History

/// Blame the newest version of a document's history.
///
/// `versions` is oldest first: `versions[i].1` is the document at commit
/// `versions[i].0`, `None` when it is absent there. For every leaf (see
/// [`leaves`]) of the newest value, finds the commit in which that leaf got
/// its current value: walking back from the newest version while the value
/// at the same pointer is [`json_equal`] to the current one (an absent
/// document, an absent pointer or a different value stops the walk), the
/// blamed commit is the oldest of that unbroken run. Array elements are
/// blamed by position (pointer `/arr/3`).
///
/// If `pointer` is `Some`, only that pointer is blamed; it may name a
/// non-leaf, whose whole subtree is then compared as one unit. A pointer
/// that is syntactically invalid or names nothing in the newest version
/// gives an empty result.
///
/// Returns `(pointer, commit)` pairs in document order; empty when the
/// newest version is absent (or `versions` is empty).
pub fn blame<C: Clone>(versions: &[(C, Option<Value>)], pointer: Option<&str>) -> Vec<(String, C)> {
    let Some((_, Some(newest))) = versions.last() else {
        return Vec::new();
    };
    let targets: Vec<(String, &Value)> = match pointer {
        None => leaves(newest),
        Some(p) => match pointer_get(newest, p) {
            Ok(Some(v)) => vec![(p.to_owned(), v)],
            Ok(None) | Err(_) => Vec::new(),
        },
    };
    let last = versions.len() - 1;
    targets
        .into_iter()
        .map(|(ptr, current)| {
            let mut oldest = last;
            while oldest > 0 {
                let same = match &versions[oldest - 1].1 {
                    Some(doc) => matches!(
                        pointer_get(doc, &ptr),
                        Ok(Some(v)) if json_equal(v, current)
                    ),
                    None => false,
                };
                if !same {
                    break;
                }
                oldest -= 1;
            }
            (ptr, versions[oldest].0.clone())
        })
        .collect()
}

/// The commits (in the given order, oldest first) where the value at
/// `pointer` differs from the previous version's: it appears, disappears or
/// changes (by [`json_equal`]). The first version counts as a change when
/// the value exists in it. An absent document has no value at any pointer.
///
/// # Errors
///
/// Returns the [`PatchError::InvalidPointer`] from [`pointer_get`] when
/// `pointer` is not a syntactically valid JSON Pointer (checked even when
/// every version is absent).
pub fn pointer_changes<C: Clone>(
    versions: &[(C, Option<Value>)],
    pointer: &str,
) -> Result<Vec<C>, PatchError> {
    // Validate the syntax up front, whatever the history holds.
    pointer_get(&Value::Null, pointer)?;
    let mut out = Vec::new();
    let mut prev: Option<&Value> = None;
    for (commit, doc) in versions {
        let cur = match doc {
            Some(d) => pointer_get(d, pointer)?,
            None => None,
        };
        let changed = match (prev, cur) {
            (None, None) => false,
            (Some(a), Some(b)) => !json_equal(a, b),
            _ => true,
        };
        if changed {
            out.push(commit.clone());
        }
        prev = cur;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::apply_json_patch;
    use serde_json::json;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test JSON parses")
    }

    /// Assert that the generated patch turns `from` into `to`.
    fn check_roundtrip(from: &Value, to: &Value) -> Value {
        let patch = json_patch(from, to);
        let got = apply_json_patch(from, &patch)
            .unwrap_or_else(|e| panic!("patch {patch} on {from} failed: {e}"));
        assert!(
            json_equal(&got, to),
            "from {from}\nto {to}\npatch {patch}\ngot {got}"
        );
        patch
    }

    // --- json_patch, hand-written ------------------------------------------

    #[test]
    fn patch_equal_docs_is_empty() {
        for s in ["null", "1", "\"x\"", "{}", "[]", r#"{"a":[1,{"b":null}]}"#] {
            assert_eq!(json_patch(&parse(s), &parse(s)), json!([]), "{s}");
        }
        // Numbers compare by value.
        assert_eq!(
            json_patch(&parse(r#"{"a":[1,2.50]}"#), &parse(r#"{"a":[1.0,25e-1]}"#)),
            json!([])
        );
    }

    #[test]
    fn patch_objects() {
        let from = json!({"a": 1, "b": 2, "c": 3});
        let to = json!({"a": 1, "c": 4, "d": 5});
        let patch = check_roundtrip(&from, &to);
        assert_eq!(
            patch,
            json!([
                {"op": "remove", "path": "/b"},
                {"op": "replace", "path": "/c", "value": 4},
                {"op": "add", "path": "/d", "value": 5},
            ])
        );
    }

    #[test]
    fn patch_arrays_grow_and_shrink() {
        let grow = check_roundtrip(&json!([1, 2]), &json!([1, 3, 4, 5]));
        assert_eq!(
            grow,
            json!([
                {"op": "replace", "path": "/1", "value": 3},
                {"op": "add", "path": "/2", "value": 4},
                {"op": "add", "path": "/3", "value": 5},
            ])
        );
        let shrink = check_roundtrip(&json!([1, 2, 3, 4]), &json!([0, 2]));
        assert_eq!(
            shrink,
            json!([
                {"op": "replace", "path": "/0", "value": 0},
                {"op": "remove", "path": "/3"},
                {"op": "remove", "path": "/2"},
            ])
        );
        let to_empty = check_roundtrip(&json!({"a": [1, 2]}), &json!({"a": []}));
        assert_eq!(
            to_empty,
            json!([
                {"op": "remove", "path": "/a/1"},
                {"op": "remove", "path": "/a/0"},
            ])
        );
        check_roundtrip(&json!([]), &json!([[], {}, null]));
    }

    #[test]
    fn patch_nested() {
        let from = json!({"a": {"b": [1, {"c": true}], "x": "y"}});
        let to = json!({"a": {"b": [1, {"c": false, "d": null}], "x": "y"}});
        let patch = check_roundtrip(&from, &to);
        assert_eq!(
            patch,
            json!([
                {"op": "replace", "path": "/a/b/1/c", "value": false},
                {"op": "add", "path": "/a/b/1/d", "value": null},
            ])
        );
    }

    #[test]
    fn patch_type_change() {
        let patch = check_roundtrip(
            &json!({"a": [1], "b": {"c": 1}}),
            &json!({"a": {"0": 1}, "b": "s"}),
        );
        assert_eq!(
            patch,
            json!([
                {"op": "replace", "path": "/a", "value": {"0": 1}},
                {"op": "replace", "path": "/b", "value": "s"},
            ])
        );
        check_roundtrip(&json!([1]), &json!({"0": 1}));
        check_roundtrip(&json!(null), &json!(false));
        check_roundtrip(&json!("1"), &json!(1));
    }

    #[test]
    fn patch_escaped_keys() {
        let from = json!({"a/b": 1, "m~n": 2, "~1": 3, "": {"/": 4}});
        let to = json!({"a/b": 10, "~1": 3, "": {"/": 5}, "new/~key": 6});
        let patch = check_roundtrip(&from, &to);
        assert_eq!(
            patch,
            json!([
                {"op": "remove", "path": "/m~0n"},
                {"op": "replace", "path": "//~1", "value": 5},
                {"op": "replace", "path": "/a~1b", "value": 10},
                {"op": "add", "path": "/new~1~0key", "value": 6},
            ])
        );
    }

    #[test]
    fn patch_empty_docs_and_root() {
        assert_eq!(
            check_roundtrip(&json!({}), &json!({"a": 1})),
            json!([{"op": "add", "path": "/a", "value": 1}])
        );
        assert_eq!(
            check_roundtrip(&json!({"a": 1}), &json!({})),
            json!([{"op": "remove", "path": "/a"}])
        );
        assert_eq!(
            check_roundtrip(&json!(1), &json!(2)),
            json!([{"op": "replace", "path": "", "value": 2}])
        );
        assert_eq!(
            check_roundtrip(&json!({}), &json!([])),
            json!([{"op": "replace", "path": "", "value": []}])
        );
        assert_eq!(
            check_roundtrip(&json!([1]), &json!("x")),
            json!([{"op": "replace", "path": "", "value": "x"}])
        );
    }

    #[test]
    fn patch_keeps_number_text() {
        // A replaced number keeps its exact source text in the patch.
        let patch = json_patch(&parse(r#"{"n":1}"#), &parse(r#"{"n":1.50}"#));
        assert_eq!(
            patch.to_string(),
            r#"[{"op":"replace","path":"/n","value":1.50}]"#
        );
    }

    #[test]
    fn patch_deep_nesting() {
        let deep = |leaf: &str| {
            let mut s = String::new();
            // 126 levels: close to serde_json's parse limit of 128.
            for _ in 0..63 {
                s.push_str(r#"{"k":["#);
            }
            s.push_str(leaf);
            for _ in 0..63 {
                s.push_str("]}");
            }
            parse(&s)
        };
        let (a, b) = (deep("1"), deep("2"));
        let patch = check_roundtrip(&a, &b);
        assert_eq!(patch.as_array().map(Vec::len), Some(1));
        assert_eq!(leaves(&a).len(), 1);
    }

    // --- json_patch, property tests -----------------------------------------

    /// A small deterministic linear congruential generator (Knuth's MMIX
    /// constants), using the high bits.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        /// Uniform-ish in `0..n` (`n > 0`).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    const KEYS: &[&str] = &["a", "b", "c", "a/b", "m~n", "~", "/", "", "~1", "0", "x y"];
    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "1",
        "1.0",
        "1e0",
        "-7",
        "2.5",
        "25e-1",
        "3.14159",
        "100",
        "1E2",
        "18446744073709551615",
        "-9223372036854775808",
        "1e400",
        "0.1",
    ];
    const STRINGS: &[&str] = &["", "a", "b", "~0", "/", "hello world", "é", "1"];

    fn gen_scalar(rng: &mut Lcg) -> Value {
        match rng.below(6) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => parse(rng.pick(NUMBERS)),
            3 => json!(rng.below(1000) as i64 - 500),
            _ => Value::String(rng.pick(STRINGS).to_owned()),
        }
    }

    /// A random value; containers only above depth 4.
    fn gen_value(rng: &mut Lcg, depth: usize) -> Value {
        let kind = if depth >= 4 { 0 } else { rng.below(5) };
        match kind {
            0 | 1 => gen_scalar(rng),
            2 | 3 => {
                let mut m = Map::new();
                for _ in 0..rng.below(5) {
                    let key = rng.pick(KEYS).to_owned();
                    m.insert(key, gen_value(rng, depth + 1));
                }
                Value::Object(m)
            }
            _ => Value::Array(
                (0..rng.below(5))
                    .map(|_| gen_value(rng, depth + 1))
                    .collect(),
            ),
        }
    }

    /// A random node of `v` (by random descent), with its depth.
    fn pick_node<'a>(v: &'a mut Value, rng: &mut Lcg) -> (&'a mut Value, usize) {
        let mut cur = v;
        let mut depth = 0;
        loop {
            let n = match &*cur {
                Value::Object(m) => m.len(),
                Value::Array(a) => a.len(),
                _ => 0,
            };
            if n == 0 || rng.below(3) == 0 {
                return (cur, depth);
            }
            let i = rng.below(n);
            depth += 1;
            cur = match cur {
                Value::Object(m) => m.values_mut().nth(i).expect("i < len"),
                Value::Array(a) => &mut a[i],
                _ => unreachable!("n > 0 only for containers"),
            };
        }
    }

    /// Apply one random edit somewhere in `v`.
    fn edit(v: &mut Value, rng: &mut Lcg) {
        let (node, depth) = pick_node(v, rng);
        match node {
            Value::Object(m) => match rng.below(4) {
                0 => {
                    let key = rng.pick(KEYS).to_owned();
                    m.insert(key, gen_value(rng, depth + 1));
                }
                1 if !m.is_empty() => {
                    let i = rng.below(m.len());
                    let key = m.keys().nth(i).cloned().expect("i < len");
                    m.remove(&key);
                }
                _ => *node = gen_value(rng, depth),
            },
            Value::Array(a) => match rng.below(6) {
                0 => a.push(gen_value(rng, depth + 1)),
                1 => {
                    a.pop();
                }
                2 => {
                    let i = rng.below(a.len() + 1);
                    a.insert(i, gen_value(rng, depth + 1));
                }
                3 if !a.is_empty() => {
                    let i = rng.below(a.len());
                    a.remove(i);
                }
                _ => *node = gen_value(rng, depth),
            },
            _ => {
                *node = if rng.below(3) == 0 {
                    gen_value(rng, depth)
                } else {
                    gen_scalar(rng)
                };
            }
        }
    }

    #[test]
    fn property_random_pairs() {
        let mut rng = Lcg(0x5eed_1234);
        let mut nonempty = 0;
        for _ in 0..3000 {
            let from = gen_value(&mut rng, 0);
            let to = if rng.below(10) == 0 {
                gen_value(&mut rng, 0)
            } else {
                let mut to = from.clone();
                for _ in 0..=rng.below(4) {
                    edit(&mut to, &mut rng);
                }
                to
            };
            let patch = check_roundtrip(&from, &to);
            if json_equal(&from, &to) {
                assert_eq!(patch, json!([]), "{from} vs {to}");
            } else {
                nonempty += 1;
            }
            assert_eq!(json_patch(&to, &to), json!([]));
        }
        // The generator really produces differences.
        assert!(nonempty > 2000, "{nonempty}");
    }

    #[test]
    fn property_edit_chains() {
        for seed in 0..10 {
            let mut rng = Lcg(seed * 7919 + 1);
            let mut history = vec![gen_value(&mut rng, 0)];
            while history.len() < 20 {
                let mut next = history.last().cloned().unwrap_or_default();
                for _ in 0..=rng.below(3) {
                    edit(&mut next, &mut rng);
                }
                history.push(next);
            }
            for from in &history {
                for to in &history {
                    check_roundtrip(from, to);
                }
            }
        }
    }

    // --- leaves and leaf_stat ------------------------------------------------

    #[test]
    fn leaves_nested() {
        let v = json!({"b": [1, {}, []], "a/b": {"m~n": null}, "c": {"d": "x"}});
        let got: Vec<(String, Value)> = leaves(&v)
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a~1b/m~0n".to_owned(), json!(null)),
                ("/b/0".to_owned(), json!(1)),
                ("/b/1".to_owned(), json!({})),
                ("/b/2".to_owned(), json!([])),
                ("/c/d".to_owned(), json!("x")),
            ]
        );
        assert_eq!(leaves(&json!(3)), vec![(String::new(), &json!(3))]);
        assert_eq!(leaves(&json!({})), vec![(String::new(), &json!({}))]);
        assert_eq!(leaves(&json!([])), vec![(String::new(), &json!([]))]);
    }

    #[test]
    fn escape_token_cases() {
        assert_eq!(escape_token("a/b"), "a~1b");
        assert_eq!(escape_token("m~n"), "m~0n");
        assert_eq!(escape_token("~1"), "~01");
        assert_eq!(escape_token("/~"), "~1~0");
        assert_eq!(escape_token(""), "");
        assert_eq!(escape_token("plain"), "plain");
    }

    #[test]
    fn leaf_stat_cases() {
        let stat = |a: Option<Value>, b: Option<Value>| leaf_stat(a.as_ref(), b.as_ref());
        assert_eq!(stat(None, None), LeafStat::default());
        assert_eq!(
            stat(None, Some(json!({"a": 1, "b": [1, 2]}))),
            LeafStat {
                added: 3,
                removed: 0,
                changed: 0
            }
        );
        assert_eq!(
            stat(Some(json!({"a": 1, "b": [1, 2]})), None),
            LeafStat {
                added: 0,
                removed: 3,
                changed: 0
            }
        );
        assert_eq!(
            stat(
                Some(json!({"a": 1, "b": [1, 2], "c": "x", "d": 1})),
                Some(json!({"a": 1.0, "b": [1, 3, 4], "c": "y", "e": null}))
            ),
            // b/2 and e added; d removed; b/1 and c changed; a equal by value.
            LeafStat {
                added: 2,
                removed: 1,
                changed: 2
            }
        );
        // Leaf to container: the old leaf is removed, the new leaves added.
        assert_eq!(
            stat(Some(json!({"a": 1})), Some(json!({"a": {"x": 1, "y": 2}}))),
            LeafStat {
                added: 2,
                removed: 1,
                changed: 0
            }
        );
        // Scalar root changes; empty containers are leaves.
        assert_eq!(
            stat(Some(json!(1)), Some(json!(2))),
            LeafStat {
                added: 0,
                removed: 0,
                changed: 1
            }
        );
        assert_eq!(
            stat(Some(json!({})), Some(json!([]))),
            LeafStat {
                added: 0,
                removed: 0,
                changed: 1
            }
        );
        assert_eq!(
            serde_json::to_value(LeafStat {
                added: 1,
                removed: 2,
                changed: 3
            })
            .ok(),
            Some(json!({"added": 1, "removed": 2, "changed": 3}))
        );
    }

    // --- unified -------------------------------------------------------------

    fn strip_ansi(s: &str) -> String {
        let mut out = s.to_owned();
        for code in [RED, GREEN, CYAN, RESET] {
            out = out.replace(code, "");
        }
        out
    }

    #[test]
    fn unified_plain() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "x", false), "");
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "x", true), "");
        let got = unified("a\nb\nc\n", "a\nB\nc\nd\n", "doc.json", "doc.json", false);
        assert_eq!(
            got,
            "--- a/doc.json\n+++ b/doc.json\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n"
        );
    }

    #[test]
    fn unified_dev_null_and_missing_newline() {
        let got = unified("", "{\n  \"a\": 1\n}", "/dev/null", "doc", false);
        assert_eq!(
            got,
            "--- /dev/null\n+++ b/doc\n@@ -0,0 +1,3 @@\n+{\n+  \"a\": 1\n+}\n\\ No newline at end of file\n"
        );
        let got = unified("x\n", "", "doc", "/dev/null", false);
        assert_eq!(got, "--- a/doc\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
    }

    #[test]
    fn unified_color() {
        let got = unified("a\nb\nc\n", "a\nB\nc\n", "f", "f", true);
        assert_eq!(
            got,
            "--- a/f\n+++ b/f\n\x1b[36m@@ -1,3 +1,3 @@\x1b[0m\n a\n\x1b[31m-b\x1b[0m\n\x1b[32m+B\x1b[0m\n c\n"
        );
        // The coloured output is the plain one plus colour codes, in every
        // line-ending situation.
        let cases = [
            ("a\nb", "a\nc"),
            ("a\r\nb\r\n", "a\r\nc\r\n"),
            ("a\rb\r", "a\rc\r"),
            ("", "x"),
            ("x", ""),
            (
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
                "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n13",
            ),
        ];
        for (old, new) in cases {
            let plain = unified(old, new, "o", "n", false);
            let colored = unified(old, new, "o", "n", true);
            assert!(!plain.is_empty());
            assert_eq!(strip_ansi(&colored), plain, "{old:?} -> {new:?}");
        }
        // Separate hunks when the changes are more than 6 lines apart (3 and 12).
        let plain = unified(cases[5].0, cases[5].1, "o", "n", false);
        assert_eq!(plain.matches("@@ -").count(), 2, "{plain}");
    }

    // --- blame -----------------------------------------------------------------

    fn history(items: &[(&'static str, Option<Value>)]) -> Vec<(&'static str, Option<Value>)> {
        items.to_vec()
    }

    fn pairs(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        items.iter().map(|(p, c)| ((*p).to_owned(), *c)).collect()
    }

    #[test]
    fn blame_fields_set_in_different_commits() {
        let h = history(&[
            ("c0", Some(json!({"a": 1}))),
            ("c1", Some(json!({"a": 1, "b": 2}))),
            (
                "c2",
                Some(json!({"a": 1, "b": 2.0, "c": {"d": 3, "e": []}})),
            ),
            ("c3", Some(json!({"a": 5, "b": 2, "c": {"d": 3, "e": []}}))),
        ]);
        assert_eq!(
            blame(&h, None),
            pairs(&[("/a", "c3"), ("/b", "c1"), ("/c/d", "c2"), ("/c/e", "c2")])
        );
    }

    #[test]
    fn blame_arrays_by_position() {
        let h = history(&[
            ("c0", Some(json!({"arr": [1, 2]}))),
            ("c1", Some(json!({"arr": [1, 2, 3]}))),
            ("c2", Some(json!({"arr": [0, 1, 2, 3]}))),
        ]);
        // Prepending shifts every element to a new position: all blamed to c2.
        assert_eq!(
            blame(&h, None),
            pairs(&[
                ("/arr/0", "c2"),
                ("/arr/1", "c2"),
                ("/arr/2", "c2"),
                ("/arr/3", "c2")
            ])
        );
        let h = history(&[
            ("c0", Some(json!([1, 2]))),
            ("c1", Some(json!([1, 2, 3]))),
            ("c2", Some(json!([1, 9, 3]))),
        ]);
        assert_eq!(
            blame(&h, None),
            pairs(&[("/0", "c0"), ("/1", "c2"), ("/2", "c1")])
        );
    }

    #[test]
    fn blame_changed_back() {
        let h = history(&[
            ("c0", Some(json!({"a": 1, "z": 0}))),
            ("c1", Some(json!({"a": 2, "z": 0}))),
            ("c2", Some(json!({"a": 1, "z": 0}))),
            ("c3", Some(json!({"a": 1.0, "z": 0}))),
        ]);
        assert_eq!(blame(&h, None), pairs(&[("/a", "c2"), ("/z", "c0")]));
    }

    #[test]
    fn blame_with_pointer() {
        let h = history(&[
            ("c0", Some(json!({"c": {"d": 1, "e": 2}, "x": 0}))),
            ("c1", Some(json!({"c": {"d": 1, "e": 3}, "x": 0}))),
            ("c2", Some(json!({"c": {"d": 1, "e": 3}, "x": 1}))),
        ]);
        // A subtree is blamed as one unit.
        assert_eq!(blame(&h, Some("/c")), pairs(&[("/c", "c1")]));
        assert_eq!(blame(&h, Some("/c/d")), pairs(&[("/c/d", "c0")]));
        assert_eq!(blame(&h, Some("/x")), pairs(&[("/x", "c2")]));
        assert_eq!(blame(&h, Some("")), pairs(&[("", "c2")]));
        assert_eq!(blame(&h, Some("/missing")), pairs(&[]));
        assert_eq!(blame(&h, Some("no-slash")), pairs(&[]));
    }

    #[test]
    fn blame_deleted_and_recreated() {
        let h = history(&[
            ("c0", Some(json!({"a": 1}))),
            ("c1", None),
            ("c2", Some(json!({"a": 1}))),
            ("c3", Some(json!({"a": 1, "b": 2}))),
        ]);
        assert_eq!(blame(&h, None), pairs(&[("/a", "c2"), ("/b", "c3")]));
        let gone = history(&[("c0", Some(json!({"a": 1}))), ("c1", None)]);
        assert_eq!(blame(&gone, None), pairs(&[]));
        assert_eq!(blame::<&str>(&[], None), pairs(&[]));
        // A root scalar.
        let h = history(&[("c0", Some(json!(7))), ("c1", Some(json!(7)))]);
        assert_eq!(blame(&h, None), pairs(&[("", "c0")]));
    }

    // --- pointer_changes -----------------------------------------------------

    #[test]
    fn pointer_changes_cases() {
        let h = history(&[
            ("c0", Some(json!({"a": 1}))),
            ("c1", Some(json!({"a": 1.0, "b": 1}))),
            ("c2", Some(json!({"a": 2}))),
            ("c3", Some(json!({}))),
            ("c4", None),
            ("c5", Some(json!({"a": 2}))),
            ("c6", Some(json!({"a": 2}))),
        ]);
        assert_eq!(pointer_changes(&h, "/a"), Ok(vec!["c0", "c2", "c3", "c5"]));
        // Appears in c1, disappears in c2.
        assert_eq!(pointer_changes(&h, "/b"), Ok(vec!["c1", "c2"]));
        assert_eq!(pointer_changes(&h, "/zzz"), Ok(vec![]));
        // The whole document: every version differs but c6.
        assert_eq!(
            pointer_changes(&h, ""),
            Ok(vec!["c0", "c1", "c2", "c3", "c4", "c5"])
        );
        // First version without the value is not a change.
        let h2 = history(&[
            ("c0", None),
            ("c1", Some(json!({"x": [1]}))),
            ("c2", Some(json!({"x": [2]}))),
        ]);
        assert_eq!(pointer_changes(&h2, "/x/0"), Ok(vec!["c1", "c2"]));
        assert_eq!(pointer_changes(&h2, "/x"), Ok(vec!["c1", "c2"]));
    }

    #[test]
    fn pointer_changes_syntax_error() {
        let h = history(&[("c0", Some(json!({"a": 1})))]);
        for bad in ["a", "/a~2", "/~"] {
            let err = pointer_changes(&h, bad).expect_err(bad);
            assert!(
                matches!(err, PatchError::InvalidPointer { .. }),
                "{bad}: {err}"
            );
        }
        // Reported even when no version holds a document.
        let empty = history(&[("c0", None)]);
        assert!(pointer_changes(&empty, "x").is_err());
        assert!(pointer_changes::<&str>(&[], "x").is_err());
    }
}
