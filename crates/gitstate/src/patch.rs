//! JSON Patch (RFC 6902), JSON Merge Patch (RFC 7396) and JSON Pointer
//! (RFC 6901) over [`serde_json::Value`].
//!
//! The entry points are:
//!
//! - [`apply_json_patch`]: parse and apply an RFC 6902 patch document,
//!   all-or-nothing (the input document is never modified).
//! - [`apply_merge_patch`]: apply an RFC 7396 merge patch; never fails.
//! - [`pointer_get`]: resolve an RFC 6901 JSON Pointer.
//! - [`json_equal`]: deep equality that treats numbers as equal when they
//!   denote the same value (`1`, `1.0` and `1e0` are equal), as required by
//!   the RFC 6902 `test` operation. This matters because serde_json is used
//!   with `arbitrary_precision`, where numbers keep their exact source text
//!   and `Value`'s own `==` compares that text.
//!
//! Semantic choices beyond the RFCs:
//!
//! - The whole patch is validated (shape of every operation object, pointer
//!   syntax of `path`/`from`) before any operation is applied, so a malformed
//!   patch is reported as such whatever the document.
//! - `remove` with the root path `""` is an error; `add`/`replace` at `""`
//!   replace the whole document; `move` from `""` is an error unless `path`
//!   is also `""` (moving the root into its own child is impossible);
//!   `copy` from `""` copies the whole document.
//! - Operation objects may carry extra members; they are ignored.
//! - Array index tokens must be `0` or digits without a leading zero. A
//!   malformed index (such as `01`, `1e0`, `-1`) is reported as
//!   [`PatchError::InvalidTarget`]; `add` past the end of an array likewise.
//!   A well-formed index beyond the end for the other operations (and `-`
//!   anywhere but the last token of an `add` path) reports that the
//!   location does not exist.

use serde_json::{Map, Number, Value};

/// Errors from applying a patch or resolving a pointer.
///
/// Messages are short lowercase fragments without a trailing period that
/// name the operation index and the pointer involved, for example
/// `operation 2 (remove): path /a/b does not exist`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch document as a whole is malformed (not an array, or an
    /// element is not an object).
    #[error("invalid patch: {reason}")]
    InvalidPatch {
        /// What is wrong with the patch.
        reason: String,
    },
    /// An operation object is malformed: missing or non-string `op`,
    /// unknown `op`, missing or non-string `path`/`from`, missing `value`,
    /// or a `path`/`from` that is not a syntactically valid JSON Pointer.
    #[error("operation {op_index}: {reason}")]
    InvalidOperation {
        /// Zero-based index of the operation in the patch array.
        op_index: usize,
        /// What is wrong with the operation.
        reason: String,
    },
    /// A JSON Pointer given to [`pointer_get`] is syntactically invalid.
    #[error("invalid pointer {pointer:?}: {reason}")]
    InvalidPointer {
        /// The pointer as given.
        pointer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The location named by an operation's `path` does not exist (for
    /// `add`: its parent does not exist).
    #[error("operation {op_index} ({op}): path {path} does not exist")]
    PathNotFound {
        /// Zero-based index of the operation in the patch array.
        op_index: usize,
        /// The operation name (`add`, `remove`, ...).
        op: String,
        /// The `path` member as given.
        path: String,
    },
    /// The location named by a `move`/`copy` operation's `from` does not
    /// exist.
    #[error("operation {op_index} ({op}): from {from} does not exist")]
    FromNotFound {
        /// Zero-based index of the operation in the patch array.
        op_index: usize,
        /// The operation name (`move` or `copy`).
        op: String,
        /// The `from` member as given.
        from: String,
    },
    /// The location exists (or its parent does) but the operation cannot be
    /// carried out there: a malformed array index, an `add` index past the
    /// end of an array, a scalar parent, removing the root, or moving a
    /// value into its own child.
    #[error("operation {op_index} ({op}): {member} {pointer}: {reason}")]
    InvalidTarget {
        /// Zero-based index of the operation in the patch array.
        op_index: usize,
        /// The operation name (`add`, `remove`, ...).
        op: String,
        /// Which member named the location: `"path"` or `"from"`.
        member: &'static str,
        /// The pointer as given.
        pointer: String,
        /// Why the operation cannot be carried out.
        reason: String,
    },
    /// A `test` operation found a value different from the expected one.
    #[error("operation {op_index} (test): value at path {path} does not match")]
    TestFailed {
        /// Zero-based index of the operation in the patch array.
        op_index: usize,
        /// The `path` member as given.
        path: String,
    },
}

