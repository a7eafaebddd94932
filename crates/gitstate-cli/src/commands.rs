//! One function per command: call the library, print the outcome.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use gitstate::{DocName, Durability, Error, LockState, Options, Sharing, Store, WriteOutcome};
use serde_json::{Value, json};

use crate::args::{Cli, Command, DurabilityArg, SharedArg};
use crate::exit::{self, Failure};
use crate::output;

pub fn run(cli: &Cli) -> Result<(), Failure> {
    let options = options(cli)?;
    let dir = cli.store.clone().unwrap_or_else(|| PathBuf::from("."));
    match &cli.command {
        Command::Init {
            dir: target,
            shared,
        } => {
            let sharing = match shared {
                None => Sharing::Private,
                Some(SharedArg::Group) => Sharing::Group,
                Some(SharedArg::All) => Sharing::All,
            };
            init(cli, target.clone().unwrap_or(dir), options.shared(sharing))
        }
        command => {
            // A command that only writes documents has its write repair what a crash left,
            // under the store lock, instead of opening checking for it first (about 0.15 ms
            // of a one-shot command).
            let writes = matches!(
                command,
                Command::Set { .. }
                    | Command::Rm { .. }
                    | Command::Patch { .. }
                    | Command::Update { .. }
            );
            let store = Store::open(&dir, options.recover_on_open(!writes))?;
            match command {
                Command::Init { .. } => unreachable!("handled above"),
                Command::Set {
                    name,
                    value,
                    message,
                } => set(cli, &store, name, value.as_deref(), message.as_deref()),
                Command::Get {
                    name,
                    at,
                    pointer,
                    migrated,
                } => get(&store, name, at.as_deref(), pointer.as_deref(), *migrated),
                Command::Migrate {
                    names,
                    dry_run,
                    check,
                    message,
                } => crate::migrate::migrate(
                    cli,
                    &store,
                    names,
                    *dry_run,
                    *check,
                    message.as_deref(),
                ),
                Command::Schema { action } => crate::migrate::schema(cli, &store, action),
                Command::Rm { name, message } => {
                    let outcome = store.delete(name.as_str(), message.as_deref())?;
                    report(cli, "rm", name, &outcome);
                    Ok(())
                }
                Command::Ls { at } => ls(cli, &store, at.as_deref()),
                Command::Patch {
                    name,
                    json_patch,
                    message,
                } => patch(cli, &store, name, *json_patch, message.as_deref()),
                Command::Update {
                    name,
                    message,
                    command,
                } => update(cli, &store, name, message.as_deref(), command),
                Command::Log {
                    names,
                    pointer,
                    max_count,
                    since,
                    until,
                    op,
                } => {
                    let mut options = gitstate::LogOptions::default();
                    options.names = doc_names(names)?;
                    options.pointer = pointer.clone();
                    options.limit = *max_count;
                    options.since = since
                        .as_deref()
                        .map(|t| time_arg("--since", t))
                        .transpose()?;
                    options.until = until
                        .as_deref()
                        .map(|t| time_arg("--until", t))
                        .transpose()?;
                    options.op = op.clone();
                    log(cli, &store, &options)
                }
                Command::Show { rev } => crate::history::show(cli, &store, rev.as_deref()),
                Command::Diff {
                    revs,
                    names,
                    format,
                    stat,
                    color,
                } => crate::history::diff(cli, &store, revs, names, *format, *stat, *color),
                Command::Blame { name, pointer } => {
                    crate::history::blame(cli, &store, name, pointer.as_deref())
                }
                Command::Rollback {
                    rev,
                    names,
                    message,
                } => {
                    let outcome = store.rollback(rev, names, message.as_deref())?;
                    report(cli, "rollback", &format!("to {rev}"), &outcome);
                    Ok(())
                }
                Command::Undo { n, message } => {
                    let outcome = store.undo(*n, message.as_deref())?;
                    report(cli, "undo", &format!("{n} commit(s)"), &outcome);
                    Ok(())
                }
                Command::Checkpoint { label, message } => {
                    let cp = store.checkpoint(label, message.as_deref())?;
                    if cli.json {
                        output::json(&serde_json::to_value(&cp).expect("a checkpoint serializes"));
                    } else {
                        output::line(format!("checkpoint {} at {}", cp.label, short(&cp.commit)));
                    }
                    Ok(())
                }
                Command::Checkpoints => {
                    let all = store.checkpoints()?;
                    if cli.json {
                        output::json(&serde_json::to_value(&all).expect("checkpoints serialize"));
                    } else {
                        for cp in all {
                            output::line(format!(
                                "{} {} {} {}",
                                cp.label,
                                short(&cp.commit),
                                cp.time,
                                cp.message
                            ));
                        }
                    }
                    Ok(())
                }
                Command::Commit { message } => {
                    let outcome = store.commit_outside_edits(message.as_deref())?;
                    report(cli, "commit", "outside edits", &outcome);
                    Ok(())
                }
                Command::Restore { names } => {
                    let restored = store.restore(names)?;
                    if cli.json {
                        output::json(&json!({ "restored": restored }));
                    } else if restored.is_empty() {
                        output::line("nothing to restore");
                    } else {
                        for p in restored {
                            output::line(format!("restored {p}"));
                        }
                    }
                    Ok(())
                }
                Command::Gc => {
                    let out = store.gc()?;
                    if cli.json {
                        output::json(&serde_json::to_value(out).expect("serializes"));
                    } else {
                        output::line(format!(
                            "packed: objects {} KiB -> {} KiB",
                            out.bytes_before / 1024,
                            out.bytes_after / 1024
                        ));
                    }
                    Ok(())
                }
                Command::Status => status(cli, &store),
                Command::Verify => verify(cli, &store),
                Command::Recover => recover(cli, &store),
            }
        }
    }
}

