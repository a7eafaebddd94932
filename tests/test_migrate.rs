//! Schemas and migrations: `migrate` (one commit, all or nothing, dry run), `--check` over
//! history, external-command steps, newer-version refusal, version checks on write.

use gitstate::migrate::{SchemaBuilder, Step, Version};
use gitstate::{Error, OldVersionWrites, Options, Store};
use gitstate_tests::{TempStore, assert_git_clean, cli, commit_count, head, run, run_with_stdin};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

fn gs(s: &TempStore, args: &[&str]) -> gitstate_tests::Run {
    let mut c = cli(EXE, &s.path);
    c.args(args);
    run(c)
}

fn put_schema(s: &TempStore, schema: &Value) -> gitstate_tests::Run {
    let mut c = cli(EXE, &s.path);
    c.args(["schema", "put", "-"]);
    run_with_stdin(c, schema.to_string().as_bytes())
}

/// `batch/*` documents: 1 → 2 renames /done to /completed; 2 → 3 runs `command`.
fn schema_file(command: &[&str]) -> Value {
    json!({"schemas": [{
        "name": "batch", "pattern": "batch/*", "current": 3, "missing_version": 1,
        "steps": [
            {"from": 1, "to": 2, "ops": [{"op": "rename", "from": "/done", "path": "/completed"}]},
            {"from": 2, "to": 3, "command": command}
        ]
    }]})
}

const ADD_FLAG: &str = r#"python3 -c 'import json,sys; d=json.load(sys.stdin); d["checked"]=True; print(json.dumps(d))'"#;