/// Parse and apply an RFC 6902 JSON Patch.
///
/// `patch` must be an array of operation objects. The operations are
/// applied in order to a copy of `doc`; the new document is returned only
/// if every operation succeeds, so `doc` is never changed (all-or-nothing).
///
/// # Errors
///
/// Returns a [`PatchError`] naming the failing operation's index when the
/// patch is malformed or an operation cannot be applied.
pub fn apply_json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = parse_patch(patch)?;
    let mut out = doc.clone();
    for (op_index, op) in ops.iter().enumerate() {
        apply_op(&mut out, op_index, op)?;
    }
    Ok(out)
}

/// Apply an RFC 7396 JSON Merge Patch to a copy of `doc` and return it.
///
/// An object patch merges member by member (a `null` member removes the
/// key, and a non-object target is first replaced by `{}`); any other patch
/// value replaces the target wholesale. Never fails.
pub fn apply_merge_patch(doc: &Value, patch: &Value) -> Value {
    let mut out = doc.clone();
    merge_in_place(&mut out, patch);
    out
}

/// Resolve an RFC 6901 JSON Pointer against `doc`.
///
/// The empty pointer `""` names the whole document. Array elements are
/// addressed by `0` or digits without a leading zero; `-` and malformed
/// indices resolve to nothing.
///
/// # Errors
///
/// Returns [`PatchError::InvalidPointer`] when `pointer` is neither empty
/// nor starts with `/`, or contains a `~` not followed by `0` or `1`.
/// A well-formed pointer that names nothing gives `Ok(None)`.
pub fn pointer_get<'a>(doc: &'a Value, pointer: &str) -> Result<Option<&'a Value>, PatchError> {
    let tokens = parse_pointer(pointer).map_err(|reason| PatchError::InvalidPointer {
        pointer: pointer.to_owned(),
        reason: reason.to_owned(),
    })?;
    Ok(resolve(doc, &tokens).ok())
}

/// Deep equality of JSON values where numbers compare by value.
///
/// Two numbers are equal when both are integers (fitting `i64` or `u64`)
/// with the same value; otherwise when both parse as finite `f64` with the
/// same value; otherwise when their texts are identical. Arrays compare
/// element-wise in order, objects by equal key sets with equal values.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => false,
    }
}

fn number_as_int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (number_as_int(a), number_as_int(b)) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => x == y,
        _ => a.to_string() == b.to_string(),
    }
}

// ---------------------------------------------------------------------------
// JSON Pointer

/// Split a pointer into unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, &'static str> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("must be empty or start with '/'");
    };
    rest.split('/').map(unescape_token).collect()
}

fn unescape_token(raw: &str) -> Result<String, &'static str> {
    if !raw.contains('~') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err("'~' must be followed by '0' or '1'"),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// An array reference token, classified.
enum Index {
    /// A well-formed index that fits in `usize`.
    At(usize),
    /// A well-formed index too large for `usize` (always out of bounds).
    TooLarge,
    /// The `-` token (one past the last element).
    End,
    /// Anything else.
    Invalid,
}

fn parse_index(token: &str) -> Index {
    if token == "-" {
        return Index::End;
    }
    let bytes = token.as_bytes();
    let well_formed = match bytes {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => bytes.iter().all(u8::is_ascii_digit),
    };
    if !well_formed {
        return Index::Invalid;
    }
    match token.parse::<usize>() {
        Ok(i) => Index::At(i),
        Err(_) => Index::TooLarge,
    }
}

/// Why a location could not be used.
enum Fail {
    /// Nothing is there.
    NotFound,
    /// A malformed array index token.
    BadIndex(String),
    /// Something else, with a message.
    Other(String),
}

fn bad_index(token: &str) -> Fail {
    Fail::BadIndex(format!("invalid array index {token:?}"))
}

fn child<'a>(v: &'a Value, token: &str) -> Result<&'a Value, Fail> {
    match v {
        Value::Object(m) => m.get(token).ok_or(Fail::NotFound),
        Value::Array(a) => match parse_index(token) {
            Index::At(i) => a.get(i).ok_or(Fail::NotFound),
            Index::TooLarge | Index::End => Err(Fail::NotFound),
            Index::Invalid => Err(bad_index(token)),
        },
        _ => Err(Fail::NotFound),
    }
}

fn child_mut<'a>(v: &'a mut Value, token: &str) -> Result<&'a mut Value, Fail> {
    match v {
        Value::Object(m) => m.get_mut(token).ok_or(Fail::NotFound),
        Value::Array(a) => match parse_index(token) {
            Index::At(i) => a.get_mut(i).ok_or(Fail::NotFound),
            Index::TooLarge | Index::End => Err(Fail::NotFound),
            Index::Invalid => Err(bad_index(token)),
        },
        _ => Err(Fail::NotFound),
    }
}

