//! User preferences: defaults for missing fields, a first-run flag, and a schema migration
//! from version 1.0.0 to 2.0.0 applied on open.
//!
//! ```sh
//! cargo run --example preferences -- /tmp/prefs-store            # first run: defaults
//! cargo run --example preferences -- /tmp/prefs-store dark 16    # change them
//! ```

use std::path::Path;

use gitstate::migrate::{SchemaBuilder, Step, Version};
use gitstate::{Options, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Version 2.0.0 of the preferences. Missing fields get their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
struct Preferences {
    version: String,
    appearance: Appearance,
    first_run: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
struct Appearance {
    theme: String,
    font_size: u32,
}

impl Default for Appearance {
    fn default() -> Self {
        Appearance {
            theme: "light".into(),
            font_size: 12,
        }
    }
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            version: "2.0.0".into(),
            appearance: Appearance::default(),
            first_run: true,
        }
    }
}

const DOC: &str = "preferences";

/// Version 1.0.0 kept `theme` and `font_size` at the top level.
fn v1_to_v2(mut doc: Value) -> Result<Value, String> {
    let obj = doc.as_object_mut().ok_or("preferences must be an object")?;
    let theme = obj.remove("theme").unwrap_or_else(|| json!("light"));
    let font_size = obj.remove("font_size").unwrap_or_else(|| json!(12));
    obj.insert(
        "appearance".into(),
        json!({"theme": theme, "font_size": font_size}),
    );
    obj.entry("first_run").or_insert(json!(false));
    Ok(doc)
}

/// Open the store with the preferences schema and bring the stored document to the
/// current version (one `migrate` commit, only when it was behind).
fn open(dir: &Path) -> Result<Store, gitstate::Error> {
    let schema = SchemaBuilder::new("preferences", DOC)
        .current(Version::Semver(2, 0, 0))
        .missing_version(Version::Semver(1, 0, 0))
        .step(
            Version::Semver(1, 0, 0),
            Version::Semver(2, 0, 0),
            Step::rust(v1_to_v2),
        )
        .build()
        .map_err(|source| gitstate::Error::Migrate {
            what: "preferences schema".into(),
            source: Box::new(source),
        })?;
    let (store, _) = Store::init(dir, Options::default().schema(schema))?;
    if store.get_value(DOC)?.is_some() {
        store.migrate(&[DOC], false, Some("migrate preferences on open"))?;
    }
    Ok(store)
}

/// The preferences, with defaults; the first call stores them and reports a first run.
fn load(store: &Store) -> Result<Preferences, gitstate::Error> {
    match store.get::<Preferences, _>(DOC)? {
        Some(p) => Ok(p),
        None => {
            let p = Preferences::default();
            store.set_value(
                DOC,
                serde_json::to_value(&p).expect("serializes"),
                Some("first run: defaults"),
            )?;
            Ok(p)
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: preferences STORE-DIR [THEME FONT-SIZE]");
        std::process::exit(2);
    };
    let result = (|| {
        let store = open(Path::new(dir))?;
        let prefs = load(&store)?;
        if prefs.first_run {
            println!("welcome! starting with the defaults");
        }
        if let (Some(theme), Some(size)) = (args.get(2), args.get(3).and_then(|s| s.parse().ok())) {
            store.update(DOC, |p: Option<Preferences>| {
                let mut p = p.unwrap_or_default();
                p.appearance = Appearance {
                    theme: theme.clone(),
                    font_size: size,
                };
                p.first_run = false;
                p
            })?;
        }
        load(&store)
    })();
    match result {
        Ok(p) => println!("{}", serde_json::to_string_pretty(&p).expect("serializes")),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_gets_defaults_and_old_documents_are_migrated_on_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s");
        let store = open(&path).expect("open");
        let p = load(&store).expect("load");
        assert!(p.first_run);
        assert_eq!(p.appearance, Appearance::default());

        // A write at the old version through a schema-aware store is migrated first.
        store
            .set_value(DOC, json!({"version": "1.0.0", "theme": "blue"}), None)
            .expect("set v1");
        let stored = store.get_value(DOC).expect("get").expect("exists");
        assert_eq!(stored["appearance"]["theme"], json!("blue"));
        assert_eq!(stored["version"], json!("2.0.0"));
        drop(store);

        // A version 1.0.0 document, as an old release (no schema) wrote it.
        let raw = Store::open(&path, Options::default()).expect("open without schema");
        raw.set_value(
            DOC,
            json!({"version": "1.0.0", "theme": "dark"}),
            Some("old release"),
        )
        .expect("store v1");
        drop(raw);

        let store = open(&path).expect("reopen migrates");
        let p = load(&store).expect("load");
        assert_eq!(p.version, "2.0.0");
        assert_eq!(
            p.appearance,
            Appearance {
                theme: "dark".into(),
                font_size: 12
            }
        );
        assert!(!p.first_run);
        let log = store.log(&Default::default()).expect("log");
        assert_eq!(log[0].op, "migrate");
        // Opening again changes nothing.
        let before = store.log(&Default::default()).expect("log").len();
        drop(store);
        let store = open(&path).expect("reopen");
        assert_eq!(store.log(&Default::default()).expect("log").len(), before);
    }
}
