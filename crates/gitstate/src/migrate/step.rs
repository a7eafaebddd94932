//! Migration steps: a Rust closure, a list of declarative [`Op`]s, or an
//! external command.
//!
//! # Declarative ops
//!
//! An [`Op`] is a JSON object tagged by its `op` member. The six RFC 6902
//! operations are accepted as-is and applied with
//! [`apply_json_patch`]:
//!
//! ```json
//! {"op": "add", "path": "/a", "value": 1}
//! {"op": "remove", "path": "/a"}
//! {"op": "replace", "path": "/a", "value": 2}
//! {"op": "move", "from": "/a", "path": "/b"}
//! {"op": "copy", "from": "/a", "path": "/b"}
//! {"op": "test", "path": "/a", "value": 2}
//! ```
//!
//! plus four conveniences:
//!
//! - `{"op": "rename", "from": "/a", "path": "/b"}`: an RFC `move`; an error
//!   when `/a` does not exist (an existing `/b` is replaced, as with `add`).
//! - `{"op": "set_default", "path": "/x", "value": ...}`: `add` the value only
//!   when `/x` does not exist; the parent of `/x` must exist.
//! - `{"op": "remove_field", "path": "/x"}`: `remove` `/x` when it exists,
//!   nothing otherwise.
//! - `{"op": "move_value", "from": "/a", "path": "/b"}`: exactly an RFC
//!   `move`.
//!
//! Unlike RFC 6902 patches, op objects may not carry unknown members. The ops
//! of a step run in order on the document; the first failure fails the step
//! (the document is then not written, so a step is all-or-nothing).
//!
//! # Commands
//!
//! A [`Step::Command`] runs `program args...` directly (no shell) with the
//! old document on standard input (pretty-printed JSON followed by a
//! newline) and reads the new document from standard output. The
//! environment additionally holds `MIGRATE_DOCUMENT` (the document's name),
//! `MIGRATE_FROM` and `MIGRATE_TO` (the step's versions in canonical form).
//! A relative program is resolved as [`std::process::Command`] does (a bare
//! name through `PATH`, a path with a `/` against the current directory);
//! the caller chooses the working directory. The step fails when the program
//! cannot be started, exits unsuccessfully, or prints anything but one JSON
//! value; the message names the program and quotes the end of its standard
//! error.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::Version;
use crate::patch::{PatchError, apply_json_patch, pointer_get};

/// The closure type of a [`Step::Rust`]: takes the old document and returns
/// the new one or an error message.
pub type StepFn = dyn Fn(Value) -> Result<Value, String> + Send + Sync;

/// One migration step, from one version to the next.
pub enum Step {
    /// A Rust function from the old document to the new one; an `Err` message
    /// fails the step.
    Rust(Box<StepFn>),
    /// Declarative operations applied in order.
    Ops(Vec<Op>),
    /// An external program that reads the old document on standard input and
    /// writes the new one on standard output.
    Command {
        /// The program to run, without a shell.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

/// What a step is applied to, for error messages and a command's environment.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// The document's name.
    pub document: &'a str,
    /// The step's source version.
    pub from: &'a Version,
    /// The step's target version.
    pub to: &'a Version,
}

impl Step {
    /// Wrap a closure as a [`Step::Rust`].
    pub fn rust<F>(f: F) -> Step
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        Step::Rust(Box::new(f))
    }