fn resolve<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, Fail> {
    let mut cur = doc;
    for t in tokens {
        cur = child(cur, t)?;
    }
    Ok(cur)
}

fn resolve_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, Fail> {
    let mut cur = doc;
    for t in tokens {
        cur = child_mut(cur, t)?;
    }
    Ok(cur)
}

// ---------------------------------------------------------------------------
// Patch parsing

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Add => "add",
            Kind::Remove => "remove",
            Kind::Replace => "replace",
            Kind::Move => "move",
            Kind::Copy => "copy",
            Kind::Test => "test",
        }
    }
}

/// A pointer as given in the patch plus its decoded tokens.
struct Ptr<'p> {
    raw: &'p str,
    tokens: Vec<String>,
}

struct Op<'p> {
    kind: Kind,
    path: Ptr<'p>,
    /// Present for `move` and `copy`.
    from: Option<Ptr<'p>>,
    /// Present for `add`, `replace` and `test`.
    value: Option<&'p Value>,
}

fn parse_patch(patch: &Value) -> Result<Vec<Op<'_>>, PatchError> {
    let Value::Array(items) = patch else {
        return Err(PatchError::InvalidPatch {
            reason: "patch must be an array of operation objects".to_owned(),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_op(i, item))
        .collect()
}

fn parse_op(op_index: usize, item: &Value) -> Result<Op<'_>, PatchError> {
    let invalid = |reason: String| PatchError::InvalidOperation { op_index, reason };
    let Value::Object(obj) = item else {
        return Err(PatchError::InvalidPatch {
            reason: format!("element {op_index} is not an object"),
        });
    };
    let kind = match obj.get("op") {
        None => return Err(invalid("missing 'op' member".to_owned())),
        Some(Value::String(s)) => match s.as_str() {
            "add" => Kind::Add,
            "remove" => Kind::Remove,
            "replace" => Kind::Replace,
            "move" => Kind::Move,
            "copy" => Kind::Copy,
            "test" => Kind::Test,
            other => return Err(invalid(format!("unknown op {other:?}"))),
        },
        Some(_) => return Err(invalid("'op' must be a string".to_owned())),
    };
    let name = kind.name();
    let pointer_member = |member: &'static str| -> Result<Ptr<'_>, PatchError> {
        match obj.get(member) {
            None => Err(invalid(format!("{name}: missing '{member}' member"))),
            Some(Value::String(raw)) => match parse_pointer(raw) {
                Ok(tokens) => Ok(Ptr { raw, tokens }),
                Err(why) => Err(invalid(format!("{name}: invalid {member} {raw:?}: {why}"))),
            },
            Some(_) => Err(invalid(format!("{name}: '{member}' must be a string"))),
        }
    };
    let path = pointer_member("path")?;
    let from = match kind {
        Kind::Move | Kind::Copy => Some(pointer_member("from")?),
        _ => None,
    };
    let value = match kind {
        Kind::Add | Kind::Replace | Kind::Test => match obj.get("value") {
            Some(v) => Some(v),
            None => return Err(invalid(format!("{name}: missing 'value' member"))),
        },
        _ => None,
    };
    Ok(Op {
        kind,
        path,
        from,
        value,
    })
}

// ---------------------------------------------------------------------------
// Patch application

/// Error context for one operation.
struct Ctx<'a> {
    op_index: usize,
    kind: Kind,
    path: &'a str,
}

impl Ctx<'_> {
    fn target(&self, member: &'static str, pointer: &str, reason: String) -> PatchError {
        PatchError::InvalidTarget {
            op_index: self.op_index,
            op: self.kind.name().to_owned(),
            member,
            pointer: pointer.to_owned(),
            reason,
        }
    }

    /// Map a failure at the `path` location.
    fn at_path(&self, fail: Fail) -> PatchError {
        match fail {
            Fail::NotFound => PatchError::PathNotFound {
                op_index: self.op_index,
                op: self.kind.name().to_owned(),
                path: self.path.to_owned(),
            },
            Fail::BadIndex(reason) | Fail::Other(reason) => self.target("path", self.path, reason),
        }
    }

    /// Map a failure at the `from` location.
    fn at_from(&self, from: &str, fail: Fail) -> PatchError {
        match fail {
            Fail::NotFound => PatchError::FromNotFound {
                op_index: self.op_index,
                op: self.kind.name().to_owned(),
                from: from.to_owned(),
            },
            Fail::BadIndex(reason) | Fail::Other(reason) => self.target("from", from, reason),
        }
    }
}

