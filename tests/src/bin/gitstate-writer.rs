//! Test driver: writes through the library and prints each acknowledged write.
//!
//! `gitstate-writer STORE set-loop NAME START COUNT [fast]`: sets NAME to {"n": i} for i in
//! START..START+COUNT, printing `ack i` after each write returns.
//! `gitstate-writer STORE step-loop NAME START COUNT [fast]`: the same with
//! `gitstate_tests::power_step` (a second document, made and deleted, in the same commits).
//! `gitstate-writer STORE incr NAME COUNT`: COUNT read-modify-write increments of a counter.
//! `gitstate-writer STORE watch NAME STOP`: read NAME until the file STOP exists, printing
//! each value read (`none` while it does not exist).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: gitstate-writer STORE ((set-loop | step-loop) NAME START COUNT [fast] | incr NAME COUNT | watch NAME STOP)";
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or(usage);
    let fast = args.iter().any(|a| a == "fast");
    let durability = if fast {
        gitstate::Durability::Fast
    } else {
        gitstate::Durability::Full
    };
    let options = gitstate::Options::default()
        .durability(durability)
        .lock_timeout(std::time::Duration::from_secs(60));
    let store = gitstate::Store::open(arg(1)?, options)?;
    let mut out = std::io::stdout().lock();
    match arg(2)? {
        mode @ ("set-loop" | "step-loop") => {
            let name = arg(3)?;
            let start: u64 = arg(4)?.parse()?;
            let count: u64 = arg(5)?.parse()?;
            for i in start..start + count {
                let outcome = if mode == "step-loop" {
                    gitstate_tests::power_step(&store, name, i)?
                } else {
                    let pad = "x".repeat((i % 7) as usize * 100);
                    store.set(name, &serde_json::json!({ "n": i, "pad": pad }))?
                };
                writeln!(
                    out,
                    "ack {i} {}",
                    outcome.commit.map(|c| c.to_string()).unwrap_or_default()
                )?;
                out.flush()?;
            }
        }
        "incr" => {
            let name = arg(3)?;
            let count: u64 = arg(4)?.parse()?;
            for _ in 0..count {
                store.update(name, |n: Option<u64>| n.unwrap_or(0) + 1)?;
            }
        }
        "watch" => {
            // Read NAME until the file STOP exists, printing every value seen.
            let name = arg(3)?;
            let stop = std::path::PathBuf::from(arg(4)?);
            loop {
                let done = stop.exists();
                let value: Option<u64> = store.get(name)?;
                writeln!(
                    out,
                    "{}",
                    value.map_or_else(|| "none".to_owned(), |v| v.to_string())
                )?;
                if done {
                    break;
                }
            }
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
