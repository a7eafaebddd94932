//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the
//! fuzz targets run, so every input a fuzzer kept is a regression test.

use std::path::Path;

/// A fuzz target's property check.
type Check = fn(&[u8]);

#[test]
fn the_fuzz_corpus_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let targets: [(&str, Check); 6] = [
        ("json", gitstate_tests::fuzz::json),
        ("name", gitstate_tests::fuzz::name),
        ("revision", gitstate_tests::fuzz::revision),
        ("schema", gitstate_tests::fuzz::schema),
        ("patch", gitstate_tests::fuzz::patch),
        ("repository", gitstate_tests::fuzz::repository),
    ];
    for (target, check) in targets {
        let dir = root.join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("entry").path();
            let data = std::fs::read(&path).expect("read");
            check(&data);
            count += 1;
        }
        assert!(count >= 3, "{target}: only {count} corpus inputs");
    }
}

/// `GITSTATE_FUZZ_REPLAY=TARGET:FILE` runs one input (a crash a fuzzer wrote) through its
/// target's check.
#[test]
fn replay_one_fuzz_input_when_asked() {
    let Ok(spec) = std::env::var("GITSTATE_FUZZ_REPLAY") else {
        return;
    };
    let (target, file) = spec.split_once(':').expect("TARGET:FILE");
    let data = std::fs::read(file).expect("read the input");
    match target {
        "json" => gitstate_tests::fuzz::json(&data),
        "name" => gitstate_tests::fuzz::name(&data),
        "revision" => gitstate_tests::fuzz::revision(&data),
        "schema" => gitstate_tests::fuzz::schema(&data),
        "patch" => gitstate_tests::fuzz::patch(&data),
        "repository" => gitstate_tests::fuzz::repository(&data),
        other => panic!("no fuzz target {other}"),
    }
}
