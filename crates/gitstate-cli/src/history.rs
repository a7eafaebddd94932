//! The history commands' output: show, diff, blame.

use std::io::IsTerminal;

use gitstate::{ChangeKind, DocChange, Store};
use serde_json::{Value, json};

use crate::args::{Cli, ColorArg, DiffFormat};
use crate::commands::short;
use crate::exit::{self, Failure};
use crate::output;

fn kind_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Modified => "modified",
    }
}

/// The unified text diff of one document.
fn text_diff(change: &DocChange, color: bool) -> String {
    let label = format!("{}.json", change.name);
    let (old_label, new_label) = match change.kind {
        ChangeKind::Added => ("/dev/null".to_owned(), label),
        ChangeKind::Deleted => (label, "/dev/null".to_owned()),
        ChangeKind::Modified => (label.clone(), label),
    };
    gitstate::diff::unified(
        change.before_text.as_deref().unwrap_or(""),
        change.after_text.as_deref().unwrap_or(""),
        &old_label,
        &new_label,
        color,
    )
}

fn stat_json(change: &DocChange) -> Value {
    let s = change.stat();
    json!({"name": change.name, "kind": kind_word(change.kind), "added": s.added, "removed": s.removed, "changed": s.changed})
}

fn stat_line(change: &DocChange) -> String {
    let s = change.stat();
    format!(
        "{:<9} {}  (+{} -{} ~{} values)",
        kind_word(change.kind),
        change.name,
        s.added,
        s.removed,
        s.changed
    )
}

/// Print changes in the chosen format.
fn print_changes(
    cli: &Cli,
    changes: &[DocChange],
    format: DiffFormat,
    stat: bool,
    color: bool,
) -> Result<(), Failure> {
    if stat {
        if cli.json {
            output::json(&Value::Array(changes.iter().map(stat_json).collect()));
        } else {
            for c in changes {
                output::line(stat_line(c));
            }
        }
        return Ok(());
    }
    match format {
        DiffFormat::Patch => {
            let mut docs = Vec::new();
            for c in changes {
                docs.push(
                    json!({"name": c.name, "kind": kind_word(c.kind), "patch": c.json_patch()?}),
                );
            }
            output::json(&Value::Array(docs));
        }
        DiffFormat::Text if cli.json => {
            let docs: Vec<Value> = changes
                .iter()
                .map(|c| json!({"name": c.name, "kind": kind_word(c.kind), "diff": text_diff(c, false)}))
                .collect();
            output::json(&Value::Array(docs));
        }
        DiffFormat::Text => {
            for c in changes {
                let text = text_diff(c, color);
                output::line(text.trim_end_matches('\n'));
            }
        }
    }
    Ok(())
}

fn use_color(color: ColorArg) -> bool {
    match color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub fn diff(
    cli: &Cli,
    store: &Store,
    revs: &[String],
    names: &[String],
    format: DiffFormat,
    stat: bool,
    color: ColorArg,
) -> Result<(), Failure> {
    if revs.len() > 2 {
        return Err(Failure::new(
            2,
            format!(
                "diff takes at most two revisions, got {}; put document names after --",
                revs.len()
            ),
        ));
    }
    crate::commands::doc_names(names)?;
    let changes = store.diff(
        revs.first().map(String::as_str),
        revs.get(1).map(String::as_str),
        names,
    )?;
    print_changes(cli, &changes, format, stat, use_color(color))
}

pub fn show(cli: &Cli, store: &Store, rev: Option<&str>) -> Result<(), Failure> {
    let shown = store.show(rev.unwrap_or("HEAD"))?;
    let e = &shown.entry;
    if cli.json {
        let mut changes = Vec::new();
        for c in &shown.changes {
            let mut v = stat_json(c);
            v["patch"] = c.json_patch()?;
            changes.push(v);
        }
        let mut v = serde_json::to_value(e).expect("a log entry serializes");
        v["changes"] = Value::Array(changes);
        output::json(&v);
        return Ok(());
    }
    output::line(format!("commit {}", e.commit));
    if let Some(p) = &e.parent {
        output::line(format!("parent {p}"));
    }
    output::line(format!("author {}", e.author));
    output::line(format!("time   {}", e.time));
    output::line(format!("op     {}", e.op));
    output::line("");
    for l in e.message.lines() {
        output::line(format!("    {l}"));
    }
    if !e.trailers.is_empty() {
        output::line("");
        for (k, v) in &e.trailers {
            output::line(format!("    {k}: {v}"));
        }
    }
    output::line("");
    for c in &shown.changes {
        output::line(stat_line(c));
    }
    let color = use_color(ColorArg::Auto);
    for c in &shown.changes {
        output::line(text_diff(c, color).trim_end_matches('\n'));
    }
    Ok(())
}

pub fn blame(cli: &Cli, store: &Store, name: &str, pointer: Option<&str>) -> Result<(), Failure> {
    let lines = store.blame(name, pointer).map_err(|e| {
        let not_found =
            matches!(&e, gitstate::Error::Pointer { reason, .. } if reason == "no value there");
        let mut f = Failure::from(e);
        if not_found {
            f.code = exit::NOT_FOUND;
        }
        f
    })?;
    if cli.json {
        output::json(&serde_json::to_value(&lines).expect("blame lines serialize"));
    } else {
        for l in lines {
            let ptr = if l.pointer.is_empty() {
                "(root)"
            } else {
                &l.pointer
            };
            output::line(format!(
                "{} {} {:<8} {} = {}  ({})",
                short(&l.commit),
                l.time,
                l.op,
                ptr,
                serde_json::to_string(&l.value).expect("a value serializes"),
                l.message.lines().next().unwrap_or_default()
            ));
        }
    }
    Ok(())
}
