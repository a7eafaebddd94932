//! The syscall order of one durable write, as `strace -f` sees it: every file and directory
//! the acknowledgement depends on is synced before the acknowledgement, and the objects and
//! the ref lock file before the ref's rename.

use std::collections::HashMap;
use std::process::Command;

use gitstate_tests::{TempStore, cli, run};

const EXE: &str = env!("CARGO_BIN_EXE_gitstate-e2e");

/// One completed sync: which path, at which line.
struct Sync {
    line: usize,
    path: String,
}

/// A rename: line, from, to.
type Rename = (usize, String, String);

/// Parse `strace -f` output: the completed syncs (fsync, fdatasync, syncfs) with the path
/// their fd was opened on, the renames, and the write of the acknowledgement to stdout.
fn parse(log: &str) -> (Vec<Sync>, Vec<Rename>, Option<usize>) {
    let mut fd_path: HashMap<String, String> = HashMap::new();
    let mut pending: HashMap<String, String> = HashMap::new(); // pid -> path of unfinished sync
    let mut syncs = Vec::new();
    let mut renames = Vec::new();
    let mut ack = None;
    for (i, line) in log.lines().enumerate() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        if call.starts_with("openat(") {
            let path = call.split('"').nth(1).unwrap_or_default().to_owned();
            if let Some(fd) = call
                .rsplit("= ")
                .next()
                .and_then(|r| r.split_whitespace().next())
                && fd.parse::<i32>().is_ok_and(|n| n >= 0)
            {
                fd_path.insert(fd.to_owned(), path);
            }
        } else if let Some(rest) = call
            .strip_prefix("fcntl(")
            .filter(|r| r.contains("F_DUPFD"))
            .or_else(|| call.strip_prefix("dup("))
        {
            // A duplicated descriptor names the same file (a sync may be issued on a dup).
            let old: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let (Some(path), Some(new)) = (
                fd_path.get(&old).cloned(),
                call.rsplit("= ").next().map(str::trim),
            ) && new.parse::<i32>().is_ok_and(|n| n >= 0)
            {
                fd_path.insert(new.to_owned(), path);
            }
        } else if let Some(rest) = ["fsync(", "fdatasync(", "syncfs("]
            .iter()
            .find_map(|p| call.strip_prefix(p))
        {
            let fd: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let path = fd_path.get(&fd).cloned().unwrap_or_default();
            let path = if call.starts_with("syncfs(") {
                format!("syncfs:{path}")
            } else {
                path
            };
            if call.contains("<unfinished") {
                pending.insert(pid.to_owned(), path);
            } else if call.contains("= 0") {
                syncs.push(Sync { line: i, path });
            }
        } else if call.starts_with("<... fsync resumed>")
            || call.starts_with("<... fdatasync resumed>")
            || call.starts_with("<... syncfs resumed>")
        {
            if let Some(path) = pending.remove(pid)
                && call.contains("= 0")
            {
                syncs.push(Sync { line: i, path });
            }
        } else if call.starts_with("rename(") || call.starts_with("renameat(") {
            let quoted: Vec<&str> = call.split('"').collect();
            if quoted.len() >= 4 {
                renames.push((i, quoted[1].to_owned(), quoted[3].to_owned()));
            }
        } else if call.starts_with("write(1,") && ack.is_none() {
            ack = Some(i);
        }
    }
    (syncs, renames, ack)
}

/// The `strace -f` log of one CLI command on the store at `store`, with full durability.
fn trace(store: &std::path::Path, args: &[&str], method: &str) -> String {
    let log_path = store.parent().expect("parent").join("strace.log");
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,rename,renameat,renameat2,fsync,fdatasync,syncfs,write,fcntl,dup,unlink,unlinkat",
            "-o",
        ])
        .arg(&log_path)
        .arg(EXE)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("GITSTATE_SYNC_METHOD", method)
        .env("GITSTATE_MAINTENANCE", "off")
        .env_remove("GITSTATE_DURABILITY")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("strace must be installed (.ci/run installs it)");
    assert!(status.success(), "{method}: {args:?} under strace failed");
    std::fs::read_to_string(&log_path).expect("strace log")
}

