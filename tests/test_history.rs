//! History: log filters, show, diff (text, patch, stat), blame, revisions (ids, HEAD~N,
//! reflog, time, checkpoints), rollback, undo, and edits made outside gitstate.

use gitstate::{ChangeKind, Error, Options, Store, Time};
use gitstate_tests::{Lcg, TempStore, assert_git_clean, cli, commit_count, git, head, run};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

/// A store whose commits carry increasing fixed times (one per call to `at`).
fn store_with_clock(s: &TempStore, t: i64) -> Store {
    Store::open(
        &s.path,
        Options::default()
            .durability(gitstate::Durability::Fast)
            .commit_time(Time::new(t, 0)),
    )
    .expect("open")
}

/// A random small document: a few fields, one nested, one array.
fn random_doc(rng: &mut Lcg) -> Value {
    let mut doc = json!({});
    for key in ["a", "b", "c/d", "e~f"] {
        if rng.below(3) > 0 {
            doc[key] = match rng.below(4) {
                0 => json!(rng.below(5)),
                1 => json!({"x": rng.below(3), "y": [rng.below(2), rng.below(2)]}),
                2 => json!(
                    (0..rng.below(4))
                        .map(|i| i * rng.below(3))
                        .collect::<Vec<_>>()
                ),
                _ => json!(format!("s{}", rng.below(3))),
            };
        }
    }
    doc
}

#[test]
fn diff_patches_between_any_two_revisions_turn_from_into_to() {
    let s = TempStore::init();
    let store = store_with_clock(&s, 1_800_000_000);
    let mut rng = Lcg(7);
    let mut commits = vec![head(&s.path)];
    for _ in 0..25 {
        let mut tx = store.transaction();
        for name in ["one", "two", "dir/three"] {
            match rng.below(5) {
                0 => {
                    if store.get_value(name).expect("get").is_some() {
                        tx.delete(name).expect("stage");
                    }
                }
                1 => {}
                _ => {
                    tx.set_value(name, random_doc(&mut rng)).expect("stage");
                }
            }
        }
        if tx.commit().expect("commit").commit.is_some() {
            commits.push(head(&s.path));
        }
    }
    assert!(commits.len() > 15, "the generator made too few commits");
    let mut checked = 0;
    for (i, from) in commits.iter().enumerate() {
        for to in commits.iter().skip(i) {
            for change in store
                .diff(Some(from), Some(to), &[] as &[&str])
                .expect("diff")
            {
                let before = change.before.clone().unwrap_or(Value::Null);
                let after = change.after.clone().unwrap_or(Value::Null);
                let patch = change.json_patch().expect("patch");
                let applied = gitstate::patch::apply_json_patch(&before, &patch).expect("applies");
                assert!(
                    gitstate::patch::json_equal(&applied, &after),
                    "{from}..{to} {}",
                    change.name
                );
                checked += 1;
            }
            // And the store itself agrees with the diff being empty exactly when equal.
            let same = store
                .diff(Some(from), Some(to), &[] as &[&str])
                .expect("diff")
                .is_empty();
            let a = store.snapshot_at(from).expect("at");
            let b = store.snapshot_at(to).expect("at");
            let docs_a: Vec<_> = a
                .list()
                .expect("list")
                .iter()
                .map(|n| a.get_value(n).expect("get"))
                .collect();
            let docs_b: Vec<_> = b
                .list()
                .expect("list")
                .iter()
                .map(|n| b.get_value(n).expect("get"))
                .collect();
            assert_eq!(
                same,
                a.list().expect("l") == b.list().expect("l") && docs_a == docs_b
            );
        }
    }
    assert!(checked > 100, "only {checked} document diffs checked");
}

#[test]
fn log_of_a_pointer_lists_exactly_the_commits_that_changed_it() {
    let s = TempStore::init();
    let store = store_with_clock(&s, 1_800_000_000);
    let mut rng = Lcg(11);
    let mut expected = Vec::new();
    let mut last: Option<Value> = None;
    for i in 0..60 {
        let doc = random_doc(&mut rng);
        let out = store
            .set_value("doc", json!({"n": i, "inner": doc}), None)
            .expect("set");
        let now = doc_at(&store, "/inner/b");
        if now != last {
            expected.push(out.commit.expect("n changes every time").to_string());
        }
        last = now;
    }
    let mut options = gitstate::LogOptions::default();
    options.names = vec!["doc".try_into().expect("name")];
    options.pointer = Some("/inner/b".into());
    let got: Vec<String> = store
        .log(&options)
        .expect("log")
        .into_iter()
        .rev()
        .map(|e| e.commit)
        .collect();
    assert_eq!(got, expected);
    assert!(
        expected.len() > 10 && expected.len() < 60,
        "{}",
        expected.len()
    );
}

