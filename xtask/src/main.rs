//! `cargo xtask`: the project's developer tasks.
//!
//! - `ci`: exactly what CI runs: fmt check, clippy with `-D warnings` on all targets, the
//!   tests, the docs with warnings denied, the migration golden tests.
//! - `demo`: a short tour of the CLI on a store it creates.
//! - `migration-test [--bless]`: golden tests of the schemas in `tests/migrations/`.
//! - `torture [--rounds N] [--power-cuts N] [--seed S]`: the long crash, power-loss and
//!   concurrency runs (default 500 SIGKILL rounds and 1,000 simulated power cuts; `cargo
//!   test` runs 200 and 100), and a 100 MB document through the CLI.
//! - `dist`: the CLI as it is meant to ship: a release build, linked statically on Linux
//!   with glibc (it then starts about 0.3 ms sooner: no dynamic loader, no relocations).
//! - `bench [ARGS]`: the write benchmark in release mode (see `bench/`), with the CLI that
//!   `dist` builds.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("demo") => demo(),
        Some("bench") => bench(&args[1..]),
        Some("dist") => dist().map(|cli| println!("{}", cli.display())),
        Some("torture") => torture(&args[1..]),
        Some("migration-test") => migration_test(args.iter().any(|a| a == "--bless")),
        _ => {
            eprintln!(
                "usage: cargo xtask (ci | demo | dist | migration-test [--bless] | torture [--rounds N] [--power-cuts N] [--seed S] | bench [--help])"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<(), String> {
    step("cargo", args, &[])
}

fn step(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Golden tests for every schema in `tests/migrations/schemas.json`: the cases under
/// `tests/migrations/<schema>/<from-version>/` must migrate to their `.expected.json`;
/// `--bless` rewrites the expected files.
fn migration_test(bless: bool) -> Result<(), String> {
    let dir = root().join("tests/migrations");
    let file = dir.join("schemas.json");
    let text = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let schemas = gitstate::migrate::parse_schema_file(&text)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut failed = 0;
    for schema in &schemas {
        let cases = dir.join(schema.name());
        let report = gitstate::migrate::run_golden(schema, &cases, bless)
            .map_err(|e| format!("schema {}: {e}", schema.name()))?;
        println!(
            "schema {}: {} passed, {} failed, {} blessed",
            schema.name(),
            report.passed.len(),
            report.failed.len(),
            report.blessed.len()
        );
        for (case, why) in &report.failed {
            println!("  FAILED {case}: {why}");
        }
        if report.passed.is_empty() && report.blessed.is_empty() && report.failed.is_empty() {
            return Err(format!(
                "schema {} has no golden cases in {}",
                schema.name(),
                cases.display()
            ));
        }
        failed += report.failed.len();
    }
    if failed > 0 {
        return Err(format!(
            "{failed} golden case(s) failed (run with --bless to accept new output)"
        ));
    }
    Ok(())
}

/// The crash and concurrency tests with a long setting.
fn torture(args: &[String]) -> Result<(), String> {
    let number = |flag: &str, default: u64| -> Result<String, String> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| n.to_string())
                .ok_or_else(|| format!("{flag} takes a number")),
            None => Ok(default.to_string()),
        }
    };
    let rounds = number("--rounds", 500)?;
    let cuts = number("--power-cuts", 1000)?;
    let seed = number("--seed", 1)?;
    step(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "gitstate-tests",
            "--test",
            "e2e",
            "--",
            "test_crash",
            "test_concurrency",
            "test_powerloss",
            "test_hostile::a_large_document",
        ],
        &[
            ("GITSTATE_LARGE_DOC_MB", "100"),
            ("GITSTATE_CRASH_ROUNDS", rounds.as_str()),
            ("GITSTATE_POWER_CUTS", cuts.as_str()),
            ("GITSTATE_POWER_SEED", seed.as_str()),
        ],
    )
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace", "--exclude", "gitstate-bench"])?;
    step(
        "cargo",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--exclude",
            "gitstate-bench",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    migration_test(false)
}

/// `cargo xtask bench [--journaled] [--no-compare] [ARGS…]`: build in release and run the
/// benchmark (with libgit2 and SQLite unless `--no-compare`);
/// `--journaled` runs it on a fresh journaled ext4 image, loop-mounted (needs root), for the
/// figures users of an ordinary journaled file system would see.
fn bench(args: &[String]) -> Result<(), String> {
    // libgit2 and SQLite (feature `compare`) unless `--no-compare`: heavy C builds that
    // nothing else needs.
    let compare = !args.iter().any(|a| a == "--no-compare");
    let mut build = vec!["build", "--release", "-p", "gitstate-bench"];
    if compare {
        build.extend(["--features", "gitstate-bench/compare"]);
    }
    cargo(&build)?;
    let cli = dist()?;
    let exe = root().join("target/release/gitstate-bench");
    let journaled = args.iter().any(|a| a == "--journaled");
    let mut full: Vec<String> = vec!["--cli".into(), cli.display().to_string()];
    full.extend(
        args.iter()
            .filter(|a| *a != "--journaled" && *a != "--no-compare")
            .cloned(),
    );
    let exe = exe.to_str().ok_or("non-UTF-8 path")?;
    if !journaled {
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        return step(exe, &full, &[]);
    }
    let image = root().join("target/bench-ext4.img");
    let mount = root().join("target/bench-ext4");
    let (image_s, mount_s) = (image.display().to_string(), mount.display().to_string());
    std::fs::create_dir_all(&mount).map_err(|e| format!("create {mount_s}: {e}"))?;
    let _ = Command::new("umount").arg(&mount).status();
    step("truncate", &["-s", "4G", &image_s], &[])?;
    // One inode per 4 KiB: loose objects use one inode each.
    step("mkfs.ext4", &["-q", "-F", "-i", "4096", &image_s], &[])?;
    step("mount", &["-o", "loop", &image_s, &mount_s], &[])?;
    full.extend(["--dir".to_owned(), mount_s.clone()]);
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let result = step(exe, &full, &[]);
    let _ = step("umount", &[&mount_s], &[]);
    let _ = std::fs::remove_file(&image);
    result
}