/// The deepest nesting a stored document may have: serde_json's parser refuses deeper
/// input, so a deeper value could be stored but never read back.
pub const MAX_DEPTH: usize = 128;

/// How deeply `value` nests (a scalar is 1, `[]` is 1, `[[]]` is 2). Iterative: safe on any
/// value.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

fn apply_op(doc: &mut Value, op_index: usize, op: &Op<'_>) -> Result<(), PatchError> {
    let ctx = Ctx {
        op_index,
        kind: op.kind,
        path: op.path.raw,
    };
    let path = &op.path.tokens;
    let too_deep = |value: &Value| {
        (path.len() + depth(value) > MAX_DEPTH).then(|| {
            ctx.target(
                "path",
                op.path.raw,
                format!("the result would nest deeper than {MAX_DEPTH} levels"),
            )
        })
    };
    match op.kind {
        Kind::Add => {
            let value = required_value(&ctx, op.value)?;
            if let Some(e) = too_deep(value) {
                return Err(e);
            }
            add(doc, path, value.clone()).map_err(|f| ctx.at_path(f))
        }
        Kind::Remove => remove(doc, path).map(drop).map_err(|f| ctx.at_path(f)),
        Kind::Replace => {
            let value = required_value(&ctx, op.value)?;
            if let Some(e) = too_deep(value) {
                return Err(e);
            }
            let value = value.clone();
            let slot = resolve_mut(doc, path).map_err(|f| ctx.at_path(f))?;
            *slot = value;
            Ok(())
        }
        Kind::Test => {
            let expected = required_value(&ctx, op.value)?;
            let actual = resolve(doc, path).map_err(|f| ctx.at_path(f))?;
            if json_equal(actual, expected) {
                Ok(())
            } else {
                Err(PatchError::TestFailed {
                    op_index,
                    path: op.path.raw.to_owned(),
                })
            }
        }
        Kind::Copy => {
            let from = required_from(&ctx, op.from.as_ref())?;
            let source = resolve(doc, &from.tokens).map_err(|f| ctx.at_from(from.raw, f))?;
            if let Some(e) = too_deep(source) {
                return Err(e);
            }
            let value = source.clone();
            add(doc, path, value).map_err(|f| ctx.at_path(f))
        }
        Kind::Move => {
            let from = required_from(&ctx, op.from.as_ref())?;
            if from.tokens == *path {
                // Moving a value onto itself is a no-op, but `from` must exist.
                return resolve(doc, path)
                    .map(drop)
                    .map_err(|f| ctx.at_from(from.raw, f));
            }
            if path.starts_with(&from.tokens) {
                return Err(ctx.target(
                    "path",
                    op.path.raw,
                    format!("cannot move {} into its own child", display_ptr(from.raw)),
                ));
            }
            let source = resolve(doc, &from.tokens).map_err(|f| ctx.at_from(from.raw, f))?;
            if let Some(e) = too_deep(source) {
                return Err(e);
            }
            let value = remove(doc, &from.tokens).map_err(|f| ctx.at_from(from.raw, f))?;
            add(doc, path, value).map_err(|f| ctx.at_path(f))
        }
    }
}

fn display_ptr(raw: &str) -> &str {
    if raw.is_empty() {
        "\"\" (the root)"
    } else {
        raw
    }
}

fn required_value<'p>(ctx: &Ctx<'_>, value: Option<&'p Value>) -> Result<&'p Value, PatchError> {
    value.ok_or_else(|| PatchError::InvalidOperation {
        op_index: ctx.op_index,
        reason: format!("{}: missing 'value' member", ctx.kind.name()),
    })
}

fn required_from<'a, 'p>(
    ctx: &Ctx<'_>,
    from: Option<&'a Ptr<'p>>,
) -> Result<&'a Ptr<'p>, PatchError> {
    from.ok_or_else(|| PatchError::InvalidOperation {
        op_index: ctx.op_index,
        reason: format!("{}: missing 'from' member", ctx.kind.name()),
    })
}

/// RFC 6902 section 4.1 `add`.
fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), Fail> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match resolve_mut(doc, parent_path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let len = a.len();
            match parse_index(last) {
                Index::End => a.push(value),
                Index::At(i) if i <= len => a.insert(i, value),
                Index::At(_) | Index::TooLarge => {
                    return Err(Fail::Other(format!(
                        "index {last} is out of bounds (array length {len})"
                    )));
                }
                Index::Invalid => return Err(bad_index(last)),
            }
            Ok(())
        }
        _ => Err(Fail::Other(
            "parent is neither an object nor an array".to_owned(),
        )),
    }
}