fn doc_at(store: &Store, ptr: &str) -> Option<Value> {
    let v = store.get_value("doc").expect("get")?;
    gitstate::patch::pointer_get(&v, ptr)
        .expect("pointer")
        .cloned()
}

#[test]
fn log_filters_by_document_time_and_op() {
    let s = TempStore::init();
    let t0 = 1_800_000_000;
    store_with_clock(&s, t0).set("a", &1).expect("set");
    store_with_clock(&s, t0 + 10).set("b", &1).expect("set");
    store_with_clock(&s, t0 + 20)
        .update("a", |n: Option<u32>| n.unwrap_or(0) + 1)
        .expect("update");
    store_with_clock(&s, t0 + 30)
        .delete("b", None)
        .expect("delete");
    store_with_clock(&s, t0 + 40)
        .set("b", &2)
        .expect("re-create");
    let store = s.open();
    let log = |f: &dyn Fn(&mut gitstate::LogOptions)| {
        let mut o = gitstate::LogOptions::default();
        f(&mut o);
        store
            .log(&o)
            .expect("log")
            .into_iter()
            .map(|e| e.op)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        log(&|o| o.names = vec!["a".try_into().expect("n")]),
        ["update", "set"]
    );
    // A deleted and re-created document shows its whole history.
    assert_eq!(
        log(&|o| o.names = vec!["b".try_into().expect("n")]),
        ["set", "delete", "set"]
    );
    assert_eq!(
        log(&|o| o.names = vec!["a".try_into().expect("n"), "b".try_into().expect("n")]).len(),
        5
    );
    assert_eq!(log(&|o| o.op = Some("update".into())), ["update"]);
    assert_eq!(
        log(&|o| o.since = Some(Time::new(t0 + 20, 0))),
        ["set", "delete", "update"]
    );
    assert_eq!(
        log(&|o| o.until = Some(Time::new(t0 + 10, 0)))
            .first()
            .map(String::as_str),
        Some("set")
    );
    assert_eq!(log(&|o| o.limit = Some(2)).len(), 2);
    let entry = &store.log(&Default::default()).expect("log")[0];
    assert_eq!(entry.author, "gitstate <gitstate@localhost>");
    assert_eq!(entry.parent.as_deref().map(str::len), Some(40));
}

#[test]
fn time_travel_picks_the_newest_commit_at_or_before_the_time_also_on_ties() {
    let s = TempStore::init();
    let t0 = 1_800_000_000;
    store_with_clock(&s, t0).set("n", &1).expect("set");
    store_with_clock(&s, t0 + 100).set("n", &2).expect("set");
    // Two commits in the same second: the later one wins.
    store_with_clock(&s, t0 + 100).set("n", &3).expect("set");
    store_with_clock(&s, t0 + 200).set("n", &4).expect("set");
    let store = s.open();
    let at = |rev: &str| {
        store
            .snapshot_at(rev)
            .expect(rev)
            .get::<u32, _>("n")
            .expect("get")
    };
    assert_eq!(at("2027-01-15T08:00:00Z"), Some(1)); // t0 = 2027-01-15T08:00:00Z
    assert_eq!(at("2027-01-15T08:01:39Z"), Some(1));
    assert_eq!(at("2027-01-15T08:01:40Z"), Some(3));
    assert_eq!(at("2027-01-15T09:01:40+01:00"), Some(3));
    assert_eq!(at("2027-01-15T08:10:00Z"), Some(4));
    assert!(matches!(
        store.snapshot_at("2020-01-01"),
        Err(Error::Revision { .. })
    ));
}

