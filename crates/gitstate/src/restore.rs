//! Putting state back: rollback to a revision and undo of the last changes. Both write a
//! new commit; history is never rewritten.

use std::collections::BTreeSet;

use crate::error::Error;
use crate::message::TARGET_TRAILER;
use crate::name::{DocName, InvalidName};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::transaction::{Change, WriteOutcome, WriteSpec};

impl Store {
    /// One new commit that makes the named documents (all documents when `names` is empty)
    /// equal to what they were at `rev`, creating and deleting documents as needed. When
    /// nothing would change, no commit is made. The commit's `Gitstate-Target` trailer names
    /// the commit restored.
    ///
    /// # Errors
    /// [`Error::Revision`] when `rev` does not resolve; otherwise as [`Store::set`].
    pub fn rollback<N>(
        &self,
        rev: &str,
        names: &[N],
        message: Option<&str>,
    ) -> Result<WriteOutcome, Error>
    where
        N: AsRef<str>,
    {
        let names = names
            .iter()
            .map(|n| DocName::new(n.as_ref()))
            .collect::<Result<Vec<_>, InvalidName>>()?;
        let target = self.snapshot_at(rev)?;
        let target_id = target
            .commit_id()
            .expect("a resolved revision has a commit");
        self.restore_to("rollback", &target, &names, message, target_id)
    }

    /// One new commit restoring the state before the last `n` commits of the branch (default
    /// 1). Undoing an undo redoes. The commit's `Gitstate-Target` trailer names the commit
    /// restored.
    ///
    /// # Errors
    /// [`Error::Revision`] when the branch has fewer than `n` commits after its first;
    /// otherwise as [`Store::set`].
    pub fn undo(&self, n: usize, message: Option<&str>) -> Result<WriteOutcome, Error> {
        if n == 0 {
            return Err(Error::Revision {
                rev: "HEAD~0".into(),
                reason: "undo needs a count of at least 1".into(),
            });
        }
        let rev = format!("HEAD~{n}");
        let target = self.snapshot_at(&rev).map_err(|_| Error::Revision {
            rev: rev.clone(),
            reason: format!("there are fewer than {n} commits to undo"),
        })?;
        let target_id = target
            .commit_id()
            .expect("a resolved revision has a commit");
        self.restore_to("undo", &target, &[], message, target_id)
    }

    fn restore_to(
        &self,
        op: &str,
        target: &Snapshot,
        names: &[DocName],
        message: Option<&str>,
        target_id: gix::ObjectId,
    ) -> Result<WriteOutcome, Error> {
        let mut spec = WriteSpec::new(op, message);
        spec.check_versions = false;
        spec.trailers.push((TARGET_TRAILER, target_id.to_string()));
        let default_message;
        if message.is_none() {
            default_message = format!("{op} to {}", &target_id.to_string()[..12]);
            spec.message = Some(&default_message);
        }
        self.write(spec, |current| {
            let wanted: BTreeSet<DocName> = if names.is_empty() {
                current.list()?.into_iter().chain(target.list()?).collect()
            } else {
                names.iter().cloned().collect()
            };
            let mut edits = Vec::new();
            for name in wanted {
                match target.get_value(&name)? {
                    Some(value) => edits.push((name, Change::Put(value))),
                    None if current.contains(&name)? => edits.push((name, Change::Delete)),
                    None => {}
                }
            }
            Ok(edits)
        })
    }
}
