//! The declarative schema file: schemas whose steps are [`Op`] lists or
//! external commands, written as JSON.
//!
//! # Format
//!
//! ```json
//! {
//!   "schemas": [
//!     {
//!       "name": "batch",
//!       "pattern": "batch/*",
//!       "version_field": "version",
//!       "current": "3.0.0",
//!       "missing_version": "1.0.0",
//!       "steps": [
//!         {"from": "1.0.0", "to": "2.0.0",
//!          "ops": [{"op": "rename", "from": "/items", "path": "/work"},
//!                  {"op": "set_default", "path": "/priority", "value": 0}]},
//!         {"from": "2.0.0", "to": "3.0.0", "command": ["python3", "migrate.py"]}
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! The top level is an object with one member, `schemas`, an array of schema
//! objects. A schema object has these members:
//!
//! | member            | required | meaning                                                   |
//! |-------------------|----------|-----------------------------------------------------------|
//! | `name`            | yes      | non-empty string, unique in the file                      |
//! | `pattern`         | yes      | name pattern of the documents covered (see [`matches()`](super::matches))|
//! | `version_field`   | no       | top-level key, or JSON Pointer if it starts with `/`; default `"version"` |
//! | `current`         | yes      | the current version                                       |
//! | `missing_version` | no       | version of documents without one; default the chain's first |
//! | `steps`           | no       | array of step objects; default `[]`                        |
//!
//! A step object has `from` and `to` (versions) and exactly one of:
//!
//! - `ops`: an array of [`Op`] objects (RFC 6902 operations plus `rename`,
//!   `set_default`, `remove_field`, `move_value`);
//! - `command`: a non-empty array of strings, the program followed by its
//!   arguments, run without a shell (see [`Step::Command`]). A relative
//!   program is run as given; the caller sets the working directory.
//!
//! Versions are written as in documents (see [`Version::from_json`]): a
//! non-negative integer (`2`) or a `"MAJOR.MINOR.PATCH"` string, one kind per
//! schema. Unknown members are rejected everywhere. Each schema is then built
//! with [`SchemaBuilder::build`], so all chain checks apply.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{MigrateError, Op, Schema, SchemaBuilder, Step, Version};

/// Parse a schema file (see the [module docs](self)) and build its schemas,
/// in file order.
///
/// # Errors
///
/// [`MigrateError::SchemaFile`] naming the schema and step for malformed
/// content (invalid JSON, unknown or missing members, wrong types, bad
/// versions, both or neither of `ops`/`command`, duplicate schema names),
/// and the errors of [`SchemaBuilder::build`], which name the schema, for
/// invalid chains.
pub fn parse_schema_file(text: &[u8]) -> Result<Vec<Schema>, MigrateError> {
    let top: Value = serde_json::from_slice(text).map_err(|e| MigrateError::SchemaFile {
        location: "top level".to_owned(),
        reason: format!("invalid JSON: {e}"),
    })?;
    let top_err = |reason: String| MigrateError::SchemaFile {
        location: "top level".to_owned(),
        reason,
    };
    let obj = as_object(&top).map_err(top_err)?;
    check_members(obj, &["schemas"]).map_err(top_err)?;
    let Some(items) = obj.get("schemas") else {
        return Err(top_err("missing member \"schemas\"".to_owned()));
    };
    let Value::Array(items) = items else {
        return Err(top_err("member \"schemas\" must be an array".to_owned()));
    };
    let mut names = HashSet::new();
    let mut schemas = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let schema = parse_schema(index, item)?;
        if !names.insert(schema.name().to_owned()) {
            return Err(MigrateError::SchemaFile {
                location: format!("schemas[{index}] ({})", schema.name()),
                reason: format!("duplicate schema name {:?}", schema.name()),
            });
        }
        schemas.push(schema);
    }
    Ok(schemas)
}

fn as_object(v: &Value) -> Result<&Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err("must be an object".to_owned()),
    }
}

fn check_members(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown member {k:?} (expected one of {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, member: &str) -> Result<Option<&'a str>, String> {
    match obj.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("member {member:?} must be a string")),
    }
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing member {member:?}"))
}

fn version(obj: &Map<String, Value>, member: &str) -> Result<Option<Version>, String> {
    obj.get(member)
        .map(|v| Version::from_json(v).map_err(|e| format!("member {member:?}: {e}")))
        .transpose()
}

const SCHEMA_MEMBERS: [&str; 6] = [
    "name",
    "pattern",
    "version_field",
    "current",
    "missing_version",
    "steps",
];

const STEP_MEMBERS: [&str; 4] = ["from", "to", "ops", "command"];

