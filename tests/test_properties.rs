//! Property tests (proptest) over names, documents, patches and edit sequences. Failing
//! cases shrink to a minimal input, which proptest prints with the seed to replay it.

use gitstate::patch::{apply_json_patch, apply_merge_patch, json_equal};
use proptest::prelude::*;
use serde_json::{Value, json};

/// JSON values up to a small depth: every kind, numbers as integers, floats and long
/// decimals, keys and strings with escapes and non-ASCII.
fn value() -> impl Strategy<Value = Value> {
    let text = "[a-z\"\\\\\u{e9}\u{1f600}\n ]{0,6}";
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e12f64..1.0e12).prop_map(|f| json!(f)),
        "[1-9][0-9]{0,30}\\.[0-9]{1,20}"
            .prop_map(|t| gitstate::parse_json(t.as_bytes()).expect("number")),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any string: validation never panics; an accepted name maps to a safe relative path.
    #[test]
    fn names_are_validated_without_panic_and_accepted_ones_are_safe(name in "\\PC{0,40}|[a-z./_-]{0,20}") {
        gitstate_tests::fuzz::name(name.as_bytes());
    }

    /// Canonical bytes parse back to an equal value, are stable, and the text-to-bytes path
    /// gives the same bytes from any spelling of the value.
    #[test]
    fn canonical_form_round_trips_and_both_paths_agree(v in value()) {
        let bytes = gitstate::to_canonical_bytes(&v);
        let back = gitstate::parse_json(&bytes).expect("canonical bytes parse");
        prop_assert!(json_equal(&v, &back));
        prop_assert_eq!(gitstate::to_canonical_bytes(&back), bytes.clone());
        let compact = serde_json::to_vec(&v).expect("json");
        prop_assert_eq!(gitstate::canonicalize_json(&compact).expect("valid"), bytes);
    }

    /// The RFC 6902 patch gitstate computes between two values turns the first into the
    /// second; a merge patch of an object onto itself changes nothing.
    #[test]
    fn computed_patches_turn_from_into_to(a in value(), b in value()) {
        let patch = gitstate::diff::json_patch(&a, &b);
        let applied = apply_json_patch(&a, &patch).expect("own patch applies");
        prop_assert!(json_equal(&applied, &b), "patch {patch} gave {applied}");
        if a.is_object() {
            let empty = json!({});
            let merged = apply_merge_patch(&a, &empty);
            prop_assert!(json_equal(&merged, &a));
        }
    }
}

proptest! {
    // Each case is a store on disk: fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A sequence of sets and deletes on three documents, in one store: after every step the
    /// store holds exactly what a map would, and there is one commit per change.
    #[test]
    fn edit_sequences_match_a_model(ops in prop::collection::vec((0usize..3, prop::option::of(value())), 1..12)) {
        let s = gitstate_tests::TempStore::init();
        let options = gitstate::Options::default()
            .durability(gitstate::Durability::Fast)
            .maintenance(false);
        let store = gitstate::Store::open(&s.path, options).expect("open");
        let names = ["a", "b", "dir/c"];
        let mut model: [Option<Value>; 3] = [None, None, None];
        let start = gitstate_tests::commit_count(&s.path);
        let mut changes = 0;
        for (i, op) in ops {
            match op {
                Some(v) => {
                    let out = store.set_value(names[i], v.clone(), None).expect("set");
                    let changed = model[i].as_ref().is_none_or(|m| !json_equal(m, &v));
                    prop_assert_eq!(out.commit.is_some(), changed);
                    changes += usize::from(changed);
                    model[i] = Some(v);
                }
                None if model[i].is_some() => {
                    store.delete(names[i], None).expect("delete");
                    changes += 1;
                    model[i] = None;
                }
                None => {
                    prop_assert!(store.delete(names[i], None).is_err());
                }
            }
            for (k, name) in names.iter().enumerate() {
                let stored = store.get_value(*name).expect("get");
                prop_assert_eq!(stored.is_some(), model[k].is_some());
                if let (Some(stored), Some(want)) = (stored, &model[k]) {
                    prop_assert!(json_equal(&stored, want));
                }
            }
        }
        prop_assert_eq!(gitstate_tests::commit_count(&s.path) - start, changes);
    }
}
