//! A resumable batch job: its progress is one document, checkpointed with one commit per item.
//! Kill it at any moment and start it again: it resumes at the first item neither completed
//! nor failed, and `gitstate log batch/demo` shows every step.
//!
//! ```sh
//! cargo run --example batch -- /tmp/batch-store 20          # process 20 items
//! cargo run --example batch -- /tmp/batch-store 20 --crash-after 5   # abort after 5 items
//! cargo run --example batch -- /tmp/batch-store 20          # resumes where it stopped
//! ```

use std::path::Path;

use gitstate::{Options, Store};
use serde::{Deserialize, Serialize};

/// The job's state, as stored (schema `batch`, version 2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Batch {
    version: u32,
    items: Vec<String>,
    completed: Vec<String>,
    failed: Vec<Failed>,
    status: String,
    created: String,
    updated: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Failed {
    item: String,
    error: String,
    retries: u32,
}

const DOC: &str = "batch/demo";
const MAX_RETRIES: u32 = 2;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Process one item: items whose number is divisible by 7 always fail.
fn process(item: &str) -> Result<(), String> {
    let n: u32 = item
        .trim_start_matches("item-")
        .parse()
        .map_err(|_| "bad item".to_owned())?;
    if n % 7 == 0 {
        Err(format!("item {n} is unlucky"))
    } else {
        Ok(())
    }
}

/// Run (or resume) the job over `count` items. `stop_after` stops after that many items
/// in this run, as a crash would. Returns the state at the end.
fn run(store: &Store, count: usize, stop_after: Option<usize>) -> Result<Batch, gitstate::Error> {
    // Create the job on the first run; a resumed run finds it as it was left.
    store.update(DOC, |b: Option<Batch>| {
        b.unwrap_or_else(|| Batch {
            version: 2,
            items: (1..=count).map(|i| format!("item-{i}")).collect(),
            completed: Vec::new(),
            failed: Vec::new(),
            status: "running".into(),
            created: now(),
            updated: now(),
        })
    })?;
    let mut processed = 0;
    loop {
        let state: Batch = store.get(DOC)?.expect("created above");
        let next = state
            .items
            .iter()
            .find(|i| !state.completed.contains(i) && !state.failed.iter().any(|f| &f.item == *i))
            .cloned();
        let Some(item) = next else {
            store.update(DOC, |b: Option<Batch>| {
                let mut b = b.expect("exists");
                b.status = "finished".into();
                b.updated = now();
                b
            })?;
            return Ok(store.get(DOC)?.expect("exists"));
        };
        if stop_after == Some(processed) {
            return Ok(state);
        }
        let mut retries = 0;
        let result = loop {
            match process(&item) {
                Ok(()) => break Ok(()),
                Err(_) if retries < MAX_RETRIES => retries += 1,
                Err(e) => break Err(e),
            }
        };
        // One commit per item: the checkpoint, with a message saying what happened.
        let message = match &result {
            Ok(()) => format!("{item}: completed"),
            Err(e) => format!("{item}: failed after {retries} retries: {e}"),
        };
        store.update_value(DOC, Some(&message), |v| {
            let mut b: Batch = serde_json::from_value(v.ok_or("the job state is gone")?)
                .map_err(|e| e.to_string())?;
            match &result {
                Ok(()) => b.completed.push(item.clone()),
                Err(e) => b.failed.push(Failed {
                    item: item.clone(),
                    error: e.clone(),
                    retries,
                }),
            }
            b.updated = now();
            serde_json::to_value(b).map_err(|e| e.to_string())
        })?;
        processed += 1;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: batch STORE-DIR [COUNT] [--crash-after N]");
        std::process::exit(2);
    };
    let count = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(20);
    let crash_after = args
        .iter()
        .position(|a| a == "--crash-after")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let result = (|| {
        let (store, _) = Store::init(Path::new(dir), Options::default())?;
        let state = run(&store, count, crash_after)?;
        if crash_after.is_some() && state.status != "finished" {
            eprintln!(
                "crashing on purpose after {} items",
                crash_after.unwrap_or(0)
            );
            std::process::abort();
        }
        Ok::<_, gitstate::Error>(state)
    })();
    match result {
        Ok(state) => println!(
            "{}: {} completed, {} failed",
            state.status,
            state.completed.len(),
            state.failed.len()
        ),
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
    fn a_stopped_job_resumes_at_the_first_unfinished_item() {
        let dir = tempfile::tempdir().expect("tmp");
        let (store, _) = Store::init(dir.path().join("s"), Options::default()).expect("init");
        let partial = run(&store, 10, Some(4)).expect("first run");
        assert_eq!(partial.completed.len() + partial.failed.len(), 4);
        assert_eq!(partial.status, "running");
        let done = run(&store, 10, None).expect("second run");
        assert_eq!(done.status, "finished");
        assert_eq!(done.completed.len(), 9);
        assert_eq!(
            done.failed,
            vec![Failed {
                item: "item-7".into(),
                error: "item 7 is unlucky".into(),
                retries: 2
            }]
        );
        // One commit to create, one per item, one to finish; the log shows each step.
        let mut options = gitstate::LogOptions::default();
        options.names = vec![DOC.try_into().expect("name")];
        assert_eq!(store.log(&options).expect("log").len(), 1 + 10 + 1);
    }
}