#[test]
fn revision_forms_resolve() {
    let s = TempStore::init();
    let store = s.open();
    store.set("n", &1).expect("set");
    let first = head(&s.path);
    store.set("n", &2).expect("set");
    store.set("n", &3).expect("set");
    let at = |rev: &str| {
        store
            .snapshot_at(rev)
            .expect(rev)
            .get::<u32, _>("n")
            .expect("get")
    };
    assert_eq!(at("HEAD"), Some(3));
    assert_eq!(at("HEAD^"), Some(2));
    assert_eq!(at("HEAD~2"), Some(1));
    assert_eq!(at("main@{1}"), Some(2));
    assert_eq!(at("@{2}"), Some(1));
    assert_eq!(at(&first), Some(1));
    assert_eq!(at(&first[..7]), Some(1));
    store.checkpoint("one", None).expect("checkpoint");
    store.set("n", &4).expect("set");
    assert_eq!(at("one"), Some(3));
    for bad in ["nope", "HEAD~99", "main@{99}", "", "-x", "zzzz"] {
        let err = store
            .snapshot_at(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} resolved"));
        assert!(matches!(err, Error::Revision { .. }), "{bad}: {err}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn rollback_restores_documents_and_diff_against_the_target_is_empty() {
    let s = TempStore::init();
    let store = s.open();
    store.set("a", &json!({"v": 1})).expect("set");
    store.set("b", &json!([1, 2])).expect("set");
    let target = head(&s.path);
    store.set("a", &json!({"v": 2})).expect("set");
    store.delete("b", None).expect("delete");
    store.set("c", &true).expect("set");
    let before = commit_count(&s.path);
    // Only `a`:
    store.rollback(&target, &["a"], None).expect("rollback a");
    assert_eq!(store.get_value("a").expect("get"), Some(json!({"v": 1})));
    assert_eq!(store.get_value("b").expect("get"), None);
    assert!(
        store
            .diff(Some(&target), None, &["a"])
            .expect("diff")
            .is_empty()
    );
    // Everything: b comes back, c goes.
    let out = store
        .rollback(&target, &[] as &[&str], Some("back"))
        .expect("rollback");
    assert_eq!(out.changed.len(), 2);
    assert!(
        store
            .diff(Some(&target), None, &[] as &[&str])
            .expect("diff")
            .is_empty()
    );
    assert_eq!(commit_count(&s.path), before + 2);
    let log = store.log(&Default::default()).expect("log");
    assert_eq!(log[0].op, "rollback");
    assert!(
        log[0]
            .trailers
            .contains(&("Gitstate-Target".into(), target.clone()))
    );
    // Nothing left to change: no commit.
    assert!(
        store
            .rollback(&target, &[] as &[&str], None)
            .expect("again")
            .is_unchanged()
    );
    assert_eq!(commit_count(&s.path), before + 2);
    assert_git_clean(&s.path);
}

#[test]
fn undo_restores_and_undo_of_undo_redoes() {
    let s = TempStore::init();
    let store = s.open();
    store.set("n", &1).expect("set");
    store.set("n", &2).expect("set");
    store.set("m", &true).expect("set");
    store.undo(2, None).expect("undo 2");
    assert_eq!(store.get::<u32, _>("n").expect("get"), Some(1));
    assert_eq!(store.get_value("m").expect("get"), None);
    store.undo(1, None).expect("undo the undo");
    assert_eq!(store.get::<u32, _>("n").expect("get"), Some(2));
    assert_eq!(store.get_value("m").expect("get"), Some(json!(true)));
    assert!(matches!(store.undo(999, None), Err(Error::Revision { .. })));
    assert!(matches!(store.undo(0, None), Err(Error::Revision { .. })));
    assert_git_clean(&s.path);
}

#[test]
fn blame_names_the_commit_that_set_each_value() {
    let s = TempStore::init();
    let store = s.open();
    let c1 = store
        .set("doc", &json!({"a": 1, "b": {"c": [1, 2]}}))
        .expect("set")
        .commit
        .expect("c");
    let c2 = store
        .set("doc", &json!({"a": 1, "b": {"c": [1, 3]}, "d": "x"}))
        .expect("set")
        .commit
        .expect("c");
    store.set("other", &1).expect("unrelated");
    let c3 = store
        .set("doc", &json!({"a": 2, "b": {"c": [1, 3]}, "d": "x"}))
        .expect("set")
        .commit
        .expect("c");
    let lines = store.blame("doc", None).expect("blame");
    let by: std::collections::BTreeMap<_, _> = lines
        .iter()
        .map(|l| (l.pointer.as_str(), l.commit.clone()))
        .collect();
    assert_eq!(by["/a"], c3.to_string());
    assert_eq!(by["/b/c/0"], c1.to_string());
    assert_eq!(by["/b/c/1"], c2.to_string());
    assert_eq!(by["/d"], c2.to_string());
    assert_eq!(by.len(), 4);
    let one = store.blame("doc", Some("/b/c/1")).expect("blame pointer");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].value, json!(3));
    assert!(matches!(
        store.blame("doc", Some("/zz")),
        Err(Error::Pointer { .. })
    ));
    assert!(matches!(
        store.blame("missing", None),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn commits_made_with_plain_git_show_up_in_log_diff_and_blame() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"k": 1})).expect("set");
    std::fs::write(s.path.join("doc.json"), "{\n  \"k\": 2\n}\n").expect("edit");
    assert_eq!(git(&s.path, &["commit", "-qam", "by hand"]).code, 0);
    let store = s.open();
    let log = store.log(&Default::default()).expect("log");
    assert_eq!(
        (log[0].op.as_str(), log[0].author.as_str()),
        ("external", "plain git <git@example.invalid>")
    );
    let shown = store.show("HEAD").expect("show");
    assert_eq!(shown.changes.len(), 1);
    assert_eq!(shown.changes[0].kind, ChangeKind::Modified);
    let blame = store.blame("doc", None).expect("blame");
    assert_eq!(blame[0].op, "external");
}

