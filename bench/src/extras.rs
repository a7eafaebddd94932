//! The rest of the comparison: several writer processes at once, reading the latest
//! document, and the peak memory of one CLI write.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
    samples[i.min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// The hidden `--writer STORE NAME N` mode: N durable writes, printing each latency in µs.
pub fn writer(store: &Path, name: &str, n: usize) -> Res<()> {
    let store = gitstate::Store::open(store, gitstate::Options::default().maintenance(false))?;
    let mut out = String::new();
    for i in 0..n {
        let t = Instant::now();
        store.set(name, &json!({"i": i, "pad": "x".repeat(900)}))?;
        out.push_str(&format!("{}\n", t.elapsed().as_micros()));
    }
    print!("{out}");
    Ok(())
}

/// P processes writing at once (each its own document; they share the store lock).
pub fn concurrent(base: &Path, per_process: usize) -> Res<()> {
    let exe = std::env::current_exe()?;
    println!();
    println!("## Concurrent writer processes, durable 1 KiB writes ({per_process} per process)");
    println!();
    println!(
        "| processes | total writes/s | median ms | p99 ms | max ms (longest wait for the lock) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for processes in [1usize, 4, 8] {
        let dir = base.join(format!("concurrent-{processes}"));
        gitstate::Store::init(&dir, gitstate::Options::default())?;
        let start = Instant::now();
        let children: Vec<_> = (0..processes)
            .map(|k| {
                Command::new(&exe)
                    .arg("--writer")
                    .arg(&dir)
                    .arg(format!("doc-{k}"))
                    .arg(per_process.to_string())
                    .stdout(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        let mut samples = Vec::new();
        for child in children {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                return Err("a writer process failed".into());
            }
            samples.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| l.parse::<u64>().ok())
                    .map(Duration::from_micros),
            );
        }
        let elapsed = start.elapsed();
        let total = samples.len();
        let median = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);
        let max = percentile(&mut samples, 1.0);
        println!(
            "| {processes} | {:.0} | {} | {} | {} |",
            total as f64 / elapsed.as_secs_f64(),
            ms(median),
            ms(p99),
            ms(max)
        );
    }
    Ok(())
}

/// Reading the latest 1 KiB document: library, plain file, CLI.
pub fn reads(base: &Path, cli: Option<&Path>, n: usize) -> Res<()> {
    let dir = base.join("reads");
    let (store, _) = gitstate::Store::init(&dir, gitstate::Options::default())?;
    store.set("doc", &json!({"i": 1, "pad": "x".repeat(900)}))?;
    let file = dir.join("doc.json");
    let (mut lib, mut plain, mut via_cli) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..n {
        let t = Instant::now();
        let v = store.get_value("doc")?;
        lib.push(t.elapsed());
        assert!(v.is_some());
        let t = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&file)?)?;
        plain.push(t.elapsed());
        assert!(v.is_object());
        if let Some(cli) = cli
            && round % 20 == 0
        {
            let t = Instant::now();
            let out = Command::new(cli)
                .arg("--store")
                .arg(&dir)
                .args(["get", "doc"])
                .stdout(Stdio::null())
                .status()?;
            via_cli.push(t.elapsed());
            assert!(out.success());
        }
    }
    let floor = percentile(&mut plain, 0.5);
    println!();
    println!("## Reading the latest 1 KiB document ({n} reads, CLI every 20th)");
    println!();
    println!("| method | median ms | p99 ms | × plain file |");
    println!("|---|---:|---:|---:|");
    for (name, samples) in [
        ("plain file: read + parse", &mut plain),
        ("gitstate library `get_value`", &mut lib),
        ("gitstate CLI `get` (incl. process start)", &mut via_cli),
    ] {
        if samples.is_empty() {
            continue;
        }
        let median = percentile(samples, 0.5);
        println!(
            "| {name} | {} | {} | {:.2} |",
            ms(median),
            ms(percentile(samples, 0.99)),
            median.as_secs_f64() / floor.as_secs_f64()
        );
    }
    Ok(())
}

/// Peak memory (max RSS) of one CLI write, measured by `/usr/bin/time`.
pub fn memory(base: &Path, cli: Option<&Path>) -> Res<()> {
    let Some(cli) = cli else {
        return Ok(());
    };
    println!();
    println!("## Peak memory and time of one CLI `set` and `get`, by document size");
    println!();
    if !Path::new("/usr/bin/time").exists() {
        println!("(skipped: /usr/bin/time is not installed)");
        return Ok(());
    }
    println!(
        "| document | bytes | `set` s | `set` max RSS | `get` s | `get` max RSS | target RSS (16 MiB + 3 × size) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let dir = base.join("memory");
    gitstate::Store::init(&dir, gitstate::Options::default())?;
    // Time (s) and peak RSS (KiB) of one CLI run, or its error.
    let measure = |args: &[&str], stdin: Option<&Path>| -> Res<(f64, u64)> {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%e %M"])
            .arg(cli)
            .arg("--store")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null());
        if let Some(input) = stdin {
            cmd.stdin(File::open(input)?);
        }
        let out = cmd.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("gitstate {}: {stderr}", args.join(" ")).into());
        }
        let last = stderr.lines().last().unwrap_or_default();
        let mut fields = last.split_whitespace();
        let secs = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
        let kib = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        Ok((secs, kib))
    };
    for (label, size) in [
        ("1 KiB", 1024usize),
        ("1 MiB", 1 << 20),
        ("16 MiB", 16 << 20),
        ("100 MiB", 100 << 20),
    ] {
        let items: Vec<serde_json::Value> = (0..size / 64)
            .map(|i| json!({"id": i, "name": format!("item-{i:08}")}))
            .collect();
        let bytes = gitstate::to_canonical_bytes(&json!(items));
        drop(items);
        let input = base.join("memory-input.json");
        fs::write(&input, &bytes)?;
        let (set_s, set_kib) = measure(&["set", "doc", "-"], Some(&input))?;
        let (get_s, get_kib) = measure(&["get", "doc"], None)?;
        let target = 16 * 1024 + 3 * bytes.len() as u64 / 1024;
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| {label} | {} | {set_s:.2} | {:.1} MiB | {get_s:.2} | {:.1} MiB | {:.1} MiB |",
            bytes.len(),
            mib(set_kib),
            mib(get_kib),
            mib(target)
        );
    }
    Ok(())
}