fn parse_schema(index: usize, item: &Value) -> Result<Schema, MigrateError> {
    // The name, when readable, goes into every location.
    let name = item.get("name").and_then(Value::as_str);
    let location = match name {
        Some(n) => format!("schemas[{index}] ({n})"),
        None => format!("schemas[{index}]"),
    };
    let fail = |reason: String| MigrateError::SchemaFile {
        location: location.clone(),
        reason,
    };
    let obj = as_object(item).map_err(fail)?;
    check_members(obj, &SCHEMA_MEMBERS).map_err(fail)?;
    let name = required(string(obj, "name").map_err(fail)?, "name").map_err(fail)?;
    let pattern = required(string(obj, "pattern").map_err(fail)?, "pattern").map_err(fail)?;
    let current = required(version(obj, "current").map_err(fail)?, "current").map_err(fail)?;
    let mut builder = SchemaBuilder::new(name, pattern).current(current);
    if let Some(field) = string(obj, "version_field").map_err(fail)? {
        builder = builder.version_field(field);
    }
    if let Some(missing) = version(obj, "missing_version").map_err(fail)? {
        builder = builder.missing_version(missing);
    }
    let steps = match obj.get("steps") {
        None => &[][..],
        Some(Value::Array(steps)) => &steps[..],
        Some(_) => return Err(fail("member \"steps\" must be an array".to_owned())),
    };
    for (step_index, step) in steps.iter().enumerate() {
        let (from, to, step) =
            parse_step(step).map_err(|(label, reason)| MigrateError::SchemaFile {
                location: format!("{location}: steps[{step_index}]{label}"),
                reason,
            })?;
        builder = builder.step(from, to, step);
    }
    builder.build()
}

/// Parse a step; on error, a location suffix (` (1 -> 2)` when the versions
/// are readable) and the reason.
fn parse_step(item: &Value) -> Result<(Version, Version, Step), (String, String)> {
    let label = match (
        item.get("from").map(Version::from_json),
        item.get("to").map(Version::from_json),
    ) {
        (Some(Ok(f)), Some(Ok(t))) => format!(" ({f} -> {t})"),
        _ => String::new(),
    };
    let fail = |reason: String| (label.clone(), reason);
    let obj = as_object(item).map_err(fail)?;
    check_members(obj, &STEP_MEMBERS).map_err(fail)?;
    let from = required(version(obj, "from").map_err(fail)?, "from").map_err(fail)?;
    let to = required(version(obj, "to").map_err(fail)?, "to").map_err(fail)?;
    let step = match (obj.get("ops"), obj.get("command")) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "a step needs exactly one of \"ops\" and \"command\", not both".to_owned(),
            ));
        }
        (None, None) => {
            return Err(fail(
                "a step needs exactly one of \"ops\" and \"command\"".to_owned(),
            ));
        }
        (Some(Value::Array(ops)), None) => Step::Ops(
            ops.iter()
                .enumerate()
                .map(|(i, op)| Op::from_json(op).map_err(|e| fail(format!("ops[{i}]: {e}"))))
                .collect::<Result<_, _>>()?,
        ),
        (Some(_), None) => return Err(fail("member \"ops\" must be an array".to_owned())),
        (None, Some(command)) => parse_command(command).map_err(fail)?,
    };
    Ok((from, to, step))
}

