//! Edits made outside gitstate: recording them (`commit`) or throwing them away (`restore`).
//!
//! gitstate never silently discards or silently commits an edit made by hand to a document
//! file; these two commands are how a person decides.

use crate::canonical;
use crate::error::Error;
use crate::lock::StoreLock;
use crate::name::DocName;
use crate::store::Store;
use crate::transaction::{Change, WriteOutcome, WriteSpec};
use crate::worktree::Drift;

impl Store {
    /// Record the working tree's outside edits as one commit (op `commit`): modified and new
    /// document files are stored (in canonical form), missing ones deleted. Every file is
    /// validated first: a file with an invalid document name or invalid JSON is an error
    /// naming it, and nothing is committed.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::InvalidJson`]; otherwise as [`Store::set`].
    pub fn commit_outside_edits(&self, message: Option<&str>) -> Result<WriteOutcome, Error> {
        let mut spec = WriteSpec::new("commit", message);
        spec.adopt_outside_edits = true;
        spec.check_versions = false;
        self.write(spec, |snapshot| {
            let wt = self.worktree();
            let index = wt.load_index()?;
            let mut edits = Vec::new();
            for drift in wt.drift(&snapshot.files()?, &index)? {
                let (rela, missing) = match drift {
                    Drift::Missing(p) => (p, true),
                    Drift::Modified(p) | Drift::Untracked(p) => (p, false),
                };
                let name = DocName::from_rela_path(&rela).ok_or_else(|| {
                    let stem = rela.strip_suffix(".json").unwrap_or(&rela);
                    match DocName::new(stem) {
                        Err(e) => Error::InvalidName(e),
                        Ok(_) => Error::InvalidName(crate::name::InvalidName {
                            name: rela.clone(),
                            rule: "document files end in .json",
                        }),
                    }
                })?;
                if missing {
                    edits.push((name, Change::Delete));
                    continue;
                }
                let path = self.root().join(&rela);
                let bytes = wt.read_file(&rela)?;
                let value = canonical::parse(&bytes).map_err(|source| Error::InvalidJson {
                    what: format!("document {name} ({})", path.display()),
                    source,
                })?;
                edits.push((name, Change::Put(value)));
            }
            Ok(edits)
        })
    }

    /// Throw away outside edits: rewrite the named document files (all drifting ones when
    /// `names` is empty) from HEAD, and remove document files HEAD does not have. Returns the
    /// paths restored. Files that are not documents are left alone.
    ///
    /// # Errors
    /// An invalid name, [`Error::Locked`], I/O errors.
    pub fn restore<N: AsRef<str>>(&self, names: &[N]) -> Result<Vec<String>, Error> {
        let names = names
            .iter()
            .map(|n| DocName::new(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let lock = StoreLock::acquire(
            self.git_dir(),
            self.sharing(),
            "restore",
            self.options().lock_timeout,
        )?;
        let repo = self.repo();
        let crate::store::Recovered {
            files, mut index, ..
        } = self.recover_locked(&repo, false, lock.previous_holder_died)?;
        let wt = self.worktree();
        let wanted = |rela: &str| {
            DocName::from_rela_path(rela).is_some_and(|n| names.is_empty() || names.contains(&n))
        };
        let mut restored = Vec::new();
        for drift in wt.drift(&files, &index)? {
            let rela = match &drift {
                Drift::Missing(p) | Drift::Modified(p) | Drift::Untracked(p) => p.clone(),
            };
            if wanted(&rela) {
                restored.push(rela);
            }
        }
        wt.reset_paths(&repo, &files, &restored, &mut index)?;
        Ok(restored)
    }
}
