//! `gitstate-bench history`: reading history from a store with a long one.
//!
//! Builds a store of N commits over 100 documents (document `hot` changes in every 10th
//! commit, the others in turn), one second apart, then times the history commands and the
//! write latency at the start and at the end of that history.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const START: i64 = 1_800_000_000;

fn time<T>(f: impl FnOnce() -> Res<T>) -> Res<(Duration, T)> {
    let t = Instant::now();
    let out = f()?;
    Ok((t.elapsed(), out))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn doc(i: usize) -> serde_json::Value {
    json!({"i": i, "step": i % 7, "items": [i % 3, i % 5], "note": "x".repeat(200)})
}

/// Median latency of `n` durable writes to a store at its current length.
fn write_latency(path: &Path, n: usize, at: i64) -> Res<Duration> {
    let store = gitstate::Store::open(
        path,
        gitstate::Options::default().commit_time(gitstate::Time::new(at, 0)),
    )?;
    let mut samples = Vec::new();
    for k in 0..n {
        let (d, _) =
            time(|| Ok(store.set(format!("doc-{:02}", k % 99 + 1).as_str(), &doc(k + 7))?))?;
        samples.push(d);
    }
    Ok(median(samples))
}

pub fn run(dir: &Path, commits: usize) -> Res<()> {
    let path = dir.join("history-store");
    let (store, _) = gitstate::Store::init(&path, gitstate::Options::default())?;
    drop(store);
    println!("# gitstate history benchmark: {commits} commits over 100 documents");
    println!();
    let early = write_latency(&path, 50, START - 100)?;
    let build_start = Instant::now();
    {
        let mut options = gitstate::Options::default().durability(gitstate::Durability::Fast);
        for i in 0..commits {
            options.commit_time = Some(gitstate::Time::new(START + i as i64, 0));
            let store = gitstate::Store::open(&path, options.clone())?;
            let name = if i % 10 == 0 {
                "hot".to_owned()
            } else {
                format!("doc-{:02}", i % 99 + 1)
            };
            store.set(name.as_str(), &doc(i))?;
            if (i + 1) % 10_000 == 0 {
                eprintln!(
                    "  {} commits ({:.0} s)",
                    i + 1,
                    build_start.elapsed().as_secs_f64()
                );
            }
        }
    }
    println!(
        "- built in {:.1} s (fast durability, one store handle per write)",
        build_start.elapsed().as_secs_f64()
    );
    let late = write_latency(&path, 50, START + commits as i64 + 10)?;
    let loose = measure(&path, commits)?;
    let packed = if Command::new("git").arg("--version").output().is_ok() {
        // Through `gitstate gc`, which waits for a background `git gc --auto` that is still
        // running (plain `git gc` would refuse with "already running").
        let store = gitstate::Store::open(&path, gitstate::Options::default())?;
        let (d, _) = time(|| Ok(store.gc().map(|_| ())?))?;
        drop(store);
        println!(
            "- `gitstate gc` packed the store in {:.1} s",
            d.as_secs_f64()
        );
        Some(measure(&path, commits)?)
    } else {
        None
    };
    println!();
    println!(
        "| operation | as written (automatic maintenance) | after `gitstate gc` | result | target |"
    );
    println!("|---|---:|---:|---|---|");
    for (i, (what, d, result, target)) in loose.iter().enumerate() {
        let after = packed.as_ref().map_or_else(
            || "-".to_owned(),
            |p| format!("{:.1} ms", p[i].1.as_secs_f64() * 1e3),
        );
        println!(
            "| {what} | {:.1} ms | {after} | {result} | {target} |",
            d.as_secs_f64() * 1e3
        );
    }
    println!();
    println!(
        "durable write latency (median of 50): {:.3} ms at commit 1, {:.3} ms at commit {commits}: ratio {:.2} (target ≤ 1.2)",
        early.as_secs_f64() * 1e3,
        late.as_secs_f64() * 1e3,
        late.as_secs_f64() / early.as_secs_f64()
    );
    disk(dir, commits)
}

/// Space on disk (allocated blocks) of everything below `dir`.
fn allocated(dir: &Path) -> Res<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += meta.blocks() * 512;
        if meta.is_dir() {
            total += allocated(&entry.path())?;
        }
    }
    Ok(total)
}

