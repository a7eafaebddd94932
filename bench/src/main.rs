//! `gitstate-bench`: write latency of gitstate next to the alternatives, measured side by side
//! in one run. Run it through `cargo xtask bench` (which builds it in release mode).
//!
//! Each round writes once with every method, in turn, so machine noise hits all alike.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[cfg(feature = "compare")]
mod compare;
mod extras;
mod history;

struct Args {
    history: Option<usize>,
    writes_small: usize,
    writes_large: usize,
    /// Document sizes in bytes for the write table.
    sizes: Vec<usize>,
    dir: Option<PathBuf>,
    cli: PathBuf,
    skip_git: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        history: None,
        writes_small: 300,
        writes_large: 40,
        sizes: vec![1 << 10, 1 << 20],
        dir: None,
        cli: PathBuf::from("target/release/gitstate"),
        skip_git: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--n" => {
                args.writes_small = value("--n")?.parse().map_err(|e| format!("--n: {e}"))?;
            }
            "--n-large" => {
                args.writes_large = value("--n-large")?
                    .parse()
                    .map_err(|e| format!("--n-large: {e}"))?;
            }
            "--sizes" => {
                args.sizes = value("--sizes")?
                    .split(',')
                    .map(parse_size)
                    .collect::<Result<_, _>>()?;
            }
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "--cli" => args.cli = PathBuf::from(value("--cli")?),
            "--no-git" => args.skip_git = true,
            "--history" => {
                args.history = Some(
                    value("--history")?
                        .parse()
                        .map_err(|e| format!("--history: {e}"))?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: gitstate-bench [--sizes LIST (document sizes, default 1KiB,1MiB)] [--n N (writes per size below 64 KiB, default 300)] [--n-large N (writes per larger size, default 40)] [--dir DIR (where to run: e.g. a journaled ext4 mount)] [--cli PATH] [--no-git] [--history COMMITS (the history benchmark instead)]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(args)
}

/// How the binary at `path` is linked, as `ldd` tells.
fn linking(path: &Path) -> &'static str {
    match Command::new("ldd").arg(path).output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
            if text.contains("statically linked") || text.contains("not a dynamic executable") {
                "linked statically"
            } else if out.status.success() {
                "linked dynamically"
            } else {
                "linking unknown: ldd failed"
            }
        }
        Err(_) => "linking unknown: no ldd",
    }
}

/// `512`, `4KiB`, `1MiB`, `16MiB` (also `k`/`m` suffixes).
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t.as_str(), ""),
    };
    let unit = match unit {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        _ => {
            return Err(format!(
                "--sizes: unknown unit in {text:?} (use B, KiB or MiB)"
            ));
        }
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("--sizes: {text:?} is not a size"))?;
    if n == 0 {
        return Err(format!("--sizes: {text:?} is empty"));
    }
    Ok(n * unit)
}

