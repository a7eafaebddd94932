//! The properties the fuzz targets check (`fuzz/`), as plain functions, so that `cargo test`
//! replays the committed corpus through exactly the same code (`test_fuzz_corpus`). Each
//! panics when a property is broken.

use gitstate::patch::{MAX_DEPTH, apply_json_patch, depth, json_equal};

/// JSON input: parsing never panics, and an accepted value survives canonical encoding:
/// parsing its canonical bytes gives an equal value, and encoding is idempotent.
pub fn json(data: &[u8]) {
    // The text-to-bytes path (CLI set and get) agrees with the value path byte for byte,
    // and refuses exactly what it refuses. (serde_json's value path reads an object with
    // its private number key as a number; that key is left out of the comparison.)
    let streamed = gitstate::canonicalize_json(data);
    let private_key = data
        .windows(b"$serde_json".len())
        .any(|w| w == b"$serde_json");
    let Ok(value) = gitstate::parse_json(data) else {
        assert!(
            private_key || streamed.is_err(),
            "text the value path refuses was canonicalized"
        );
        return;
    };
    if !private_key {
        assert_eq!(
            streamed.as_deref().ok(),
            Some(&gitstate::to_canonical_bytes(&value)[..]),
            "the streamed canonical form differs from the value path"
        );
    }
    let bytes = gitstate::to_canonical_bytes(&value);
    let again = gitstate::parse_json(&bytes).expect("canonical bytes parse");
    assert!(
        json_equal(&value, &again),
        "canonical form changed the value"
    );
    assert_eq!(
        gitstate::to_canonical_bytes(&again),
        bytes,
        "canonical form is not stable"
    );
}

/// Document names: validation never panics, and an accepted name maps to a relative path
/// of plain segments that never start with a dot and fit a file name.
pub fn name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = gitstate::DocName::new(text) else {
        return;
    };
    let rela = doc.rela_path();
    for segment in rela.split('/') {
        assert!(!segment.is_empty() && !segment.starts_with('.'), "{rela:?}");
        assert!(segment.len() <= 255, "{rela:?}");
        assert!(!segment.eq_ignore_ascii_case(".git"), "{rela:?}");
    }
    assert!(!rela.starts_with('/') && !rela.contains('\\'), "{rela:?}");
}

/// Revision and time parsing never panic, and accepted times are not before 1970.
pub fn revision(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = gitstate::parse_point_in_time(text);
    if let Some(t) = gitstate::parse_time(text) {
        assert!(t.seconds >= 0);
    }
}

/// Schema files: parsing never panics; an accepted file's schemas migrate a small
/// document without panicking.
pub fn schema(data: &[u8]) {
    let Ok(schemas) = gitstate::migrate::parse_schema_file(data) else {
        return;
    };
    for s in &schemas {
        for doc in [
            serde_json::json!({}),
            serde_json::json!({"version": 1, "a": [1]}),
        ] {
            // External command steps are not run by the fuzzer.
            let has_command = format!("{s:?}").contains("Command");
            if !has_command {
                let _ = s.migrate("doc", doc);
            }
        }
    }
}

/// JSON Patch: the input is a document and a patch separated by a NUL byte; applying
/// never panics, and a result is never deeper than can be read back.
pub fn patch(data: &[u8]) {
    let mut parts = data.splitn(2, |b| *b == 0);
    let (Some(doc), Some(patch)) = (parts.next(), parts.next()) else {
        return;
    };
    let (Ok(doc), Ok(patch)) = (gitstate::parse_json(doc), gitstate::parse_json(patch)) else {
        return;
    };
    if let Ok(out) = apply_json_patch(&doc, &patch) {
        assert!(
            depth(&out) <= MAX_DEPTH,
            "a patch built a document too deep to read back"
        );
        let _ = gitstate::to_canonical_bytes(&out);
    }
}

/// A store built once per process, with a short history, that [`repository`] copies and
/// mutates: its directory and the values `doc` ever had.
struct Template {
    dir: tempfile::TempDir,
    files: Vec<std::path::PathBuf>,
    doc_values: Vec<serde_json::Value>,
}