/// RFC 6902 section 4.2 `remove`; returns the removed value.
fn remove(doc: &mut Value, path: &[String]) -> Result<Value, Fail> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(Fail::Other("cannot remove the document root".to_owned()));
    };
    match resolve_mut(doc, parent_path)? {
        Value::Object(m) => m.remove(last.as_str()).ok_or(Fail::NotFound),
        Value::Array(a) => match parse_index(last) {
            Index::At(i) if i < a.len() => Ok(a.remove(i)),
            Index::At(_) | Index::TooLarge | Index::End => Err(Fail::NotFound),
            Index::Invalid => Err(bad_index(last)),
        },
        _ => Err(Fail::NotFound),
    }
}

// ---------------------------------------------------------------------------
// Merge patch

fn merge_in_place(target: &mut Value, patch: &Value) {
    let Value::Object(patch_obj) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_obj) = target else {
        return;
    };
    for (key, pv) in patch_obj {
        if pv.is_null() {
            target_obj.remove(key);
        } else {
            merge_in_place(target_obj.entry(key.clone()).or_insert(Value::Null), pv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("test JSON parses")
    }

    // --- merge patch: RFC 7396 appendix A -------------------------------

    #[test]
    fn merge_patch_rfc7396_appendix_a() {
        let cases = [
            (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"a":null}"#, r#"{}"#),
            (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
            (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
            (
                r#"{"a":{"b":"c"}}"#,
                r#"{"a":{"b":"d","c":null}}"#,
                r#"{"a":{"b":"d"}}"#,
            ),
            (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
            (r#"["a","b"]"#, r#"["c","d"]"#, r#"["c","d"]"#),
            (r#"{"a":"b"}"#, r#"["c"]"#, r#"["c"]"#),
            (r#"{"a":"foo"}"#, r#"null"#, r#"null"#),
            (r#"{"a":"foo"}"#, r#""bar""#, r#""bar""#),
            (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"e":null,"a":1}"#),
            (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
            (
                r#"{}"#,
                r#"{"a":{"bb":{"ccc":null}}}"#,
                r#"{"a":{"bb":{}}}"#,
            ),
        ];
        for (doc, patch, expected) in cases {
            let got = apply_merge_patch(&parse(doc), &parse(patch));
            assert_eq!(got, parse(expected), "doc {doc} patch {patch}");
        }
    }

    #[test]
    fn merge_patch_rfc7396_section3_example() {
        let doc = parse(
            r#"{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
                "tags":["example","sample"],"content":"This will be unchanged"}"#,
        );
        let patch = parse(
            r#"{"title":"Hello!","phoneNumber":"+01-123-456-7890",
                "author":{"familyName":null},"tags":["example"]}"#,
        );
        let expected = parse(
            r#"{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
                "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}"#,
        );
        assert_eq!(apply_merge_patch(&doc, &patch), expected);
    }

    #[test]
    fn merge_patch_keeps_nulls_inside_arrays_and_leaves_input() {
        let doc = parse(r#"{"a":1}"#);
        let got = apply_merge_patch(&doc, &parse(r#"{"b":[null,{"c":null}]}"#));
        assert_eq!(got, parse(r#"{"a":1,"b":[null,{"c":null}]}"#));
        assert_eq!(doc, parse(r#"{"a":1}"#));
    }

    // --- pointers ---------------------------------------------------------

    #[test]
    fn pointer_rfc6901_examples() {
        let doc = parse(
            r#"{"foo":["bar","baz"],"":0,"a/b":1,"c%d":2,"e^f":3,"g|h":4,
                "i\\j":5,"k\"l":6," ":7,"m~n":8}"#,
        );
        let get = |p: &str| pointer_get(&doc, p).expect("valid pointer").cloned();
        assert_eq!(get(""), Some(doc.clone()));
        assert_eq!(get("/foo"), Some(json!(["bar", "baz"])));
        assert_eq!(get("/foo/0"), Some(json!("bar")));
        assert_eq!(get("/"), Some(json!(0)));
        assert_eq!(get("/a~1b"), Some(json!(1)));
        assert_eq!(get("/c%d"), Some(json!(2)));
        assert_eq!(get("/e^f"), Some(json!(3)));
        assert_eq!(get("/g|h"), Some(json!(4)));
        assert_eq!(get("/i\\j"), Some(json!(5)));
        assert_eq!(get("/k\"l"), Some(json!(6)));
        assert_eq!(get("/ "), Some(json!(7)));
        assert_eq!(get("/m~0n"), Some(json!(8)));
    }

    #[test]
    fn pointer_escape_order() {
        // "~01" decodes to "~1", not "/".
        let doc = json!({"~1": "tilde-one", "/": "slash", "~": "tilde"});
        assert_eq!(
            pointer_get(&doc, "/~01").ok().flatten(),
            Some(&json!("tilde-one"))
        );
        assert_eq!(
            pointer_get(&doc, "/~1").ok().flatten(),
            Some(&json!("slash"))
        );
        assert_eq!(
            pointer_get(&doc, "/~0").ok().flatten(),
            Some(&json!("tilde"))
        );
    }

    #[test]
    fn pointer_invalid_syntax() {
        let doc = json!({"a": 1});
        for bad in ["a", "~0", "/~", "/~2", "/a~", "/x~a"] {
            let err = pointer_get(&doc, bad).expect_err(bad);
            assert!(
                matches!(err, PatchError::InvalidPointer { .. }),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            pointer_get(&doc, "a").expect_err("bad").to_string(),
            r#"invalid pointer "a": must be empty or start with '/'"#
        );
    }

    #[test]
    fn pointer_non_resolving() {
        let doc = json!({"a": [10, 20], "s": "str", "n": null});
        for p in [
            "/b",
            "/a/2",
            "/a/-",
            "/a/01",
            "/a/1e0",
            "/a/-1",
            "/a/+1",
            "/a/",
            "/s/0",
            "/n/x",
            "/a/99999999999999999999999999",
        ] {
            assert_eq!(pointer_get(&doc, p), Ok(None), "{p}");
        }
        assert_eq!(pointer_get(&doc, "/a/0"), Ok(Some(&json!(10))));
        assert_eq!(pointer_get(&doc, "/n"), Ok(Some(&Value::Null)));
    }

    // --- json_equal ---------------------------------------------------------

    #[test]
    fn numeric_equality() {
        let eq = |a: &str, b: &str| json_equal(&parse(a), &parse(b));
        assert!(eq("1", "1.0"));
        assert!(eq("1", "1e0"));
        assert!(eq("100", "1E2"));
        assert!(eq("0", "-0"));
        assert!(eq("0.5", "5e-1"));
        assert!(eq("18446744073709551615", "18446744073709551615"));
        assert!(!eq("18446744073709551615", "-1"));
        assert!(!eq("9223372036854775807", "9223372036854775806"));
        assert!(!eq("1", "2"));
        assert!(!eq("1", "\"1\""));
        // Non-finite as f64: compared textually.
        assert!(eq("1e400", "1e400"));
        // (serde_json's parser normalises the exponent to `e+400`.)
        assert!(eq("1e400", "1E+400"));
        assert!(!eq("1e400", "2e400"));
        assert!(!eq("1e400", "10e399"));
        assert!(eq(r#"{"a":[1,{"b":2.0}]}"#, r#"{"a":[1.0,{"b":2}]}"#));
        assert!(!eq(r#"{"a":1}"#, r#"{"a":1,"b":2}"#));
        assert!(!eq(r#"{"a":1,"c":2}"#, r#"{"a":1,"b":2}"#));
        assert!(!eq("[1,2]", "[2,1]"));
        assert!(!eq("null", "false"));
    }

    // --- JSON Patch edge cases -------------------------------------------------

    fn apply(doc: &str, patch: &str) -> Result<Value, PatchError> {
        apply_json_patch(&parse(doc), &parse(patch))
    }

    #[test]
    fn test_op_numeric_rule() {
        assert!(apply(r#"{"a":1}"#, r#"[{"op":"test","path":"/a","value":1.0}]"#).is_ok());
        assert!(
            apply(
                r#"{"a":[1e0]}"#,
                r#"[{"op":"test","path":"/a","value":[1]}]"#
            )
            .is_ok()
        );
        let err = apply(r#"{"a":1}"#, r#"[{"op":"test","path":"/a","value":1.5}]"#)
            .expect_err("should fail");
        assert_eq!(
            err,
            PatchError::TestFailed {
                op_index: 0,
                path: "/a".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "operation 0 (test): value at path /a does not match"
        );
    }

    #[test]
    fn null_value_is_present() {
        assert_eq!(
            apply(r#"{}"#, r#"[{"op":"add","path":"/a","value":null}]"#),
            Ok(json!({"a": null}))
        );
        assert!(
            apply(
                r#"{"a":null}"#,
                r#"[{"op":"test","path":"/a","value":null}]"#
            )
            .is_ok()
        );
        assert!(apply(r#"{"a":1}"#, r#"[{"op":"test","path":"/a","value":null}]"#).is_err());
        let err = apply(r#"{}"#, r#"[{"op":"add","path":"/a"}]"#).expect_err("missing value");
        assert_eq!(err.to_string(), "operation 0: add: missing 'value' member");
    }

    #[test]
    fn root_operations() {
        assert_eq!(
            apply(r#"{"a":1}"#, r#"[{"op":"replace","path":"","value":[1]}]"#),
            Ok(json!([1]))
        );
        assert_eq!(
            apply(r#"{"a":1}"#, r#"[{"op":"add","path":"","value":"x"}]"#),
            Ok(json!("x"))
        );
        let err = apply(r#"{"a":1}"#, r#"[{"op":"remove","path":""}]"#).expect_err("root");
        assert!(matches!(err, PatchError::InvalidTarget { .. }), "{err}");
        assert!(
            apply(
                r#"{"a":1}"#,
                r#"[{"op":"test","path":"","value":{"a":1.0}}]"#
            )
            .is_ok()
        );
        assert_eq!(
            apply(r#"{"a":1}"#, r#"[{"op":"copy","from":"","path":"/b"}]"#),
            Ok(json!({"a": 1, "b": {"a": 1}}))
        );
        assert_eq!(
            apply(
                r#"{"a":{"b":2}}"#,
                r#"[{"op":"move","from":"/a","path":""}]"#
            ),
            Ok(json!({"b": 2}))
        );
        assert!(apply(r#"{"a":1}"#, r#"[{"op":"move","from":"","path":"/b"}]"#).is_err());
        assert_eq!(
            apply(r#"{"a":1}"#, r#"[{"op":"move","from":"","path":""}]"#),
            Ok(json!({"a": 1}))
        );
    }

    #[test]
    fn array_indices() {
        let doc = r#"{"a":[1,2,3]}"#;
        assert_eq!(
            apply(doc, r#"[{"op":"add","path":"/a/3","value":4}]"#),
            Ok(json!({"a": [1, 2, 3, 4]}))
        );
        assert_eq!(
            apply(doc, r#"[{"op":"add","path":"/a/-","value":4}]"#),
            Ok(json!({"a": [1, 2, 3, 4]}))
        );
        assert_eq!(
            apply(doc, r#"[{"op":"add","path":"/a/0","value":0}]"#),
            Ok(json!({"a": [0, 1, 2, 3]}))
        );
        let err = apply(doc, r#"[{"op":"add","path":"/a/4","value":4}]"#).expect_err("oob");
        assert_eq!(
            err.to_string(),
            "operation 0 (add): path /a/4: index 4 is out of bounds (array length 3)"
        );
        for bad in ["01", "1e0", "-1", "+1", " 1", ""] {
            let patch = json!([{"op": "replace", "path": format!("/a/{bad}"), "value": 0}]);
            let err = apply_json_patch(&parse(doc), &patch).expect_err(bad);
            assert!(
                matches!(err, PatchError::InvalidTarget { .. }),
                "{bad}: {err}"
            );
        }
        let err = apply(doc, r#"[{"op":"replace","path":"/a/3","value":0}]"#).expect_err("oob");
        assert!(matches!(err, PatchError::PathNotFound { .. }), "{err}");
        let err = apply(doc, r#"[{"op":"remove","path":"/a/-"}]"#).expect_err("dash");
        assert!(matches!(err, PatchError::PathNotFound { .. }), "{err}");
        let err = apply(
            doc,
            r#"[{"op":"add","path":"/a/99999999999999999999999","value":0}]"#,
        )
        .expect_err("huge");
        assert!(matches!(err, PatchError::InvalidTarget { .. }), "{err}");
    }

    #[test]
    fn move_semantics() {
        assert_eq!(
            apply(
                r#"{"a":[1,2,3,4]}"#,
                r#"[{"op":"move","from":"/a/0","path":"/a/3"}]"#
            ),
            Ok(json!({"a": [2, 3, 4, 1]}))
        );
        assert_eq!(
            apply(
                r#"{"a":{"b":1}}"#,
                r#"[{"op":"move","from":"/a","path":"/a"}]"#
            ),
            Ok(json!({"a": {"b": 1}}))
        );
        let err = apply(
            r#"{"a":{"b":1}}"#,
            r#"[{"op":"move","from":"/a","path":"/a/b/c"}]"#,
        )
        .expect_err("into child");
        assert_eq!(
            err.to_string(),
            "operation 0 (move): path /a/b/c: cannot move /a into its own child"
        );
        // "/a" is not a prefix of "/ab" as a pointer.
        assert_eq!(
            apply(r#"{"a":1}"#, r#"[{"op":"move","from":"/a","path":"/ab"}]"#),
            Ok(json!({"ab": 1}))
        );
        let err =
            apply(r#"{}"#, r#"[{"op":"move","from":"/x","path":"/x"}]"#).expect_err("missing from");
        assert!(matches!(err, PatchError::FromNotFound { .. }), "{err}");
    }

    #[test]
    fn error_messages_and_malformed_patches() {
        let err = apply(
            r#"{"a":{}}"#,
            r#"[{"op":"test","path":"/a","value":{}},{"op":"remove","path":"/a/b"}]"#,
        )
        .expect_err("missing");
        assert_eq!(
            err.to_string(),
            "operation 1 (remove): path /a/b does not exist"
        );
        assert_eq!(
            err,
            PatchError::PathNotFound {
                op_index: 1,
                op: "remove".into(),
                path: "/a/b".into()
            }
        );
        let cases = [
            (r#"{"op":"add"}"#, "operation 0: add: missing 'path' member"),
            (
                r#"{"op":"add","path":null,"value":1}"#,
                "operation 0: add: 'path' must be a string",
            ),
            (r#"{"path":"/a"}"#, "operation 0: missing 'op' member"),
            (
                r#"{"op":1,"path":"/a"}"#,
                "operation 0: 'op' must be a string",
            ),
            (
                r#"{"op":"spam","path":"/a"}"#,
                r#"operation 0: unknown op "spam""#,
            ),
            (
                r#"{"op":"copy","path":"/a"}"#,
                "operation 0: copy: missing 'from' member",
            ),
            (
                r#"{"op":"move","path":"/a","from":7}"#,
                "operation 0: move: 'from' must be a string",
            ),
            (
                r#"{"op":"add","path":"a","value":1}"#,
                r#"operation 0: add: invalid path "a": must be empty or start with '/'"#,
            ),
            (
                r#"{"op":"remove","path":"/a~2"}"#,
                r#"operation 0: remove: invalid path "/a~2": '~' must be followed by '0' or '1'"#,
            ),
            ("5", "invalid patch: element 0 is not an object"),
        ];
        for (op, msg) in cases {
            let err = apply("{}", &format!("[{op}]")).expect_err(op);
            assert_eq!(err.to_string(), msg);
        }
        assert_eq!(
            apply("{}", r#"{"op":"add"}"#)
                .expect_err("not array")
                .to_string(),
            "invalid patch: patch must be an array of operation objects"
        );
        // Extra members are ignored; the empty patch is the identity.
        assert_eq!(
            apply(
                "{}",
                r#"[{"op":"add","path":"/a","value":1,"from":"/zz","x":2}]"#
            ),
            Ok(json!({"a": 1}))
        );
        assert_eq!(apply(r#"[1]"#, "[]"), Ok(json!([1])));
    }

    #[test]
    fn malformed_patch_rejected_before_applying() {
        // Op 0 would fail on the document, but op 1 is malformed: the shape
        // error is reported.
        let err = apply(
            "{}",
            r#"[{"op":"remove","path":"/x"},{"op":"bogus","path":""}]"#,
        )
        .expect_err("malformed");
        assert!(
            matches!(err, PatchError::InvalidOperation { op_index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn all_or_nothing() {
        let doc = json!({"a": 1});
        let patch = json!([
            {"op": "add", "path": "/b", "value": 2},
            {"op": "remove", "path": "/zzz"}
        ]);
        assert!(apply_json_patch(&doc, &patch).is_err());
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn add_into_scalar_parent_and_missing_parent() {
        let err = apply(r#"{"a":1}"#, r#"[{"op":"add","path":"/a/b","value":1}]"#)
            .expect_err("scalar parent");
        assert_eq!(
            err.to_string(),
            "operation 0 (add): path /a/b: parent is neither an object nor an array"
        );
        let err = apply(r#"{}"#, r#"[{"op":"add","path":"/a/b","value":1}]"#)
            .expect_err("missing parent");
        assert!(matches!(err, PatchError::PathNotFound { .. }), "{err}");
    }

    #[test]
    fn escaped_keys_in_patch() {
        assert_eq!(
            apply(r#"{}"#, r#"[{"op":"add","path":"/a~1b~0c","value":1}]"#),
            Ok(json!({"a/b~c": 1}))
        );
        assert_eq!(
            apply(r#"{"":1}"#, r#"[{"op":"replace","path":"/","value":2}]"#),
            Ok(json!({"": 2}))
        );
    }

    #[test]
    fn deep_nesting_does_not_panic() {
        let mut s = String::new();
        for _ in 0..120 {
            s.push('[');
        }
        for _ in 0..120 {
            s.push(']');
        }
        let doc = parse(&s);
        assert!(json_equal(&doc, &doc.clone()));
        let merged = apply_merge_patch(&doc, &doc);
        assert_eq!(merged, doc);
    }
}