/// `cargo xtask dist`: build the CLI in release mode, linked statically where the target is
/// Linux with glibc (`-C target-feature=+crt-static`, which needs an explicit `--target` so
/// that build scripts and proc-macros stay dynamic). Returns the binary.
///
/// A statically linked gitstate needs nothing from glibc that only its shared libraries give
/// (no user or host lookups through NSS, no `dlopen`).
fn dist() -> Result<PathBuf, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let info = String::from_utf8_lossy(&out.stdout);
    let host = info
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .ok_or("rustc -vV names no host")?
        .trim()
        .to_owned();
    let dynamic = || -> Result<PathBuf, String> {
        cargo(&["build", "--release", "-p", "gitstate-cli"])?;
        Ok(root().join("target/release/gitstate"))
    };
    if !host.ends_with("-linux-gnu") {
        return dynamic();
    }
    // Added to the flags the caller set, not instead of them; cargo reads only the encoded
    // form when that is set.
    const STATIC: &str = "target-feature=+crt-static";
    let (var, flags) = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(enc) if !enc.is_empty() => (
            "CARGO_ENCODED_RUSTFLAGS",
            format!("{enc}\x1f-C\x1f{STATIC}"),
        ),
        _ => (
            "RUSTFLAGS",
            format!(
                "{} -C {STATIC}",
                std::env::var("RUSTFLAGS").unwrap_or_default()
            )
            .trim()
            .to_owned(),
        ),
    };
    let built = step(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "gitstate-cli",
            "--target",
            &host,
        ],
        &[(var, &flags)],
    );
    match built {
        Ok(()) => Ok(root().join("target").join(&host).join("release/gitstate")),
        Err(e) => {
            // glibc's static libraries are a separate package on some systems.
            eprintln!("xtask: {e}; building the CLI linked dynamically instead");
            dynamic()
        }
    }
}

fn demo() -> Result<(), String> {
    cargo(&["build", "--quiet", "-p", "gitstate-cli"])?;
    let exe = root().join("target/debug/gitstate");
    let dir = std::env::temp_dir().join(format!("gitstate-demo-{}", std::process::id()));
    let store = dir.join("store");
    let store_arg = store.to_str().ok_or("non-UTF-8 temp dir")?;
    let exe_s = exe.to_str().ok_or("non-UTF-8 path")?;
    let run = |args: &[&str], stdin: Option<&str>| -> Result<(), String> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.contains('{') {
                    format!("'{a}'")
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        match stdin {
            Some(s) => println!("\n$ echo '{s}' | gitstate {}", shown.join(" ")),
            None => println!("\n$ gitstate {}", shown.join(" ")),
        }
        let mut cmd = Command::new(exe_s);
        cmd.env("GITSTATE_DIR", store_arg).args(args);
        let status = match stdin {
            Some(s) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                child
                    .stdin
                    .take()
                    .ok_or("no stdin")?
                    .write_all(s.as_bytes())
                    .map_err(|e| e.to_string())?;
                child.wait().map_err(|e| e.to_string())?
            }
            None => cmd.status().map_err(|e| e.to_string())?,
        };
        println!("(exit {})", status.code().unwrap_or(-1));
        Ok(())
    };
    println!("gitstate demo: a store at {}", store.display());
    run(&["init", store_arg], None)?;
    run(
        &[
            "set",
            "batch/run-42",
            r#"{"items": 3, "done": 0, "status": "running"}"#,
            "-m",
            "start run 42",
        ],
        None,
    )?;
    let incr = "import json,sys; d=json.load(sys.stdin); d['done']+=1; print(json.dumps(d))";
    run(
        &["update", "batch/run-42", "--", "python3", "-c", incr],
        None,
    )?;
    run(&["patch", "batch/run-42"], Some(r#"{"status": "paused"}"#))?;
    run(&["get", "batch/run-42"], None)?;
    run(
        &[
            "get",
            "batch/run-42",
            "--at",
            "HEAD~2",
            "--pointer",
            "/done",
        ],
        None,
    )?;
    run(&["checkpoint", "before-prefs"], None)?;
    run(&["set", "prefs", r#"{"theme": "dark"}"#], None)?;
    run(&["set", "prefs", r#"{"theme": "dark"}"#], None)?;
    run(&["set", "../escape", "1"], None)?;
    run(&["ls"], None)?;
    run(&["log"], None)?;
    run(&["log", "batch/run-42", "--json", "-n", "1"], None)?;
    run(&["diff", "before-prefs", "--stat"], None)?;
    run(&["blame", "batch/run-42"], None)?;
    run(&["undo"], None)?;
    run(&["ls"], None)?;
    run(&["status"], None)?;
    run(&["verify"], None)?;
    println!("\n# the store is ordinary git:");
    step("git", &["-C", store_arg, "log", "--oneline"], &[])?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