    /// Build a [`Step::Command`] from a program and its arguments.
    pub fn command<P, I, A>(program: P, args: I) -> Step
    where
        P: Into<String>,
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        Step::Command {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Apply the step to `doc` and return the new document.
    ///
    /// The step does not record the new version; [`Schema::migrate`]
    /// does that after each step.
    ///
    /// # Errors
    ///
    /// A message saying why the step failed: the closure's own message, the
    /// index and kind of the failing op, or the command and what went wrong.
    ///
    /// [`Schema::migrate`]: super::Schema::migrate
    pub fn apply(&self, doc: Value, ctx: &StepContext<'_>) -> Result<Value, String> {
        match self {
            Step::Rust(f) => f(doc),
            Step::Ops(ops) => apply_ops(doc, ops),
            Step::Command { program, args } => run_command(program, args, &doc, ctx),
        }
    }

    /// Check what can be checked without a document: the pointers of every
    /// op are well-formed and a command's program is not empty.
    ///
    /// # Errors
    ///
    /// A message naming the offending op or the empty program.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Step::Rust(_) => Ok(()),
            Step::Ops(ops) => ops.iter().enumerate().try_for_each(|(i, op)| {
                op.pointers().into_iter().try_for_each(|(member, ptr)| {
                    match pointer_get(&Value::Null, ptr) {
                        Ok(_) => Ok(()),
                        Err(e) => Err(format!(
                            "ops[{i}] ({}): invalid {member} {ptr:?}: {}",
                            op.name(),
                            pointer_reason(&e)
                        )),
                    }
                })
            }),
            Step::Command { program, .. } if program.is_empty() => {
                Err("command program is empty".to_owned())
            }
            Step::Command { .. } => Ok(()),
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Rust(_) => f.write_str("Rust(<fn>)"),
            Step::Ops(ops) => f.debug_tuple("Ops").field(ops).finish(),
            Step::Command { program, args } => f
                .debug_struct("Command")
                .field("program", program)
                .field("args", args)
                .finish(),
        }
    }
}

/// Why a pointer is malformed, without repeating the pointer.
fn pointer_reason(err: &PatchError) -> String {
    if let PatchError::InvalidPointer { reason, .. } = err {
        reason.clone()
    } else {
        err.to_string()
    }
}

// ---------------------------------------------------------------------------
// Declarative ops

/// A declarative operation on a document (see the [module docs](self)).
///
/// (De)serialized as a JSON object tagged by `op` with `snake_case` names;
/// unknown members are rejected. `Deserialize` goes through
/// [`Op::from_json`] rather than serde's derived internal tagging, which
/// would buffer the `value` and mangle numbers beyond `u64`/`i64`/`f64` under
/// serde_json's `arbitrary_precision`.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// RFC 6902 `add`.
    Add {
        /// Where to add.
        path: String,
        /// What to add.
        value: Value,
    },
    /// RFC 6902 `remove`; an error when `path` does not exist.
    Remove {
        /// What to remove.
        path: String,
    },
    /// RFC 6902 `replace`; an error when `path` does not exist.
    Replace {
        /// What to replace.
        path: String,
        /// The new value.
        value: Value,
    },
    /// RFC 6902 `move`.
    Move {
        /// The value to move.
        from: String,
        /// Where to put it.
        path: String,
    },
    /// RFC 6902 `copy`.
    Copy {
        /// The value to copy.
        from: String,
        /// Where to put the copy.
        path: String,
    },
    /// RFC 6902 `test`: fail the step unless the value at `path` equals
    /// `value` (numbers compare by value).
    Test {
        /// What to test.
        path: String,
        /// The expected value.
        value: Value,
    },
    /// Move `from` to `path`; an error when `from` does not exist.
    Rename {
        /// The old location.
        from: String,
        /// The new location.
        path: String,
    },
    /// Add `value` at `path` unless something is already there; the parent
    /// of `path` must exist.
    SetDefault {
        /// Where the value belongs.
        path: String,
        /// The default value.
        value: Value,
    },
    /// Remove `path` if it exists; nothing when it does not.
    RemoveField {
        /// What to remove.
        path: String,
    },
    /// The same as [`Op::Move`].
    MoveValue {
        /// The value to move.
        from: String,
        /// Where to put it.
        path: String,
    },
}

/// Every op name, in the order of [`Op`]'s variants.
const OP_NAMES: [&str; 10] = [
    "add",
    "remove",
    "replace",
    "move",
    "copy",
    "test",
    "rename",
    "set_default",
    "remove_field",
    "move_value",
];

