//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the
//! fuzz targets run, so every input a fuzzer kept is a regression test.

use std::path::Path;

/// A fuzz target's property check.
type Check = fn(&[u8]);

#[test]
fn the_fuzz_corpus_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let targets: [(&str, Check); 5] = [
        ("json", gitstate_tests::fuzz::json),
        ("name", gitstate_tests::fuzz::name),
        ("revision", gitstate_tests::fuzz::revision),
        ("schema", gitstate_tests::fuzz::schema),
        ("patch", gitstate_tests::fuzz::patch),
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