fn plain_git(dir: &Path, args: &[&str]) -> Res<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    Ok(())
}

/// Disk space of `commits` writes of one 1 KiB document (one value changing), as gitstate
/// leaves the store (its background maintenance on, as by default), against the same
/// repository after `git gc --aggressive --prune=now`.
fn disk(dir: &Path, commits: usize) -> Res<()> {
    if Command::new("git").arg("--version").output().is_err() {
        println!();
        println!("disk: skipped (no git for `git gc --aggressive`)");
        return Ok(());
    }
    let path = dir.join("disk-store");
    let mut options = gitstate::Options::default().durability(gitstate::Durability::Fast);
    gitstate::Store::init(&path, options.clone())?;
    let pad = "x".repeat(1000);
    let started = Instant::now();
    for i in 0..commits {
        options.commit_time = Some(gitstate::Time::new(START + i as i64, 0));
        let store = gitstate::Store::open(&path, options.clone())?;
        store.set("doc", &json!({"counter": i, "pad": pad}))?;
    }
    // Let a background `git gc --auto` that is still running finish.
    let lock = path.join(".git/gc.pid");
    let deadline = Instant::now() + Duration::from_secs(600);
    while lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let as_left = allocated(&path.join(".git"))?;
    let copy = dir.join("disk-store-aggressive");
    let out = Command::new("cp")
        .arg("-a")
        .arg(&path)
        .arg(&copy)
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    plain_git(&copy, &["gc", "--aggressive", "--prune=now", "--quiet"])?;
    let aggressive = allocated(&copy.join(".git"))?;
    let store = gitstate::Store::open(&path, gitstate::Options::default())?;
    store.gc()?;
    drop(store);
    let after_gc = allocated(&path.join(".git"))?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!();
    println!(
        "## Disk: {commits} commits of one 1 KiB document (built in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("| store | .git on disk | × `git gc --aggressive` | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| as gitstate leaves it (background `git gc --auto`) | {:.1} MiB | {:.2} | ≤ 1.5 |",
        mib(as_left),
        as_left as f64 / aggressive as f64
    );
    println!(
        "| after `gitstate gc` | {:.1} MiB | {:.2} | |",
        mib(after_gc),
        after_gc as f64 / aggressive as f64
    );
    println!(
        "| after `git gc --aggressive --prune=now` | {:.1} MiB | 1.00 | |",
        mib(aggressive)
    );
    Ok(())
}

type Row = (String, Duration, String, &'static str);

/// Time the history operations on the store at `path`.
fn measure(path: &Path, commits: usize) -> Res<Vec<Row>> {
    let store = gitstate::Store::open(path, gitstate::Options::default())?;
    let hot: gitstate::DocName = "hot".try_into()?;

    let mut rows: Vec<Row> = Vec::new();
    let mut opts = gitstate::LogOptions::default();
    opts.names = vec![hot.clone()];
    opts.limit = Some(20);
    let (d, n) = time(|| Ok(store.log(&opts)?.len()))?;
    rows.push(("log hot -n 20".into(), d, format!("{n} entries"), "< 50 ms"));
    opts.limit = None;
    let (d, n) = time(|| Ok(store.log(&opts)?.len()))?;
    rows.push(("log hot (full)".into(), d, format!("{n} entries"), "< 1 s"));
    let mid = chrono::DateTime::from_timestamp(START + commits as i64 / 2, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let (d, v) = time(|| Ok(store.snapshot_at(&mid)?.get_value("hot")?))?;
    rows.push((
        "get hot --at <mid-history time>".into(),
        d,
        format!("i = {}", v.map(|v| v["i"].clone()).unwrap_or_default()),
        "< 50 ms",
    ));
    let (d, n) = time(|| Ok(store.blame("hot", None)?.len()))?;
    rows.push((
        format!("blame hot ({} changes)", commits / 10),
        d,
        format!("{n} values"),
        "< 1 s",
    ));
    let far = format!("HEAD~{}", commits * 9 / 10);
    let (d, n) = time(|| Ok(store.diff(Some(&far), Some("HEAD"), &[] as &[&str])?.len()))?;
    rows.push((
        format!("diff {far} HEAD"),
        d,
        format!("{n} documents"),
        "(no target)",
    ));
    Ok(rows)
}