fn parse_command(command: &Value) -> Result<Step, String> {
    let bad = || "member \"command\" must be a non-empty array of strings".to_owned();
    let Value::Array(parts) = command else {
        return Err(bad());
    };
    let parts = parts
        .iter()
        .map(|p| p.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<Vec<String>, String>>()?;
    let Some((program, args)) = parts.split_first() else {
        return Err(bad());
    };
    if program.is_empty() {
        return Err("command program is empty".to_owned());
    }
    Ok(Step::command(program.clone(), args.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::ChainProblem;
    use serde_json::json;

    fn parse(v: &Value) -> Result<Vec<Schema>, MigrateError> {
        parse_schema_file(v.to_string().as_bytes())
    }

    fn file_error(v: &Value) -> (String, String) {
        match parse(v) {
            Err(MigrateError::SchemaFile { location, reason }) => (location, reason),
            other => panic!("expected a schema file error, got {other:?}"),
        }
    }

    fn valid() -> Value {
        json!({"schemas": [
            {"name": "batch", "pattern": "batch/*", "version_field": "version",
             "current": "3.0.0", "missing_version": "1.0.0",
             "steps": [
                {"from": "1.0.0", "to": "2.0.0", "ops": [
                    {"op": "rename", "from": "/items", "path": "/work"},
                    {"op": "set_default", "path": "/priority", "value": 0}]},
                {"from": "2.0.0", "to": "3.0.0",
                 "command": ["sh", "-c", "printf '{\"wrapped\": '; cat; printf '}'"]}
             ]},
            {"name": "prefs", "pattern": "prefs", "current": 2,
             "steps": [{"from": 1, "to": 2, "ops": []}]}
        ]})
    }

    #[test]
    fn parses_valid_file() {
        let schemas = parse(&valid()).expect("valid file");
        assert_eq!(schemas.len(), 2);
        let batch = &schemas[0];
        assert_eq!(batch.name(), "batch");
        assert_eq!(
            batch.versions(),
            &[
                Version::Semver(1, 0, 0),
                Version::Semver(2, 0, 0),
                Version::Semver(3, 0, 0)
            ]
        );
        let out = batch
            .migrate("batch/run-1", json!({"items": [1]}))
            .expect("migrates");
        assert_eq!(
            out.value,
            json!({"wrapped": {"work": [1], "priority": 0, "version": "2.0.0"}, "version": "3.0.0"})
        );
        let prefs = &schemas[1];
        assert_eq!(prefs.missing_version(), &Version::Int(1));
        assert_eq!(prefs.version_field(), "/version");
        let out = prefs.migrate("prefs", json!({"a": 1})).expect("migrates");
        assert_eq!(out.value, json!({"a": 1, "version": 2}));
        assert_eq!(parse(&json!({"schemas": []})).expect("empty").len(), 0);
    }

    #[test]
    fn brief_example_goes_past_current() {
        // current 2.0.0 with a step 2.0.0 -> 3.0.0 is not a valid chain.
        let text = br#"{"schemas": [{"name": "batch", "pattern": "batch/*", "version_field": "version", "current": "2.0.0", "missing_version": "1.0.0",
  "steps": [{"from": "1.0.0", "to": "2.0.0", "ops": [{"op": "rename", "from": "/items", "path": "/work"}]},
            {"from": "2.0.0", "to": "3.0.0", "command": ["python3", "migrate.py"]}]}]}"#;
        let err = parse_schema_file(text).expect_err("past current");
        assert!(
            matches!(&err, MigrateError::Chain { problem, .. }
                if matches!(**problem, ChainProblem::PastCurrent { .. })),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "schema batch: step 2.0.0 -> 3.0.0 goes past current version 2.0.0"
        );
    }

    #[test]
    fn unknown_fields() {
        let mut v = valid();
        v["extra"] = json!(1);
        let (loc, reason) = file_error(&v);
        assert_eq!(loc, "top level");
        assert_eq!(reason, "unknown member \"extra\" (expected one of schemas)");

        let mut v = valid();
        v["schemas"][0]["curent"] = json!("3.0.0");
        let (loc, reason) = file_error(&v);
        assert_eq!(loc, "schemas[0] (batch)");
        assert!(
            reason.starts_with("unknown member \"curent\" (expected one of name, "),
            "{reason}"
        );

        let mut v = valid();
        v["schemas"][0]["steps"][1]["args"] = json!([]);
        let err = parse(&v).expect_err("unknown step member");
        assert_eq!(
            err.to_string(),
            "schema file: schemas[0] (batch): steps[1] (2.0.0 -> 3.0.0): unknown member \"args\" (expected one of from, to, ops, command)"
        );

        let mut v = valid();
        v["schemas"][0]["steps"][0]["ops"][1]["default"] = json!(1);
        let err = parse(&v).expect_err("unknown op member");
        assert_eq!(
            err.to_string(),
            "schema file: schemas[0] (batch): steps[0] (1.0.0 -> 2.0.0): ops[1]: set_default: unknown member \"default\""
        );
    }

    #[test]
    fn both_or_neither_ops_and_command() {
        let mut v = valid();
        v["schemas"][0]["steps"][0]["command"] = json!(["true"]);
        let (loc, reason) = file_error(&v);
        assert_eq!(loc, "schemas[0] (batch): steps[0] (1.0.0 -> 2.0.0)");
        assert_eq!(
            reason,
            "a step needs exactly one of \"ops\" and \"command\", not both"
        );
        let mut v = valid();
        v["schemas"][1]["steps"][0] = json!({"from": 1, "to": 2});
        let (loc, reason) = file_error(&v);
        assert_eq!(loc, "schemas[1] (prefs): steps[0] (1 -> 2)");
        assert_eq!(
            reason,
            "a step needs exactly one of \"ops\" and \"command\""
        );
    }

    #[test]
    fn malformed_members() {
        let cases = [
            (json!([]), "top level", "must be an object"),
            (json!({}), "top level", "missing member \"schemas\""),
            (
                json!({"schemas": {}}),
                "top level",
                "member \"schemas\" must be an array",
            ),
            (json!({"schemas": [1]}), "schemas[0]", "must be an object"),
            (
                json!({"schemas": [{"pattern": "a", "current": 1}]}),
                "schemas[0]",
                "missing member \"name\"",
            ),
            (
                json!({"schemas": [{"name": 5, "pattern": "a", "current": 1}]}),
                "schemas[0]",
                "member \"name\" must be a string",
            ),
            (
                json!({"schemas": [{"name": "a", "current": 1}]}),
                "schemas[0] (a)",
                "missing member \"pattern\"",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a"}]}),
                "schemas[0] (a)",
                "missing member \"current\"",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": "1.0"}]}),
                "schemas[0] (a)",
                "member \"current\": invalid version \"1.0\": must have exactly three parts MAJOR.MINOR.PATCH",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 1, "steps": {}}]}),
                "schemas[0] (a)",
                "member \"steps\" must be an array",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"from": 1, "to": 2, "command": []}]}]}),
                "schemas[0] (a): steps[0] (1 -> 2)",
                "member \"command\" must be a non-empty array of strings",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"from": 1, "to": 2, "command": ["sh", 1]}]}]}),
                "schemas[0] (a): steps[0] (1 -> 2)",
                "member \"command\" must be a non-empty array of strings",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"from": 1, "to": 2, "ops": {}}]}]}),
                "schemas[0] (a): steps[0] (1 -> 2)",
                "member \"ops\" must be an array",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"from": -1, "to": 2, "ops": []}]}]}),
                "schemas[0] (a): steps[0]",
                "member \"from\": invalid version -1: a number version must be a non-negative integer",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"to": 2, "ops": []}]}]}),
                "schemas[0] (a): steps[0]",
                "missing member \"from\"",
            ),
            (
                json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
                    "steps": [{"from": 1, "to": 2, "ops": [{"op": "nope", "path": ""}]}]}]}),
                "schemas[0] (a): steps[0] (1 -> 2)",
                "ops[0]: unknown op \"nope\" (expected one of add, remove, replace, move, copy, test, rename, set_default, remove_field, move_value)",
            ),
            (
                json!({"schemas": [
                    {"name": "a", "pattern": "a", "current": 1},
                    {"name": "a", "pattern": "b", "current": 1}]}),
                "schemas[1] (a)",
                "duplicate schema name \"a\"",
            ),
        ];
        for (v, loc, reason) in cases {
            assert_eq!(file_error(&v), (loc.to_owned(), reason.to_owned()), "{v}");
        }
        let err = parse_schema_file(b"{\"schemas\": [").expect_err("truncated");
        assert!(
            err.to_string()
                .starts_with("schema file: top level: invalid JSON: "),
            "{err}"
        );
    }

    #[test]
    fn chain_and_step_errors_name_the_schema() {
        let v = json!({"schemas": [{"name": "a", "pattern": "a", "current": 3,
            "steps": [{"from": 1, "to": 2, "ops": []}]}]});
        assert_eq!(
            parse(&v).expect_err("unreachable").to_string(),
            "schema a: current version 3 is not reachable: the chain is 1 -> 2"
        );
        let v = json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
            "steps": [{"from": 1, "to": 2, "ops": [{"op": "remove", "path": "x"}]}]}]});
        assert_eq!(
            parse(&v).expect_err("bad pointer").to_string(),
            "schema a: step 1 -> 2: ops[0] (remove): invalid path \"x\": must be empty or start with '/'"
        );
        let v = json!({"schemas": [{"name": "a", "pattern": "a//b", "current": 2}]});
        assert_eq!(
            parse(&v).expect_err("bad pattern").to_string(),
            "schema a: pattern \"a//b\" has an empty segment"
        );
        let v = json!({"schemas": [{"name": "a", "pattern": "a", "current": 2,
            "steps": [{"from": "1.0.0", "to": 2, "ops": []}]}]});
        assert!(matches!(
            parse(&v),
            Err(MigrateError::Chain { problem, .. })
                if matches!(*problem, ChainProblem::MixedKinds { .. })
        ));
    }

    #[test]
    fn keeps_big_numbers_in_op_values() {
        let text = br#"{"schemas": [{"name": "a", "pattern": "a", "current": 2,
            "steps": [{"from": 1, "to": 2, "ops": [
              {"op": "add", "path": "/n", "value": 123456789012345678901234567890.10}]}]}]}"#;
        let schemas = parse_schema_file(text).expect("valid");
        let out = schemas[0].migrate("a", json!({})).expect("migrates");
        assert_eq!(
            out.value["n"].to_string(),
            "123456789012345678901234567890.10"
        );
    }
}