fn template() -> &'static Template {
    static TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("store");
        // A fixed time and author: the same objects, so the same file list, in every run.
        let options = gitstate::Options::default()
            .durability(gitstate::Durability::Fast)
            .maintenance(false)
            .author("fuzz <fuzz@example.invalid>")
            .commit_time(gitstate::Time::new(1_700_000_000, 0));
        let (store, _) = gitstate::Store::init(&root, options).expect("init");
        let mut doc_values = Vec::new();
        for i in 0..4 {
            let value = serde_json::json!({"n": i, "items": [i, "x"], "nested": {"k": i * 7}});
            store.set("doc", &value).expect("set");
            doc_values.push(value);
        }
        store
            .set("a/b", &serde_json::json!([1, 2, 3]))
            .expect("set");
        store.checkpoint("good", None).expect("checkpoint");
        store.set("other", &serde_json::json!("text")).expect("set");
        drop(store);
        let mut files = Vec::new();
        let mut pending = vec![root.clone()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path.clone());
                }
                files.push(path.strip_prefix(&root).expect("below").to_path_buf());
            }
        }
        files.sort();
        Template {
            dir,
            files,
            doc_values,
        }
    })
}

/// Opening a mutated repository: the input is a list of 5-byte mutations (which file, what
/// to do, where, with what byte; the last may also replace a file with the rest of the
/// input) applied to a copy of a small store. Then open, read, log, status, verify and write.
/// Properties: no panic; `doc` reads as an error or as a value it really had; a write that
/// succeeds reads back; a canary file beside the store, reachable through planted
/// symlinks, is never changed.
pub fn repository(data: &[u8]) {
    let t = template();
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("store");
    crate::copy_dir(&t.dir.path().join("store"), &root);
    let canary = work.path().join("canary");
    std::fs::write(&canary, b"canary").expect("canary");

    let mut rest = data;
    while rest.len() >= 5 {
        let (op, tail) = rest.split_at(5);
        rest = tail;
        let path = root.join(&t.files[usize::from(op[0]) % t.files.len()]);
        if std::env::var_os("GITSTATE_FUZZ_DEBUG").is_some() {
            eprintln!("mutation {op:?} on {}", path.display());
        }
        let offset = usize::from(u16::from_le_bytes([op[2], op[3]]));
        let byte = op[4];
        let Ok(mut bytes) = std::fs::read(&path) else {
            continue; // a directory, or already gone
        };
        match op[1] % 7 {
            0 if !bytes.is_empty() => {
                let i = offset % bytes.len();
                bytes[i] ^= byte | 1;
            }
            1 => bytes.truncate(offset % (bytes.len() + 1)),
            2 => {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            3 if !bytes.is_empty() => {
                let i = offset % bytes.len();
                bytes[i] = byte;
            }
            4 => bytes.insert(offset % (bytes.len() + 1), byte),
            5 => {
                bytes = rest.to_vec();
                rest = &[];
            }
            6 => {
                let _ = std::fs::remove_file(&path);
                let _ = std::os::unix::fs::symlink(&canary, &path);
                continue;
            }
            _ => continue,
        }
        // Object files are read-only.
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::write(&path, &bytes);
    }

    let options = gitstate::Options::default()
        .durability(gitstate::Durability::Fast)
        .maintenance(false)
        .lock_timeout(std::time::Duration::ZERO);
    if let Ok(store) = gitstate::Store::open(&root, options) {
        if let Ok(Some(value)) = store.get_value("doc") {
            assert!(
                t.doc_values.contains(&value),
                "doc read as a value it never had: {value}"
            );
        }
        let _ = store.get_value("a/b");
        let _ = store.list();
        let _ = store.log(&gitstate::LogOptions::default());
        let _ = store.snapshot_at("HEAD~1");
        let _ = store.snapshot_at("good");
        let _ = store.status();
        let _ = store.verify();
        let written = serde_json::json!({"n": 99});
        if store.set("doc", &written).is_ok() {
            // Whatever else is broken, a write that reports success reads back.
            if let Ok(again) = store.get_value("doc") {
                assert_eq!(
                    again,
                    Some(written),
                    "an acknowledged write reads back wrong"
                );
            }
        }
    }
    assert_eq!(
        std::fs::read(&canary).expect("canary"),
        b"canary",
        "a file outside the store was changed"
    );
}