fn options(cli: &Cli) -> Result<Options, Failure> {
    if !(cli.lock_timeout.is_finite() && cli.lock_timeout >= 0.0 && cli.lock_timeout < 1e9) {
        return Err(Failure::new(
            2,
            format!(
                "--lock-timeout {} is not a number of seconds",
                cli.lock_timeout
            ),
        ));
    }
    let durability = match cli.durability {
        DurabilityArg::Full => Durability::Full,
        DurabilityArg::Fast => Durability::Fast,
    };
    Ok(Options::default()
        .durability(durability)
        .lock_timeout(Duration::from_secs_f64(cli.lock_timeout)))
}

fn init(cli: &Cli, dir: PathBuf, options: Options) -> Result<(), Failure> {
    let (store, outcome) = Store::init(&dir, options)?;
    let created = outcome == gitstate::InitOutcome::Created;
    if cli.json {
        output::json(&json!({
            "store": dir,
            "created": created,
            "head": store.head()?.map(|id| id.to_string()),
        }));
    } else if created {
        output::line(format!("created store {}", dir.display()));
    } else {
        output::line(format!(
            "store {} already exists; nothing changed",
            dir.display()
        ));
    }
    Ok(())
}

/// Read all of stdin.
pub fn stdin_bytes() -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(exit::GENERAL, format!("cannot read stdin: {e}")))?;
    Ok(buf)
}

/// Parse JSON input meant for `what`.
pub fn parse_input(bytes: &[u8], what: &str) -> Result<Value, Failure> {
    gitstate::parse_json(bytes).map_err(|source| {
        Failure::from(Error::InvalidJson {
            what: what.to_owned(),
            source,
        })
    })
}

fn set(
    cli: &Cli,
    store: &Store,
    name: &str,
    json: Option<&str>,
    message: Option<&str>,
) -> Result<(), Failure> {
    // Validate the name before reading stdin, so a bad name fails fast.
    let doc = DocName::new(name).map_err(Error::from)?;
    let bytes = match json {
        None | Some("-") => stdin_bytes()?,
        Some(text) => text.as_bytes().to_vec(),
    };
    // Straight from text to canonical bytes: memory stays near the document's size.
    let outcome = store.set_json(&doc, &bytes, message)?;
    drop(bytes);
    report(cli, "set", name, &outcome);
    Ok(())
}

/// Print what a write did.
pub fn report(cli: &Cli, op: &str, name: &str, outcome: &WriteOutcome) {
    if let Some(why) = &outcome.worktree_pending {
        eprintln!(
            "warning: committed, but the working tree was not updated ({why}); the next command repairs it"
        );
    }
    if cli.json {
        output::json(&json!({
            "commit": outcome.commit.map(|c| c.to_string()),
            "changed": outcome.changed.iter().map(DocName::as_str).collect::<Vec<_>>(),
        }));
    } else {
        match outcome.commit {
            Some(commit) => output::line(format!("{} {op} {name}", short(&commit.to_string()))),
            None => output::line(format!(
                "unchanged: {name} already holds this value; no commit"
            )),
        }
    }
}

pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn get(
    store: &Store,
    name: &str,
    at: Option<&str>,
    pointer: Option<&str>,
    migrated: bool,
) -> Result<(), Failure> {
    let doc = DocName::new(name).map_err(Error::from)?;
    if !migrated && pointer.is_none() {
        // The whole document: canonical text from the stored bytes, with no tree of values.
        let snapshot = match at {
            Some(rev) => store.snapshot_at(rev)?,
            None => store.snapshot()?,
        };
        let bytes = snapshot.get_bytes(&doc)?.ok_or_else(|| Error::NotFound {
            name: doc.to_string(),
            at: at.map(str::to_owned),
        })?;
        let text = gitstate::canonicalize_json(&bytes).map_err(|source| Error::InvalidJson {
            what: format!("stored document {doc}"),
            source,
        })?;
        drop(bytes);
        output::line(String::from_utf8_lossy(&text).trim_end());
        return Ok(());
    }
    let found = if migrated {
        store.get_migrated(doc.as_str())?
    } else {
        let snapshot = match at {
            Some(rev) => store.snapshot_at(rev)?,
            None => store.snapshot()?,
        };
        snapshot.get_value(&doc)?
    };
    let value = found.ok_or_else(|| Error::NotFound {
        name: doc.to_string(),
        at: at.map(str::to_owned),
    })?;
    let shown = match pointer {
        None => value,
        Some(ptr) => {
            let pointer_error = |reason: String| Error::Pointer {
                name: doc.to_string(),
                pointer: ptr.to_owned(),
                reason,
            };
            match gitstate::patch::pointer_get(&value, ptr) {
                Ok(Some(v)) => v.clone(),
                Ok(None) => {
                    return Err(Failure {
                        code: exit::NOT_FOUND,
                        ..Failure::from(pointer_error("no value there".into()))
                    });
                }
                Err(e) => return Err(pointer_error(e.to_string()).into()),
            }
        }
    };
    // The document is JSON already: the same output with or without --json.
    let text = String::from_utf8_lossy(&gitstate::to_canonical_bytes(&shown)).into_owned();
    output::line(text.trim_end());
    Ok(())
}

fn ls(cli: &Cli, store: &Store, at: Option<&str>) -> Result<(), Failure> {
    let snapshot = match at {
        Some(rev) => store.snapshot_at(rev)?,
        None => store.snapshot()?,
    };
    let names = snapshot.list()?;
    if cli.json {
        output::json(&json!(
            names.iter().map(DocName::as_str).collect::<Vec<_>>()
        ));
    } else {
        for n in names {
            output::line(n.as_str());
        }
    }
    Ok(())
}

fn patch(
    cli: &Cli,
    store: &Store,
    name: &str,
    json_patch: bool,
    message: Option<&str>,
) -> Result<(), Failure> {
    let doc = DocName::new(name).map_err(Error::from)?;
    let patch = parse_input(&stdin_bytes()?, &format!("patch of {doc}"))?;
    let outcome = if json_patch {
        store.json_patch(&doc, &patch, message)?
    } else {
        store.merge_patch(&doc, &patch, message)?
    };
    report(cli, "patch", name, &outcome);
    Ok(())
}

fn update(
    cli: &Cli,
    store: &Store,
    name: &str,
    message: Option<&str>,
    command: &[String],
) -> Result<(), Failure> {
    let doc = DocName::new(name).map_err(Error::from)?;
    let outcome = store.update_value(&doc, message, |current| run_filter(command, current))?;
    report(cli, "update", name, &outcome);
    Ok(())
}

/// Run `command` (no shell) with `current` on stdin; its stdout must be one JSON value.
fn run_filter(command: &[String], current: Option<Value>) -> Result<Value, String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "no command given after --".to_owned())?;
    let input = gitstate::to_canonical_bytes(&current.unwrap_or(Value::Null));
    let mut child = Process::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {program:?}: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let writer = std::thread::spawn(move || {
        // A command that does not read its input is fine: ignore a closed pipe.
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {program:?}: {e}"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!(
            "command {program:?} failed ({}); nothing written",
            out.status
        ));
    }
    gitstate::parse_json(&out.stdout)
        .map_err(|e| format!("output of {program:?} is not valid JSON ({e}); nothing written"))
}

