//! The properties the fuzz targets check (`fuzz/`), as plain functions, so that `cargo test`
//! replays the committed corpus through exactly the same code (`test_fuzz_corpus`). Each
//! panics when a property is broken.

use gitstate::patch::{MAX_DEPTH, apply_json_patch, depth, json_equal};

/// JSON input: parsing never panics, and an accepted value survives canonical encoding:
/// parsing its canonical bytes gives an equal value, and encoding is idempotent.
pub fn json(data: &[u8]) {
    let Ok(value) = gitstate::parse_json(data) else {
        return;
    };
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