#[test]
fn outside_edits_are_shown_then_committed_or_restored() {
    let s = TempStore::init();
    let store = s.open();
    store.set("doc", &json!({"k": 1})).expect("set");
    store.set("gone", &1).expect("set");
    std::fs::write(s.path.join("doc.json"), "{\"k\": 2}").expect("edit");
    std::fs::remove_file(s.path.join("gone.json")).expect("rm");
    std::fs::write(s.path.join("new.json"), "[1]").expect("new");
    let changes = store.diff(None, None, &[] as &[&str]).expect("diff");
    let kinds: Vec<_> = changes.iter().map(|c| (c.name.as_str(), c.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("doc", ChangeKind::Modified),
            ("gone", ChangeKind::Deleted),
            ("new", ChangeKind::Added)
        ]
    );

    // An invalid file blocks the commit and names the file.
    std::fs::write(s.path.join("bad.json"), "{oops").expect("bad");
    let before = commit_count(&s.path);
    let err = store.commit_outside_edits(None).expect_err("invalid JSON");
    assert!(
        matches!(err, Error::InvalidJson { .. }) && err.to_string().contains("bad"),
        "{err}"
    );
    std::fs::write(s.path.join("bad name.json"), "1").expect("bad name");
    std::fs::remove_file(s.path.join("bad.json")).expect("rm");
    let err = store.commit_outside_edits(None).expect_err("invalid name");
    assert!(matches!(err, Error::InvalidName(_)), "{err}");
    assert_eq!(commit_count(&s.path), before);
    std::fs::remove_file(s.path.join("bad name.json")).expect("rm");

    // Restore one document, commit the rest.
    assert_eq!(store.restore(&["doc"]).expect("restore"), ["doc.json"]);
    assert_eq!(store.get_value("doc").expect("get"), Some(json!({"k": 1})));
    let out = store.commit_outside_edits(Some("by hand")).expect("commit");
    assert_eq!(
        out.changed.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        ["gone", "new"]
    );
    assert_eq!(store.get_value("new").expect("get"), Some(json!([1])));
    assert_eq!(store.get_value("gone").expect("get"), None);
    // The committed file is rewritten in canonical form and the tree is clean.
    assert_eq!(
        std::fs::read_to_string(s.path.join("new.json")).expect("read"),
        "[\n  1\n]\n"
    );
    assert!(store.status().expect("status").drift.is_empty());
    assert_git_clean(&s.path);
}

