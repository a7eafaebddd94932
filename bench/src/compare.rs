//! The alternatives users would pick instead of gitstate, behind the `compare` feature (their
//! C libraries are heavy builds, so only `cargo xtask bench` turns it on).

use std::path::Path;

use crate::Res;

/// libgit2 (the `git2` crate): blob, tree, commit and branch update per write, with
/// `core.fsyncObjectFiles` on, which makes libgit2 fsync objects, refs and their
/// directories.
pub struct Libgit2 {
    repo: git2::Repository,
}

impl Libgit2 {
    pub fn init(dir: &Path) -> Res<Libgit2> {
        let repo = git2::Repository::init(dir)?;
        repo.config()?.set_bool("core.fsyncObjectFiles", true)?;
        Ok(Libgit2 { repo })
    }

    pub fn write(&self, bytes: &[u8]) -> Res<()> {
        let repo = &self.repo;
        let blob = repo.blob(bytes)?;
        let mut tree = repo.treebuilder(None)?;
        tree.insert("doc.json", blob, 0o100_644)?;
        let tree = repo.find_tree(tree.write()?)?;
        let parent = match repo.refname_to_id("refs/heads/main") {
            Ok(id) => Some(repo.find_commit(id)?),
            Err(_) => None,
        };
        let sig = git2::Signature::now("bench", "bench@example.invalid")?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some("refs/heads/main"),
            &sig,
            &sig,
            "write",
            &tree,
            &parents,
        )?;
        Ok(())
    }
}

/// SQLite (rusqlite, bundled): each version a row, WAL journal, `synchronous=FULL`.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl Sqlite {
    pub fn open(path: &Path) -> Res<Sqlite> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS versions (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 doc BLOB NOT NULL,
                 at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS versions_by_name ON versions (name, id);",
        )?;
        Ok(Sqlite { conn })
    }

    pub fn write(&self, bytes: &[u8]) -> Res<()> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        self.conn.execute(
            "INSERT INTO versions (name, doc, at) VALUES ('doc', ?1, ?2)",
            rusqlite::params![bytes, at as i64],
        )?;
        Ok(())
    }
}
