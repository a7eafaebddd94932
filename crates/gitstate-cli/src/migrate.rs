//! The `migrate` and `schema` commands.

use std::io::IsTerminal;

use gitstate::{DocName, Error, Store};
use serde_json::json;

use crate::args::{Cli, SchemaAction};
use crate::commands::{parse_input, report, short, stdin_bytes};
use crate::exit::{self, Failure};
use crate::output;

pub fn migrate(
    cli: &Cli,
    store: &Store,
    names: &[String],
    dry_run: bool,
    check: bool,
    message: Option<&str>,
) -> Result<(), Failure> {
    crate::commands::doc_names(names)?;
    if check {
        let tty = std::io::stderr().is_terminal();
        let failures = store.check_migrations(|n| {
            if tty && n % 100 == 0 {
                eprint!("\rchecked {n} commits");
            }
        })?;
        if tty {
            eprintln!();
        }
        if cli.json {
            output::json(&json!({"ok": failures.is_empty(), "failures": failures}));
        } else if failures.is_empty() {
            output::line("ok: every historical snapshot migrates to the current versions");
        } else {
            for f in &failures {
                output::line(format!("{} {}: {}", short(&f.commit), f.name, f.error));
            }
        }
        return if failures.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                exit::MIGRATION_FAILED,
                format!("{} historical snapshot(s) do not migrate", failures.len()),
            ))
        };
    }
    let outcome = store.migrate(names, dry_run, message)?;
    if cli.json {
        output::json(&json!({
            "commit": outcome.commit.map(|c| c.to_string()),
            "dry_run": dry_run,
            "migrated": outcome.migrated.iter().map(|m| json!({
                "name": m.name.as_str(), "schema": m.schema,
                "from": m.from.to_string(), "to": m.to.to_string(),
                "patch": m.change.json_patch().unwrap_or_default(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    if outcome.migrated.is_empty() {
        output::line("nothing to migrate: every covered document is at its current version");
        return Ok(());
    }
    for m in &outcome.migrated {
        output::line(format!("{} ({}): {} -> {}", m.name, m.schema, m.from, m.to));
    }
    if dry_run {
        for m in &outcome.migrated {
            let label = format!("{}.json", m.name);
            let text = gitstate::diff::unified(
                m.change.before_text.as_deref().unwrap_or(""),
                m.change.after_text.as_deref().unwrap_or(""),
                &label,
                &label,
                std::io::stdout().is_terminal(),
            );
            output::line(text.trim_end_matches('\n'));
        }
        output::line("(dry run: nothing written)");
    } else if let Some(commit) = outcome.commit {
        output::line(format!(
            "{} migrate {} document(s)",
            short(&commit.to_string()),
            outcome.migrated.len()
        ));
    }
    Ok(())
}

pub fn schema(cli: &Cli, store: &Store, action: &SchemaAction) -> Result<(), Failure> {
    match action {
        SchemaAction::Put { file, message } => {
            let bytes = if file.as_os_str() == "-" {
                stdin_bytes()?
            } else {
                std::fs::read(file).map_err(|e| {
                    Failure::new(
                        exit::NOT_FOUND,
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?
            };
            gitstate::migrate::parse_schema_file(&bytes).map_err(|source| Error::Migrate {
                what: format!("schema file {}", file.display()),
                source: Box::new(source),
            })?;
            let value = parse_input(&bytes, "the schema file")?;
            let outcome = store.set_value(gitstate::SCHEMA_DOC, value, message.as_deref())?;
            report(cli, "schema", gitstate::SCHEMA_DOC, &outcome);
            Ok(())
        }
        SchemaAction::Show => {
            let doc = DocName::new(gitstate::SCHEMA_DOC).map_err(Error::from)?;
            let value = store
                .snapshot()?
                .get_value(&doc)?
                .ok_or_else(|| Error::NotFound {
                    name: doc.to_string(),
                    at: None,
                })?;
            output::json(&value);
            Ok(())
        }
    }
}