/// How a size is shown: `1 KiB`, `1 MiB`, `300 B`.
fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size.is_multiple_of(1 << 10) {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

fn main() {
    // Hidden mode: one of the concurrent writer processes.
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("--writer") {
        let (Some(store), Some(name), Some(n)) = (
            raw.get(2),
            raw.get(3),
            raw.get(4).and_then(|n| n.parse().ok()),
        ) else {
            eprintln!("usage: gitstate-bench --writer STORE NAME N");
            std::process::exit(2);
        };
        if let Err(e) = extras::writer(Path::new(store), name, n) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A document of about `size` canonical bytes whose `counter` changes per write.
fn document(size: usize, counter: usize) -> Value {
    if size <= 4096 {
        let base = gitstate::to_canonical_bytes(&json!({"counter": counter, "payload": ""})).len();
        let pad: String = "abcdefghijklmnopqrstuvwxyz0123456789"
            .chars()
            .cycle()
            .take(size.saturating_sub(base + 8))
            .collect();
        json!({"counter": counter, "payload": pad})
    } else {
        // Many small records: realistic pretty-printed JSON, not one huge string.
        // Each record is about 90 canonical bytes once indented inside the array.
        let one = gitstate::to_canonical_bytes(&json!({"counter": 0, "items": [
            {"id": 0, "name": "item-000000", "done": false, "score": 0.5}
        ]}))
        .len()
            - 30;
        let items: Vec<Value> = (0..size / one)
            .map(|i| json!({"id": i, "name": format!("item-{i:06}"), "done": i % 3 == 0, "score": 0.5}))
            .collect();
        json!({"counter": counter, "items": items})
    }
}

fn sync_dir(dir: &Path) -> Res<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The floor: temp file, write, fsync, rename, fsync directory (or without the syncs).
fn plain_write(dir: &Path, bytes: &[u8], durable: bool) -> Res<()> {
    let tmp = dir.join(".doc.json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    f.write_all(bytes)?;
    if durable {
        f.sync_data()?;
    }
    drop(f);
    fs::rename(&tmp, dir.join("doc.json"))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> Res<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.fsync=all", "-c", "core.fsyncMethod=fsync"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

struct Method {
    name: &'static str,
    samples: Vec<Duration>,
}

fn stats(samples: &[Duration]) -> (Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort();
    let median = s[s.len() / 2];
    let p99 = s[((s.len() as f64 * 0.99).ceil() as usize)
        .saturating_sub(1)
        .min(s.len() - 1)];
    (median, p99)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn filesystem_of(path: &Path) -> String {
    let out = Command::new("df")
        .args(["--output=source,fstype,target"])
        .arg(path)
        .output();
    let fs_line = out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .nth(1)
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    let source = fs_line.split(' ').next().unwrap_or_default().to_owned();
    // The kernel lists every mounted ext4 journal under /proc/fs/jbd2 as DEVICE-NUMBER.
    let device = source.rsplit('/').next().unwrap_or_default().to_owned();
    let journal = match fs::read_dir("/proc/fs/jbd2") {
        Ok(entries) => {
            let journaled = entries.filter_map(Result::ok).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{device}-"))
            });
            if journaled {
                "with journal"
            } else {
                "WITHOUT journal"
            }
        }
        Err(_) => "journal unknown",
    };
    let opts = fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.split(' ').nth(1) == fs_line.split(' ').nth(2))
                .map(|l| l.split(' ').nth(3).unwrap_or_default().to_owned())
        })
        .unwrap_or_default();
    format!("{fs_line} ({journal}; mount options {opts})")
}

fn run(args: &Args) -> Res<()> {
    let base = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir_in(std::env::current_dir()?.join("target"))?,
    };
    if let Some(commits) = args.history {
        println!("- filesystem: {}", filesystem_of(base.path()));
        return history::run(base.path(), commits);
    }
    let have_git = !args.skip_git && Command::new("git").arg("--version").output().is_ok();
    let cli = fs::canonicalize(&args.cli).ok();
    println!("# gitstate write benchmark");
    println!();
    println!("- directory: {}", base.path().display());
    println!("- filesystem: {}", filesystem_of(base.path()));
    println!(
        "- machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );
    if let Some(cli) = &cli {
        println!("- CLI: {} ({})", cli.display(), linking(cli));
    }
    println!(
        "- git: {}",
        if have_git {
            "git add + git commit per write, with -c core.fsync=all -c core.fsyncMethod=fsync"
        } else {
            "skipped"
        }
    );
    for &size in &args.sizes {
        let n = if size < 64 << 10 {
            args.writes_small
        } else {
            args.writes_large
        };
        bench_size(
            base.path(),
            &size_label(size),
            size,
            n,
            have_git,
            cli.as_deref(),
        )?;
    }
    extras::concurrent(base.path(), args.writes_small / 4 + 1)?;
    extras::reads(base.path(), cli.as_deref(), args.writes_small * 4)?;
    extras::memory(base.path(), cli.as_deref())?;
    Ok(())
}

fn bench_size(
    base: &Path,
    label: &str,
    size: usize,
    n: usize,
    have_git: bool,
    cli: Option<&Path>,
) -> Res<()> {
    let dir = base.join(format!("size-{size}"));
    let floor_dir = dir.join("floor");
    let floor_fast_dir = dir.join("floor-fast");
    fs::create_dir_all(&floor_dir)?;
    fs::create_dir_all(&floor_fast_dir)?;
    let syncfs_opts = gitstate::Options::default().sync_method(gitstate::SyncMethod::FileSystem);
    let (durable, _) = gitstate::Store::init(dir.join("gitstate-syncfs"), syncfs_opts)?;
    let (per_file, _) = gitstate::Store::init(dir.join("gitstate"), gitstate::Options::default())?;
    let fast_opts = gitstate::Options::default().durability(gitstate::Durability::Fast);
    let (fast, _) = gitstate::Store::init(dir.join("gitstate-fast"), fast_opts)?;
    let cli_store = dir.join("gitstate-cli");
    gitstate::Store::init(&cli_store, gitstate::Options::default())?;
    let git_dir = dir.join("git");
    if have_git {
        fs::create_dir_all(&git_dir)?;
        git(&git_dir, &["init", "-q", "-b", "main"])?;
    }

    let mut methods = vec![
        Method {
            name: "floor: durable atomic write (tmp, fsync, rename, fsync dir)",
            samples: vec![],
        },
        Method {
            name: "floor, not durable (tmp, rename)",
            samples: vec![],
        },
        Method {
            name: "gitstate library, durable (syncfs)",
            samples: vec![],
        },
        Method {
            name: "gitstate library, durable (per-file fsync, the default)",
            samples: vec![],
        },
        Method {
            name: "gitstate library, fast (no fsync)",
            samples: vec![],
        },
    ];
    if cli.is_some() {
        methods.push(Method {
            name: "gitstate CLI `set`, durable (incl. process start)",
            samples: vec![],
        });
    }
    if have_git {
        methods.push(Method {
            name: "git add + git commit (durable)",
            samples: vec![],
        });
    }
    #[cfg(feature = "compare")]
    let libgit2 = compare::Libgit2::init(&dir.join("libgit2"))?;
    #[cfg(feature = "compare")]
    let sqlite = compare::Sqlite::open(&dir.join("sqlite.db"))?;
    #[cfg(feature = "compare")]
    {
        methods.push(Method {
            name: "libgit2: blob + tree + commit + ref (core.fsyncObjectFiles)",
            samples: vec![],
        });
        methods.push(Method {
            name: "SQLite: a row per version (WAL, synchronous=FULL)",
            samples: vec![],
        });
    }
    let cli_doc = dir.join("cli-input.json");
    // Warm-up: one write each, not measured.
    for round in 0..=n {
        let doc = document(size, round);
        let bytes = gitstate::to_canonical_bytes(&doc);
        // The library takes the value by move: copies are made before the clock starts.
        let mut copies = vec![doc.clone(), doc.clone(), doc];
        let mut next_copy = move || copies.pop().ok_or("no copy left");
        let mut k = 0;
        let mut time = |m: &mut Vec<Method>, f: &mut dyn FnMut() -> Res<()>| -> Res<()> {
            let t = Instant::now();
            f()?;
            let e = t.elapsed();
            if round > 0 {
                m[k].samples.push(e);
            }
            k += 1;
            Ok(())
        };
        time(&mut methods, &mut || plain_write(&floor_dir, &bytes, true))?;
        time(&mut methods, &mut || {
            plain_write(&floor_fast_dir, &bytes, false)
        })?;
        time(&mut methods, &mut || {
            durable
                .set_value("doc", next_copy()?, None)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        time(&mut methods, &mut || {
            per_file
                .set_value("doc", next_copy()?, None)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        time(&mut methods, &mut || {
            fast.set_value("doc", next_copy()?, None)
                .map(|_| ())
                .map_err(Into::into)
        })?;
        if let Some(cli) = cli {
            fs::write(&cli_doc, &bytes)?;
            time(&mut methods, &mut || {
                let input = File::open(&cli_doc)?;
                let out = Command::new(cli)
                    .arg("--store")
                    .arg(&cli_store)
                    .args(["set", "doc"])
                    .stdin(input)
                    .stdout(Stdio::null())
                    .output()?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
                }
                Ok(())
            })?;
        }
        if have_git {
            time(&mut methods, &mut || {
                fs::write(git_dir.join("doc.json"), &bytes)?;
                git(&git_dir, &["add", "doc.json"])?;
                git(&git_dir, &["commit", "-q", "-m", "write"])
            })?;
        }
        #[cfg(feature = "compare")]
        {
            time(&mut methods, &mut || libgit2.write(&bytes))?;
            time(&mut methods, &mut || sqlite.write(&bytes))?;
        }
    }
    let doc_bytes = gitstate::to_canonical_bytes(&document(size, 1)).len();
    println!();
    println!("## {label} document ({doc_bytes} bytes), {n} writes per method, interleaved");
    println!();
    println!("| method | median ms | p99 ms | writes/s | × durable floor | × non-durable floor |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (floor, _) = stats(&methods[0].samples);
    let (floor_fast, _) = stats(&methods[1].samples);
    for m in &methods {
        let (median, p99) = stats(&m.samples);
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} |",
            m.name,
            ms(median),
            ms(p99),
            1.0 / median.as_secs_f64(),
            median.as_secs_f64() / floor.as_secs_f64(),
            median.as_secs_f64() / floor_fast.as_secs_f64()
        );
    }
    let (d, _) = stats(&methods[3].samples);
    let versus = |what: &str| {
        if let Some(m) = methods.iter().find(|m| m.name.starts_with(what)) {
            let (other, _) = stats(&m.samples);
            println!(
                "- gitstate durable (library) vs {what}: {:.2}× faster",
                other.as_secs_f64() / d.as_secs_f64()
            );
        }
    };
    println!();
    versus("git add + git commit");
    versus("libgit2");
    versus("SQLite");
    Ok(())
}