#[test]
fn checkpoints_are_labels_for_states() {
    let s = TempStore::init();
    let store = s.open();
    store.set("n", &1).expect("set");
    let cp = store
        .checkpoint("release-1", Some("first release"))
        .expect("checkpoint");
    assert_eq!(cp.commit, head(&s.path));
    assert!(matches!(
        store.checkpoint("release-1", None),
        Err(Error::Conflict { .. })
    ));
    for bad in ["a/b", "..", ".x", "x y", ""] {
        assert!(
            matches!(store.checkpoint(bad, None), Err(Error::InvalidName(_))),
            "{bad}"
        );
    }
    let store = store_with_clock(&s, 1_800_000_100);
    store.set("n", &2).expect("set");
    store.checkpoint("later", None).expect("checkpoint");
    let all = store.checkpoints().expect("list");
    assert_eq!(
        all.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
        ["release-1", "later"]
    );
    assert_eq!(all[0].message, "first release");
    assert_eq!(
        store
            .snapshot_at("release-1")
            .expect("at")
            .get::<u32, _>("n")
            .expect("get"),
        Some(1)
    );
    // It is an ordinary annotated git tag.
    assert_eq!(
        git(&s.path, &["cat-file", "-t", "release-1"]).stdout.trim(),
        "tag"
    );
    assert_git_clean(&s.path);
}

#[test]
fn cli_history_commands_work_end_to_end() {
    let s = TempStore::init();
    let c = |args: &[&str]| {
        let mut cmd = cli(EXE, &s.path);
        cmd.args(args);
        run(cmd)
    };
    assert_eq!(c(&["set", "doc", r#"{"a": 1, "b": [1]}"#]).code, 0);
    assert_eq!(c(&["checkpoint", "v1"]).code, 0);
    assert_eq!(c(&["set", "doc", r#"{"a": 2, "b": [1]}"#]).code, 0);
    let d = c(&["diff", "v1", "--color", "never"]);
    assert_eq!(d.code, 0);
    assert!(
        d.stdout.contains("-  \"a\": 1,\n+  \"a\": 2,"),
        "{}",
        d.stdout
    );
    let p = c(&["diff", "v1", "HEAD", "--format", "patch"]);
    let v: Value = serde_json::from_str(&p.stdout).expect("json");
    assert_eq!(
        v[0]["patch"],
        json!([{"op": "replace", "path": "/a", "value": 2}])
    );
    let st = c(&["--json", "diff", "v1", "--stat"]);
    let v: Value = serde_json::from_str(&st.stdout).expect("json");
    assert_eq!(v[0]["changed"], json!(1));
    let b = c(&["--json", "blame", "doc", "--pointer", "/a"]);
    let v: Value = serde_json::from_str(&b.stdout).expect("json");
    assert_eq!(v[0]["value"], json!(2));
    let sh = c(&["show"]);
    assert!(
        sh.stdout.contains("Gitstate-Op: set") && sh.stdout.contains("modified  doc"),
        "{}",
        sh.stdout
    );
    assert_eq!(c(&["rollback", "v1"]).code, 0);
    assert_eq!(c(&["get", "doc", "--pointer", "/a"]).stdout.trim(), "1");
    assert_eq!(c(&["undo"]).code, 0);
    assert_eq!(c(&["get", "doc", "--pointer", "/a"]).stdout.trim(), "2");
    let cps = c(&["--json", "checkpoints"]);
    let v: Value = serde_json::from_str(&cps.stdout).expect("json");
    assert_eq!(v[0]["label"], json!("v1"));
    // Errors name the thing and write nothing.
    let before = commit_count(&s.path);
    let r = c(&["rollback", "no-such-rev"]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.starts_with("error: ") && r.stderr.contains("no-such-rev"),
        "{}",
        r.stderr
    );
    assert_eq!(c(&["checkpoint", "v1"]).code, 6);
    assert_eq!(c(&["log", "--since", "yesterday-ish"]).code, 4);
    assert_eq!(c(&["diff", "a", "b", "c"]).code, 2);
    assert_eq!(commit_count(&s.path), before);
    // Outside edits through the CLI.
    std::fs::write(s.path.join("doc.json"), "{\"a\": 9}").expect("edit");
    let d = c(&["diff", "--color", "never"]);
    assert!(d.stdout.contains("+{\"a\": 9}"), "{}", d.stdout);
    assert_eq!(c(&["commit", "-m", "hand"]).code, 0);
    assert_eq!(c(&["get", "doc", "--pointer", "/a"]).stdout.trim(), "9");
    std::fs::write(s.path.join("doc.json"), "junk").expect("edit");
    assert_eq!(c(&["commit"]).code, 4);
    assert_eq!(c(&["restore", "doc"]).code, 0);
    assert_git_clean(&s.path);
}