impl Op {
    /// The op's name as written in JSON (`add`, `set_default`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add { .. } => "add",
            Op::Remove { .. } => "remove",
            Op::Replace { .. } => "replace",
            Op::Move { .. } => "move",
            Op::Copy { .. } => "copy",
            Op::Test { .. } => "test",
            Op::Rename { .. } => "rename",
            Op::SetDefault { .. } => "set_default",
            Op::RemoveField { .. } => "remove_field",
            Op::MoveValue { .. } => "move_value",
        }
    }

    /// The op's pointers as `(member, pointer)` pairs, `from` first.
    fn pointers(&self) -> Vec<(&'static str, &str)> {
        match self {
            Op::Add { path, .. }
            | Op::Remove { path }
            | Op::Replace { path, .. }
            | Op::Test { path, .. }
            | Op::SetDefault { path, .. }
            | Op::RemoveField { path } => vec![("path", path)],
            Op::Move { from, path }
            | Op::Copy { from, path }
            | Op::Rename { from, path }
            | Op::MoveValue { from, path } => vec![("from", from), ("path", path)],
        }
    }

    /// The op's `value` member, for the ops that have one.
    fn value(&self) -> Option<&Value> {
        match self {
            Op::Add { value, .. }
            | Op::Replace { value, .. }
            | Op::Test { value, .. }
            | Op::SetDefault { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The op as a JSON object, `op` first.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("op".to_owned(), Value::from(self.name()));
        for (member, ptr) in self.pointers() {
            m.insert(member.to_owned(), Value::from(ptr));
        }
        if let Some(v) = self.value() {
            m.insert("value".to_owned(), v.clone());
        }
        Value::Object(m)
    }

    /// Parse an op from its JSON object.
    ///
    /// Pointer syntax is not checked here (see [`Step::validate`]).
    ///
    /// # Errors
    ///
    /// A message when `value` is not an object, `op` is missing or unknown, a
    /// required member is missing or not a string, or an unknown member is
    /// present.
    pub fn from_json(value: &Value) -> Result<Op, String> {
        let Value::Object(obj) = value else {
            return Err("an op must be an object".to_owned());
        };
        let name = match obj.get("op") {
            None => return Err("missing member \"op\"".to_owned()),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err("member \"op\" must be a string".to_owned()),
        };
        let Some(&name) = OP_NAMES.iter().find(|n| **n == name) else {
            return Err(format!(
                "unknown op {name:?} (expected one of {})",
                OP_NAMES.join(", ")
            ));
        };
        let (has_from, has_value) = match name {
            "move" | "copy" | "rename" | "move_value" => (true, false),
            "add" | "replace" | "test" | "set_default" => (false, true),
            _ => (false, false),
        };
        for key in obj.keys() {
            let known = key == "op"
                || key == "path"
                || (key == "from" && has_from)
                || (key == "value" && has_value);
            if !known {
                return Err(format!("{name}: unknown member {key:?}"));
            }
        }
        let string = |member: &str| match obj.get(member) {
            None => Err(format!("{name}: missing member {member:?}")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{name}: member {member:?} must be a string")),
        };
        let path = string("path")?;
        let from = if has_from {
            string("from")?
        } else {
            String::new()
        };
        let value = if has_value {
            match obj.get("value") {
                Some(v) => v.clone(),
                None => return Err(format!("{name}: missing member \"value\"")),
            }
        } else {
            Value::Null
        };
        Ok(match name {
            "add" => Op::Add { path, value },
            "remove" => Op::Remove { path },
            "replace" => Op::Replace { path, value },
            "move" => Op::Move { from, path },
            "copy" => Op::Copy { from, path },
            "test" => Op::Test { path, value },
            "rename" => Op::Rename { from, path },
            "set_default" => Op::SetDefault { path, value },
            "remove_field" => Op::RemoveField { path },
            _ => Op::MoveValue { from, path },
        })
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pointers = self.pointers();
        let len = 1 + pointers.len() + usize::from(self.value().is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("op", self.name())?;
        for (member, ptr) in pointers {
            map.serialize_entry(member, ptr)?;
        }
        if let Some(v) = self.value() {
            map.serialize_entry("value", v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Op, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Op::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// Turn a patch error for a one-operation patch into a message without the
/// misleading `operation 0` prefix.
fn patch_detail(message: &str) -> &str {
    let Some(rest) = message.strip_prefix("operation 0") else {
        return message;
    };
    if let Some(rest) = rest.strip_prefix(": ") {
        return rest;
    }
    if rest.starts_with(" (") {
        if let Some((_, detail)) = rest.split_once("): ") {
            return detail;
        }
    }
    message
}

/// The parent of a pointer (`/a/b` -> `/a`, `/a` -> ``); `None` for the root.
fn parent_pointer(ptr: &str) -> Option<&str> {
    ptr.rfind('/').map(|i| &ptr[..i])
}

/// Apply one RFC 6902 operation, given as JSON.
fn apply_rfc(doc: &Value, op: Value) -> Result<Value, String> {
    apply_json_patch(doc, &Value::Array(vec![op]))
        .map_err(|e| patch_detail(&e.to_string()).to_owned())
}

fn exists(doc: &Value, ptr: &str) -> Result<bool, String> {
    pointer_get(doc, ptr)
        .map(|v| v.is_some())
        .map_err(|e| e.to_string())
}

fn apply_one(doc: Value, op: &Op) -> Result<Value, String> {
    match op {
        Op::Add { .. }
        | Op::Remove { .. }
        | Op::Replace { .. }
        | Op::Move { .. }
        | Op::Copy { .. }
        | Op::Test { .. } => apply_rfc(&doc, op.to_json()),
        Op::Rename { from, path } | Op::MoveValue { from, path } => {
            apply_rfc(&doc, json!({"op": "move", "from": from, "path": path}))
        }
        Op::SetDefault { path, value } => {
            if exists(&doc, path)? {
                return Ok(doc);
            }
            if let Some(parent) = parent_pointer(path) {
                if !exists(&doc, parent)? {
                    return Err(format!("parent of {path} does not exist"));
                }
            }
            apply_rfc(&doc, json!({"op": "add", "path": path, "value": value}))
        }
        Op::RemoveField { path } => {
            if exists(&doc, path)? {
                apply_rfc(&doc, json!({"op": "remove", "path": path}))
            } else {
                Ok(doc)
            }
        }
    }
}

fn apply_ops(mut doc: Value, ops: &[Op]) -> Result<Value, String> {
    for (i, op) in ops.iter().enumerate() {
        doc = apply_one(doc, op).map_err(|e| format!("ops[{i}] ({}): {e}", op.name()))?;
    }
    Ok(doc)
}

// ---------------------------------------------------------------------------
// Commands

/// Longest tail of a command's standard error quoted in a message, in bytes.
const STDERR_TAIL: usize = 400;

fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut start = text.len().saturating_sub(STDERR_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let ellipsis = if start > 0 { "..." } else { "" };
    format!(" (stderr: {ellipsis}{})", &text[start..])
}

fn run_command(
    program: &str,
    args: &[String],
    doc: &Value,
    ctx: &StepContext<'_>,
) -> Result<Value, String> {
    let fail = |what: String| format!("command {program:?}: {what}");
    let mut input = serde_json::to_vec_pretty(doc)
        .map_err(|e| fail(format!("cannot serialize document: {e}")))?;
    input.push(b'\n');
    let mut child = Command::new(program)
        .args(args)
        .env("MIGRATE_DOCUMENT", ctx.document)
        .env("MIGRATE_FROM", ctx.from.to_string())
        .env("MIGRATE_TO", ctx.to.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    // Feed stdin from a thread while wait_with_output drains stdout and
    // stderr, so a large document cannot deadlock on full pipes.
    let writer = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || match stdin.write_all(&input) {
            // The program may legitimately exit without reading everything.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
            other => other,
        })
    });
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot collect output: {e}")))?;
    let written = match writer.map(std::thread::JoinHandle::join) {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(format!("cannot write standard input: {e}")),
        Some(Err(_)) => Err("standard input writer panicked".to_owned()),
    };
    let tail = stderr_tail(&output.stderr);
    if !output.status.success() {
        return Err(fail(format!("{}{tail}", output.status)));
    }
    written.map_err(|e| fail(format!("{e}{tail}")))?;
    serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("output is not valid JSON: {e}{tail}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (Version, Version) {
        (Version::Int(1), Version::Int(2))
    }

    fn run(step: &Step, doc: Value) -> Result<Value, String> {
        let (from, to) = ctx();
        step.apply(
            doc,
            &StepContext {
                document: "batch/run-1",
                from: &from,
                to: &to,
            },
        )
    }

    fn ops(json: Value) -> Step {
        let Value::Array(items) = json else {
            panic!("ops must be an array")
        };
        Step::Ops(
            items
                .iter()
                .map(|v| Op::from_json(v).expect("valid op"))
                .collect(),
        )
    }

    #[test]
    fn rfc_ops() {
        let step = ops(json!([
            {"op": "add", "path": "/b", "value": {"c": 1}},
            {"op": "replace", "path": "/a", "value": 10},
            {"op": "copy", "from": "/b", "path": "/d"},
            {"op": "move", "from": "/b/c", "path": "/e"},
            {"op": "test", "path": "/e", "value": 1.0},
            {"op": "remove", "path": "/d"}
        ]));
        assert_eq!(
            run(&step, json!({"a": 1})),
            Ok(json!({"a": 10, "b": {}, "e": 1}))
        );
        let err =
            run(&ops(json!([{"op": "remove", "path": "/zz"}])), json!({})).expect_err("missing");
        assert_eq!(err, "ops[0] (remove): path /zz does not exist");
        let err = run(
            &ops(json!([
                {"op": "add", "path": "/x", "value": 1},
                {"op": "test", "path": "/x", "value": 2}
            ])),
            json!({}),
        )
        .expect_err("test fails");
        assert_eq!(err, "ops[1] (test): value at path /x does not match");
    }

    #[test]
    fn rename() {
        let step = ops(json!([{"op": "rename", "from": "/items", "path": "/work"}]));
        assert_eq!(
            run(&step, json!({"items": [1, 2], "x": 0})),
            Ok(json!({"work": [1, 2], "x": 0}))
        );
        let err = run(&step, json!({"x": 0})).expect_err("missing source");
        assert_eq!(err, "ops[0] (rename): from /items does not exist");
        // Nested and into an existing key (replaced, as with add).
        let step = ops(json!([{"op": "rename", "from": "/a/b", "path": "/c"}]));
        assert_eq!(
            run(&step, json!({"a": {"b": 1}, "c": 2})),
            Ok(json!({"a": {}, "c": 1}))
        );
    }

    #[test]
    fn set_default() {
        let step = ops(json!([{"op": "set_default", "path": "/opts/level", "value": 3}]));
        assert_eq!(
            run(&step, json!({"opts": {}})),
            Ok(json!({"opts": {"level": 3}}))
        );
        assert_eq!(
            run(&step, json!({"opts": {"level": 9}})),
            Ok(json!({"opts": {"level": 9}}))
        );
        // Present but null counts as present.
        assert_eq!(
            run(&step, json!({"opts": {"level": null}})),
            Ok(json!({"opts": {"level": null}}))
        );
        let err = run(&step, json!({})).expect_err("no parent");
        assert_eq!(
            err,
            "ops[0] (set_default): parent of /opts/level does not exist"
        );
        // Array parent: appending with `-`.
        let step = ops(json!([{"op": "set_default", "path": "/l/-", "value": 0}]));
        assert_eq!(run(&step, json!({"l": [1]})), Ok(json!({"l": [1, 0]})));
    }

    #[test]
    fn remove_field() {
        let step = ops(json!([{"op": "remove_field", "path": "/old"}]));
        assert_eq!(run(&step, json!({"old": 1, "k": 2})), Ok(json!({"k": 2})));
        assert_eq!(run(&step, json!({"k": 2})), Ok(json!({"k": 2})));
        let step = ops(json!([{"op": "remove_field", "path": "/a/b/c"}]));
        assert_eq!(run(&step, json!({"a": 1})), Ok(json!({"a": 1})));
    }

    #[test]
    fn move_value() {
        let step = ops(json!([{"op": "move_value", "from": "/a/0", "path": "/first"}]));
        assert_eq!(
            run(&step, json!({"a": [5, 6]})),
            Ok(json!({"a": [6], "first": 5}))
        );
        let err = run(&step, json!({"a": []})).expect_err("missing");
        assert_eq!(err, "ops[0] (move_value): from /a/0 does not exist");
    }

    #[test]
    fn ops_keep_number_text() {
        let big: Value = serde_json::from_str("123456789012345678901234567890.50").expect("json");
        let step = ops(json!([{"op": "add", "path": "/n", "value": big.clone()}]));
        let out = run(&step, json!({})).expect("applies");
        assert_eq!(out["n"].to_string(), "123456789012345678901234567890.50");
    }

    #[test]
    fn op_json_round_trip_and_errors() {
        let text = r#"[{"op":"add","path":"/a","value":{"n":[1.50,12345678901234567890123]}},
            {"op":"rename","from":"/a","path":"/b"},{"op":"set_default","path":"/c","value":null},
            {"op":"remove_field","path":"/d"},{"op":"move_value","from":"/b","path":"/e"},
            {"op":"remove","path":"/e"},{"op":"replace","path":"","value":1},
            {"op":"move","from":"/x","path":"/y"},{"op":"copy","from":"/x","path":"/y"},
            {"op":"test","path":"/x","value":"s"}]"#;
        let parsed: Vec<Op> = serde_json::from_str(text).expect("ops parse");
        assert_eq!(parsed.len(), 10);
        let back = serde_json::to_string(&parsed).expect("serialize");
        let again: Vec<Op> = serde_json::from_str(&back).expect("reparse");
        assert_eq!(parsed, again);
        assert!(back.contains("12345678901234567890123"), "{back}");
        assert_eq!(
            serde_json::to_value(&parsed[1]).expect("value"),
            json!({"op": "rename", "from": "/a", "path": "/b"})
        );
        assert_eq!(
            parsed[2].to_json(),
            json!({"op": "set_default", "path": "/c", "value": null})
        );

        let cases = [
            (json!(1), "an op must be an object"),
            (json!({"path": "/a"}), "missing member \"op\""),
            (json!({"op": 1}), "member \"op\" must be a string"),
            (
                json!({"op": "remove", "path": "/a", "value": 1}),
                "remove: unknown member \"value\"",
            ),
            (
                json!({"op": "add", "path": "/a"}),
                "add: missing member \"value\"",
            ),
            (
                json!({"op": "rename", "path": "/a"}),
                "rename: missing member \"from\"",
            ),
            (
                json!({"op": "rename", "from": 1, "path": "/a"}),
                "rename: member \"from\" must be a string",
            ),
            (
                json!({"op": "add", "path": "/a", "value": 1, "extra": 2}),
                "add: unknown member \"extra\"",
            ),
        ];
        for (v, msg) in cases {
            assert_eq!(Op::from_json(&v), Err(msg.to_owned()), "{v}");
        }
        let err = Op::from_json(&json!({"op": "frob", "path": "/a"})).expect_err("unknown");
        assert!(
            err.starts_with("unknown op \"frob\" (expected one of add, "),
            "{err}"
        );
        let err = serde_json::from_str::<Op>(r#"{"op":"remove","path":"/a","x":1}"#)
            .expect_err("unknown member");
        assert!(err.to_string().contains("unknown member \"x\""), "{err}");
    }

    #[test]
    fn validate_pointers() {
        assert_eq!(
            ops(json!([{"op": "remove", "path": "/a~1b"}])).validate(),
            Ok(())
        );
        let err = ops(json!([
            {"op": "remove", "path": "/ok"},
            {"op": "rename", "from": "a", "path": "/b"}
        ]))
        .validate()
        .expect_err("bad pointer");
        assert_eq!(
            err,
            "ops[1] (rename): invalid from \"a\": must be empty or start with '/'"
        );
        let err = ops(json!([{"op": "add", "path": "/a~2", "value": 1}]))
            .validate()
            .expect_err("bad escape");
        assert!(
            err.starts_with("ops[0] (add): invalid path \"/a~2\": "),
            "{err}"
        );
        assert!(Step::command("", Vec::<String>::new()).validate().is_err());
        assert!(Step::command("sh", ["-c", "cat"]).validate().is_ok());
        assert!(Step::rust(Ok).validate().is_ok());
    }

    #[test]
    fn rust_step() {
        let step = Step::rust(|mut v| {
            v["n"] = json!(v["n"].as_u64().ok_or("n is not a number")? + 1);
            Ok(v)
        });
        assert_eq!(run(&step, json!({"n": 1})), Ok(json!({"n": 2})));
        assert_eq!(
            run(&step, json!({"n": "x"})),
            Err("n is not a number".to_owned())
        );
        assert_eq!(format!("{step:?}"), "Rust(<fn>)");
    }

    #[test]
    fn command_step_works() {
        // Wraps the input document and records the environment.
        let script = r#"printf '{"old": '; cat; printf ', "doc": "%s", "from": "%s", "to": "%s", "arg": "%s"}' "$MIGRATE_DOCUMENT" "$MIGRATE_FROM" "$MIGRATE_TO" "$1""#;
        let step = Step::command("sh", ["-c", script, "sh", "hello"]);
        let doc: Value = serde_json::from_str(r#"{"a": 1.50}"#).expect("json");
        let out = run(&step, doc).expect("command works");
        assert!(crate::patch::json_equal(
            &out,
            &json!({"old": {"a": 1.5}, "doc": "batch/run-1", "from": "1", "to": "2", "arg": "hello"})
        ));
        assert_eq!(out["old"]["a"].to_string(), "1.50");
    }

    #[test]
    fn command_step_large_document() {
        // Larger than any pipe buffer in both directions.
        let doc = json!({"items": (0..40_000).map(|i| format!("item-{i}")).collect::<Vec<_>>()});
        let step = Step::command("sh", ["-c", "cat; echo done >&2"]);
        let out = run(&step, doc.clone()).expect("command works");
        assert_eq!(out, doc);
    }

    #[test]
    fn command_step_failures() {
        let step = Step::command(
            "sh",
            ["-c", "cat >/dev/null; echo 'boom happened' >&2; exit 1"],
        );
        let err = run(&step, json!({})).expect_err("exit 1");
        assert!(err.starts_with("command \"sh\": exit status: 1"), "{err}");
        assert!(err.ends_with("(stderr: boom happened)"), "{err}");

        let step = Step::command("sh", ["-c", "echo 'not json {'"]);
        let err = run(&step, json!({})).expect_err("invalid json");
        assert!(
            err.starts_with("command \"sh\": output is not valid JSON: "),
            "{err}"
        );

        let step = Step::command("sh", ["-c", "true"]);
        let err = run(&step, json!({})).expect_err("empty output");
        assert!(err.contains("output is not valid JSON"), "{err}");

        let step = Step::command("/nonexistent/migrate-tool", Vec::<String>::new());
        let err = run(&step, json!({})).expect_err("spawn fails");
        assert!(
            err.starts_with("command \"/nonexistent/migrate-tool\": cannot start: "),
            "{err}"
        );
    }

    #[test]
    fn command_not_reading_stdin_is_fine() {
        let doc = json!({"big": "x".repeat(300_000)});
        let step = Step::command("sh", ["-c", "echo '{\"fresh\": true}'"]);
        assert_eq!(run(&step, doc), Ok(json!({"fresh": true})));
    }

    #[test]
    fn patch_detail_strips_index() {
        assert_eq!(
            patch_detail("operation 0 (remove): path /a does not exist"),
            "path /a does not exist"
        );
        assert_eq!(
            patch_detail("operation 0: add: missing 'value' member"),
            "add: missing 'value' member"
        );
        assert_eq!(patch_detail("invalid patch: x"), "invalid patch: x");
    }
}
