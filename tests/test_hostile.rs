//! Hostile input: names that try to leave the store, JSON that tries to crash or bend the
//! parser. A canary file outside the store must never be touched.

use gitstate::DocName;
use gitstate_tests::{Lcg, TempStore, assert_git_clean, cli, commit_count, run, run_with_stdin};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

const HOSTILE: &[&str] = &[
    "../x",
    "../../etc/passwd",
    "/etc/x",
    "/",
    "a/../../b",
    "a/./b",
    ".",
    "..",
    "./x",
    "x/..",
    ".git",
    ".GIT",
    ".Git/config",
    "a/.git",
    "a/.git/b",
    "git~1",
    "GIT~1/x",
    ".gitmodules",
    ".hidden",
    "a/.b",
    "x\0y",
    "x\ny",
    "x\ry",
    "x\ty",
    "\u{1b}[31m",
    "x\u{7f}",
    "a\\b",
    "..\\x",
    "a//b",
    "a/",
    "/a",
    "",
    " ",
    "trailing.",
    "trailing ",
    "a /b",
    "a\u{2215}b",
    "a\u{2044}b",
    "a\u{ff0f}b",
    "caf\u{e9}",
    "\u{202e}gnp.exe",
    "x:y",
    "x*y",
    "x?y",
    "x|y",
    "x<y",
    "x\"y",
    "CON ",
    "~user",
];

#[test]
fn hostile_names_are_refused_with_nothing_written_and_nothing_touched_outside() {
    let s = TempStore::init();
    let outside = s.path.parent().expect("parent").join("canary.json");
    std::fs::write(&outside, "canary").expect("canary");
    let before = commit_count(&s.path);
    let mut refused = 0;
    for name in HOSTILE {
        // NUL cannot be passed as a process argument: the library checks that one.
        if name.contains('\0') {
            assert!(DocName::new(name).is_err());
            refused += 1;
            continue;
        }
        let mut c = cli(EXE, &s.path);
        c.args(["set", name, "1"]);
        let r = run(c);
        assert_eq!(r.code, 4, "{name:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("error: invalid document name"),
            "{name:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{name:?}: {}", r.stderr);
        refused += 1;
    }
    assert!(refused >= 40, "only {refused} hostile names refused");
    assert_eq!(commit_count(&s.path), before);
    assert_eq!(std::fs::read_to_string(&outside).expect("canary"), "canary");
    assert_git_clean(&s.path);
}

/// A random string over an alphabet rich in separators, dots and odd characters.
fn random_name(rng: &mut Lcg) -> String {
    const PIECES: &[&str] = &[
        "a",
        "b",
        "Z",
        "0",
        "9",
        "_",
        "-",
        ".",
        "..",
        "/",
        "//",
        "\\",
        ".git",
        "GIT",
        "~1",
        " ",
        "\n",
        "\u{e9}",
        "\u{2215}",
        ":",
        "*",
        "x",
        "long-segment-name",
    ];
    let len = 1 + rng.below(12) as usize;
    (0..len)
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

#[test]
fn ten_thousand_generated_names_either_fail_or_stay_inside_the_store() {
    let mut rng = Lcg(0xbad);
    let mut accepted = 0;
    for _ in 0..10_000 {
        let name = random_name(&mut rng);
        let Ok(doc) = DocName::new(&name) else {
            continue;
        };
        accepted += 1;
        let rela = doc.rela_path();
        let path = std::path::Path::new(&rela);
        assert!(path.is_relative(), "{name:?}");
        for component in path.components() {
            match component {
                std::path::Component::Normal(c) => {
                    let c = c.to_str().expect("utf-8");
                    assert!(!c.starts_with('.'), "{name:?}");
                    assert!(!c.eq_ignore_ascii_case(".git"), "{name:?}");
                    assert!(c.len() <= 255, "{name:?}");
                }
                other => panic!("{name:?} has component {other:?}"),
            }
        }
    }
    assert!(
        accepted > 500,
        "the generator produced only {accepted} valid names"
    );
}

#[test]
fn deep_nesting_and_non_json_numbers_are_refused_without_crashing() {
    let s = TempStore::init();
    let before = commit_count(&s.path);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    for input in [
        deep.as_str(),
        deep_obj.as_str(),
        "NaN",
        "[Infinity]",
        "-Infinity",
        "[1e]",
        "\u{feff}{}",
        "[\"\\ud800\"]",
    ] {
        let mut c = cli(EXE, &s.path);
        c.args(["set", "doc", "-"]);
        let r = run_with_stdin(c, input.as_bytes());
        assert_eq!(r.code, 4, "{}: {}", &input[..input.len().min(20)], r.stderr);
        assert!(
            r.stderr.starts_with("error: invalid JSON for document doc"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(commit_count(&s.path), before);
}

#[test]
fn duplicate_keys_keep_the_last_value_as_documented() {
    let s = TempStore::init();
    let mut c = cli(EXE, &s.path);
    c.args(["set", "doc", r#"{"a": 1, "a": 2}"#]);
    assert_eq!(run(c).code, 0);
    let mut c = cli(EXE, &s.path);
    c.args(["get", "doc", "--pointer", "/a"]);
    assert_eq!(run(c).stdout.trim(), "2");
}

/// A large document through the CLI and back (5 MB in `cargo test`;
/// `GITSTATE_LARGE_DOC_MB=100`, as `cargo xtask torture` sets, for the 100 MB of the issue).
#[test]
fn a_large_document_is_written_and_read_back() {
    let s = TempStore::init();
    let mb = gitstate_tests::env_count("GITSTATE_LARGE_DOC_MB", 5);
    // About 26 bytes of JSON per record.
    let records = mb * 1_000_000 / 25;
    let big: Vec<serde_json::Value> = (0..records)
        .map(|i| serde_json::json!({"id": i, "name": format!("item-{i}")}))
        .collect();
    let text = serde_json::to_vec(&big).expect("json");
    drop(big);
    assert!(text.len() as u64 >= mb * 1_000_000, "{} bytes", text.len());
    let mut c = cli(EXE, &s.path);
    c.args(["--durability", "fast", "set", "big", "-"]);
    let r = run_with_stdin(c, &text);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let store = s.open();
    let back = store.get_value("big").expect("get").expect("exists");
    let last = records - 1;
    assert_eq!(back.as_array().map(Vec::len), Some(records as usize));
    assert_eq!(
        back[last as usize]["name"],
        serde_json::json!(format!("item-{last}"))
    );
    drop(back);
    // And out again through the CLI, byte for byte what the library stores.
    let mut c = cli(EXE, &s.path);
    c.args(["get", "big"]);
    let out = run(c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stored = store.snapshot().expect("snapshot");
    let bytes = stored
        .get_bytes(&DocName::new("big").expect("name"))
        .expect("bytes")
        .expect("exists");
    assert_eq!(out.stdout.as_bytes(), &bytes[..]);
}