/// Validate document names given on the command line.
pub fn doc_names(names: &[String]) -> Result<Vec<DocName>, Failure> {
    names
        .iter()
        .map(|n| DocName::new(n).map_err(|e| Failure::from(Error::from(e))))
        .collect()
}

fn time_arg(flag: &str, text: &str) -> Result<gitstate::Time, Failure> {
    gitstate::parse_point_in_time(text).ok_or_else(|| {
        Failure::new(
            exit::INVALID,
            format!("{flag} {text:?} is not a time (RFC 3339, or YYYY-MM-DD[THH:MM[:SS]])"),
        )
    })
}

fn log(cli: &Cli, store: &Store, options: &gitstate::LogOptions) -> Result<(), Failure> {
    let entries = store.log(options)?;
    if cli.json {
        output::json(&serde_json::to_value(&entries).expect("log entries serialize"));
    } else {
        for e in entries {
            output::line(format!(
                "{} {} {:<8} {}",
                short(&e.commit),
                e.time,
                e.op,
                e.message.lines().next().unwrap_or_default()
            ));
        }
    }
    Ok(())
}

fn status(cli: &Cli, store: &Store) -> Result<(), Failure> {
    let status = store.status()?;
    let (lock_text, lock_json) = match &status.lock {
        LockState::Free => ("free".to_owned(), json!({"state": "free"})),
        LockState::Stale(h) => (
            format!("free (stale record of {h}, who died holding it)"),
            json!({"state": "stale", "holder": h}),
        ),
        LockState::Held(h) => (
            h.as_ref()
                .map_or_else(|| "held".to_owned(), |h| format!("held by {h}")),
            json!({"state": "held", "holder": h}),
        ),
    };
    let drift: Vec<(String, &str)> = status
        .drift
        .iter()
        .map(|d| match d {
            gitstate::Drift::Missing(p) => (p.clone(), "missing"),
            gitstate::Drift::Modified(p) => (p.clone(), "modified"),
            gitstate::Drift::Untracked(p) => (p.clone(), "untracked"),
        })
        .collect();
    if cli.json {
        output::json(&json!({
            "head": status.head.map(|h| h.to_string()),
            "filesystem_warning": status.filesystem_warning,
            "lock": lock_json,
            "drift": drift.iter().map(|(p, k)| json!({"path": p, "kind": k})).collect::<Vec<_>>(),
            "leftovers": status.leftovers,
        }));
    } else {
        output::line(format!(
            "head: {}",
            status
                .head
                .map_or_else(|| "(none)".to_owned(), |h| h.to_string())
        ));
        output::line(format!("lock: {lock_text}"));
        if let Some(w) = &status.filesystem_warning {
            output::line(format!("warning: {w}"));
        }
        if drift.is_empty() {
            output::line("working tree: clean");
        } else {
            output::line("working tree differs from HEAD (edits made outside gitstate):");
            for (p, k) in &drift {
                output::line(format!("  {k:<10} {p}"));
            }
        }
        if status.leftovers.is_empty() {
            output::line("leftovers: none");
        } else {
            output::line("leftovers of crashed writers (`gitstate recover` removes them):");
            for p in &status.leftovers {
                output::line(format!("  {}", p.display()));
            }
        }
    }
    Ok(())
}

fn verify(cli: &Cli, store: &Store) -> Result<(), Failure> {
    let problems = store.verify()?;
    if cli.json {
        output::json(&json!({"ok": problems.is_empty(), "problems": problems}));
    } else if problems.is_empty() {
        output::line("ok: every reachable object is intact and every document is valid");
    } else {
        for p in &problems {
            output::line(format!("problem: {p}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            exit::CHECK_FAILED,
            format!("verify found {} problem(s)", problems.len()),
        ))
    }
}

fn recover(cli: &Cli, store: &Store) -> Result<(), Failure> {
    let repaired = store.recover()?;
    if cli.json {
        output::json(&json!({"repaired": repaired}));
    } else if repaired.is_empty() {
        output::line("nothing to repair");
    } else {
        for p in repaired {
            output::line(format!("repaired {p}"));
        }
    }
    Ok(())
}