#[test]
fn migrate_moves_every_document_forward_in_one_commit() {
    let s = TempStore::init();
    assert_eq!(gs(&s, &["set", "batch/a", r#"{"done": [1]}"#]).code, 0);
    assert_eq!(
        gs(
            &s,
            &["set", "batch/b", r#"{"version": 2, "completed": []}"#]
        )
        .code,
        0
    );
    assert_eq!(gs(&s, &["set", "other", r#"{"done": 1}"#]).code, 0);
    assert_eq!(
        put_schema(&s, &schema_file(&["sh", "-c", ADD_FLAG])).code,
        0
    );
    let before = commit_count(&s.path);

    // Dry run: prints the diff, writes nothing.
    let dry = gs(&s, &["migrate", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("batch/a (batch): 1 -> 3"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("+  \"completed\""), "{}", dry.stdout);
    assert_eq!(commit_count(&s.path), before);

    let out = gs(&s, &["migrate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(commit_count(&s.path), before + 1);
    let store = s.open();
    assert_eq!(
        store.get_value("batch/a").expect("get"),
        Some(json!({"version": 3, "completed": [1], "checked": true}))
    );
    assert_eq!(
        store.get_value("batch/b").expect("get").expect("b")["version"],
        json!(3)
    );
    assert_eq!(
        store.get_value("other").expect("get"),
        Some(json!({"done": 1}))
    );
    let log = store.log(&Default::default()).expect("log");
    assert_eq!(log[0].op, "migrate");
    let trailers: Vec<String> = log[0]
        .trailers
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    assert!(
        trailers.contains(&"Gitstate-Schema: batch".to_owned()),
        "{trailers:?}"
    );
    assert!(
        trailers.contains(&"Gitstate-Migrated: batch/a 1 -> 3".to_owned()),
        "{trailers:?}"
    );
    assert!(
        trailers.contains(&"Gitstate-Migrated: batch/b 2 -> 3".to_owned()),
        "{trailers:?}"
    );
    // Nothing left behind: no commit.
    assert_eq!(gs(&s, &["migrate"]).code, 0);
    assert_eq!(commit_count(&s.path), before + 1);
    // Undo works on a migration like on any commit.
    assert_eq!(gs(&s, &["undo"]).code, 0);
    assert_eq!(
        s.open().get_value("batch/a").expect("get"),
        Some(json!({"done": [1]}))
    );
    assert_git_clean(&s.path);
}

#[test]
fn a_failing_step_writes_nothing_and_names_document_version_and_step() {
    for (command, what) in [
        (vec!["sh", "-c", "exit 3"], "exit"),
        (vec!["sh", "-c", "echo not-json"], "JSON"),
        (vec!["/no/such/program"], "no/such/program"),
    ] {
        let s = TempStore::init();
        assert_eq!(gs(&s, &["set", "batch/a", r#"{"done": []}"#]).code, 0);
        assert_eq!(gs(&s, &["set", "batch/b", r#"{"version": 3}"#]).code, 0);
        assert_eq!(put_schema(&s, &schema_file(&command)).code, 0);
        let h = head(&s.path);
        let out = gs(&s, &["migrate"]);
        assert_eq!(out.code, 9, "{command:?}: {}", out.stderr);
        let err = out.stderr.lines().next().unwrap_or_default().to_owned();
        assert!(err.starts_with("error: "), "{err}");
        assert!(
            err.contains("batch/a") && err.contains("2 -> 3") && err.contains(what),
            "{err}"
        );
        assert_eq!(head(&s.path), h, "{command:?}: something was written");
        assert_git_clean(&s.path);
    }
}

#[test]
fn newer_documents_are_never_touched() {
    let s = TempStore::init();
    assert_eq!(
        put_schema(&s, &schema_file(&["sh", "-c", ADD_FLAG])).code,
        0
    );
    // Written before the schema applied to it? No: a write at a newer version is refused.
    let out = gs(&s, &["set", "batch/new", r#"{"version": 9}"#]);
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(out.stderr.contains("newer"), "{}", out.stderr);
    // A newer document already in the store (written by plain git) stops migrate.
    std::fs::create_dir_all(s.path.join("batch")).expect("mkdir");
    std::fs::write(s.path.join("batch/new.json"), "{\"version\": 9}\n").expect("write");
    assert_eq!(gs(&s, &["commit"]).code, 0);
    let h = head(&s.path);
    let out = gs(&s, &["migrate"]);
    assert_eq!(out.code, 9);
    assert!(
        out.stderr.contains("newer") && out.stderr.contains("batch/new"),
        "{}",
        out.stderr
    );
    assert_eq!(head(&s.path), h);
}

#[test]
fn check_replays_history_and_reports_snapshots_that_cannot_migrate() {
    let s = TempStore::init();
    assert_eq!(gs(&s, &["set", "batch/a", r#"{"done": []}"#]).code, 0);
    // A historical version the chain cannot migrate: `done` is missing, so the rename fails.
    assert_eq!(gs(&s, &["set", "batch/a", r#"{"other": 1}"#]).code, 0);
    let bad = head(&s.path);
    assert_eq!(gs(&s, &["set", "batch/a", r#"{"done": [1]}"#]).code, 0);
    assert_eq!(
        put_schema(&s, &schema_file(&["sh", "-c", ADD_FLAG])).code,
        0
    );
    let h = head(&s.path);
    let out = gs(&s, &["--json", "migrate", "--check"]);
    assert_eq!(out.code, 9, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    let failures = v["failures"].as_array().expect("array");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["commit"], json!(bad));
    assert_eq!(failures[0]["name"], json!("batch/a"));
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("1 -> 2"),
        "{failures:?}"
    );
    assert_eq!(head(&s.path), h, "--check wrote something");
    // Once the bad version is out of reach of the chain, the check passes.
    let good = TempStore::init();
    assert_eq!(gs(&good, &["set", "batch/a", r#"{"done": []}"#]).code, 0);
    assert_eq!(
        put_schema(&good, &schema_file(&["sh", "-c", ADD_FLAG])).code,
        0
    );
    assert_eq!(gs(&good, &["migrate", "--check"]).code, 0);
}

#[test]
fn writes_at_old_versions_are_migrated_or_refused_by_option() {
    let schema = || {
        SchemaBuilder::new("prefs", "prefs")
            .current(Version::Int(2))
            .missing_version(Version::Int(1))
            .step(
                Version::Int(1),
                Version::Int(2),
                Step::rust(|mut v: Value| {
                    v["size"] = json!(v["size"].as_u64().unwrap_or(10) * 2);
                    Ok(v)
                }),
            )
            .build()
            .expect("schema")
    };
    let s = TempStore::init();
    let migrating = Store::open(&s.path, Options::default().schema(schema())).expect("open");
    migrating.set("prefs", &json!({"size": 3})).expect("set v1");
    assert_eq!(
        migrating.get_value("prefs").expect("get"),
        Some(json!({"size": 6, "version": 2}))
    );
    // In memory, without writing:
    let raw = Store::open(&s.path, Options::default()).expect("open");
    raw.set("prefs", &json!({"size": 5})).expect("raw write");
    let before = commit_count(&s.path);
    assert_eq!(
        migrating.get_migrated("prefs").expect("migrated"),
        Some(json!({"size": 10, "version": 2}))
    );
    assert_eq!(commit_count(&s.path), before);
    let refusing = Store::open(
        &s.path,
        Options::default()
            .schema(schema())
            .old_version_writes(OldVersionWrites::Refuse),
    )
    .expect("open");
    let err = refusing
        .set("prefs", &json!({"size": 1}))
        .expect_err("refused");
    assert!(
        matches!(err, Error::Migrate { .. }) && err.to_string().contains("older"),
        "{err}"
    );
    refusing
        .set("prefs", &json!({"size": 1, "version": 2}))
        .expect("current is fine");
    assert_eq!(commit_count(&s.path), before + 1);
}

#[test]
fn invalid_schema_files_are_refused_and_nothing_is_written() {
    let s = TempStore::init();
    let h = head(&s.path);
    for bad in [
        json!({"schemas": [{"name": "x", "pattern": "x", "current": 3, "steps": [{"from": 1, "to": 2, "ops": []}]}]}),
        json!({"schemas": [{"name": "x", "pattern": "x", "current": 2, "bogus": 1, "steps": []}]}),
        json!({"schemas": [{"name": "x", "pattern": "x", "current": 2, "steps": [{"from": 2, "to": 1, "ops": []}]}]}),
    ] {
        let out = put_schema(&s, &bad);
        assert_eq!(out.code, 9, "{bad}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
    assert_eq!(head(&s.path), h);
    assert_eq!(gs(&s, &["schema", "show"]).code, 3);
}