fn check_one_write(method: &str) {
    let s = TempStore::init();
    let mut c = cli(EXE, &s.path);
    c.args(["set", "doc", "1"]);
    assert_eq!(run(c).code, 0);
    let log = trace(&s.path, &["set", "doc", "2"], method);
    let (syncs, renames, ack) = parse(&log);
    let ack = ack.expect("the acknowledgement was written");
    let commit = renames
        .iter()
        .find(|(_, from, to)| {
            from.ends_with("refs/heads/main.lock") && to.ends_with("refs/heads/main")
        })
        .map(|(i, _, _)| *i)
        .expect("the ref was renamed into place");
    let synced_before = |line: usize, pred: &dyn Fn(&str) -> bool| {
        syncs.iter().any(|s| s.line < line && pred(&s.path))
    };
    let syncfs_before = |line: usize, after: usize| {
        syncs
            .iter()
            .any(|s| s.path.starts_with("syncfs:") && s.line < line && s.line > after)
    };
    // Every object renamed into place: its data and its directory, before the ref moves.
    let objects: Vec<&Rename> = renames
        .iter()
        .filter(|(_, from, _)| from.contains("/objects/gitstate-tmp-"))
        .collect();
    assert!(
        objects.len() >= 3,
        "{method}: blob, tree and commit are written"
    );
    let last_object = objects.iter().map(|(i, _, _)| *i).max().unwrap_or(0);
    for (_, tmp, object) in &objects {
        let fan_out = object
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        let ok = syncfs_before(commit, last_object)
            || (synced_before(commit, &|p| p == tmp.as_str())
                && synced_before(commit, &|p| p == fan_out));
        assert!(
            ok,
            "{method}: object {object} or its directory not synced before the ref moved"
        );
    }
    let lock_ok = syncfs_before(commit, last_object)
        || synced_before(commit, &|p| p.ends_with("refs/heads/main.lock"));
    assert!(
        lock_ok,
        "{method}: the ref lock file was not synced before its rename"
    );
    // The rename itself is durable before the acknowledgement.
    let heads_synced = syncs
        .iter()
        .any(|s| s.line > commit && s.line < ack && s.path.ends_with("refs/heads"));
    assert!(
        heads_synced,
        "{method}: refs/heads not synced between the rename and the acknowledgement"
    );
}

#[test]
fn a_durable_write_syncs_everything_it_depends_on_before_acknowledging() {
    check_one_write("per-file");
    check_one_write("syncfs");
}

/// The line of the last rename into `to`.
fn renamed_to(renames: &[Rename], to: &str) -> usize {
    renames
        .iter()
        .filter(|(_, _, t)| t == to)
        .map(|(i, _, _)| *i)
        .max()
        .unwrap_or_else(|| panic!("nothing was renamed to {to}"))
}

/// Recovery takes a document file that is missing while the index lists it for a deletion by
/// hand. So a new document's name (and every directory made for it), or a file made by hand
/// that `commit` adopts, must be durable before the index records it, or a power cut can lose
/// the name and keep the index; likewise the removal of a name before the index forgets it.
#[test]
fn a_new_or_removed_document_name_is_durable_before_the_index_records_it() {
    let s = TempStore::init();
    let root = s.path.to_str().expect("utf-8 path").to_owned();
    let index = format!("{root}/.git/index");
    let synced_between = |syncs: &[Sync], dir: &str, after: usize, before: usize| {
        syncs
            .iter()
            .any(|s| s.path == dir && s.line > after && s.line < before)
    };

    let log = trace(&s.path, &["set", "a/b/doc", "1"], "per-file");
    let (syncs, renames, _) = parse(&log);
    let doc = renamed_to(&renames, &format!("{root}/a/b/doc.json"));
    let indexed = renamed_to(&renames, &index);
    assert!(
        doc < indexed,
        "the document file is written before the index"
    );
    for dir in [format!("{root}/a/b"), format!("{root}/a"), root.clone()] {
        assert!(
            synced_between(&syncs, &dir, doc, indexed),
            "{dir} not synced between the new document's rename and the index's"
        );
    }

    // A file made by hand and adopted by `commit`: the name is new to the index.
    std::fs::write(s.path.join("by-hand.json"), "{}").expect("write by hand");
    let log = trace(&s.path, &["commit"], "per-file");
    let (syncs, renames, _) = parse(&log);
    let adopted = renamed_to(&renames, &format!("{root}/by-hand.json"));
    let indexed = renamed_to(&renames, &index);
    assert!(
        synced_between(&syncs, &root, adopted, indexed),
        "the store's directory not synced between adopting by-hand.json and the index's rename"
    );

    let log = trace(&s.path, &["rm", "a/b/doc"], "per-file");
    let (syncs, renames, _) = parse(&log);
    let removed = log
        .lines()
        .position(|l| l.contains("unlink") && l.contains("a/b/doc.json\""))
        .expect("the document file was removed");
    let indexed = renamed_to(&renames, &index);
    assert!(
        synced_between(&syncs, &root, removed, indexed),
        "the store's directory (left holding the removal of a/) not synced between the \
         removal and the index's rename"
    );
}
