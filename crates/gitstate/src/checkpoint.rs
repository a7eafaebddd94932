//! Checkpoints: named states, stored as annotated git tags (`refs/tags/LABEL`).

use gix::ObjectId;
use gix::bstr::ByteSlice;

use crate::durable;
use crate::error::{Error, GitContext, IoContext};
use crate::identity;
use crate::lock::StoreLock;
use crate::name;
use crate::refs;
use crate::store::Store;

/// A named state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checkpoint {
    /// The label (a revision everywhere one is taken).
    pub label: String,
    /// The commit it names.
    pub commit: String,
    /// When it was made, RFC 3339.
    pub time: String,
    /// Its message.
    pub message: String,
}

impl Store {
    /// Name the current state `label` (a new annotated tag on the branch's commit). Labels
    /// follow the document-name rules for one segment (no `/`), and must be new.
    ///
    /// Crash safety: the tag object is synced before the tag ref is created with git's
    /// lock-file protocol, synced.
    ///
    /// # Errors
    /// An invalid label, [`Error::Conflict`] when the label exists, I/O errors.
    pub fn checkpoint(&self, label: &str, message: Option<&str>) -> Result<Checkpoint, Error> {
        name::validate(label, false)?;
        let refname = format!("refs/tags/{label}");
        if gix::refs::FullName::try_from(refname.as_str()).is_err()
            || label.ends_with(".lock")
            || label.contains("..")
            || ["HEAD", "main", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD"].contains(&label)
        {
            return Err(Error::InvalidName(name::InvalidName {
                name: label.to_owned(),
                rule: "a checkpoint label must be a valid git tag name other than HEAD or main",
            }));
        }
        let _lock = StoreLock::acquire(
            self.git_dir(),
            self.sharing(),
            "checkpoint",
            self.options().lock_timeout,
        )?;
        let repo = self.repo();
        let head = refs::read_branch(&repo)?.ok_or_else(|| Error::Revision {
            rev: "HEAD".into(),
            reason: "the store has no commit to name".into(),
        })?;
        let tags = self.git_dir().join("refs/tags");
        let ref_path = tags.join(label);
        if ref_path.exists()
            || repo
                .try_find_reference(format!("refs/tags/{label}").as_str())
                .ok()
                .flatten()
                .is_some()
        {
            return Err(Error::Conflict {
                branch: format!("refs/tags/{label}"),
                expected: "(none)".into(),
                actual: format!("checkpoint {label} exists already"),
            });
        }
        let who = identity::resolve(self.options().author.as_deref(), &repo)?;
        let time = identity::commit_time(self.options().commit_time)?;
        let text = message.map_or_else(|| format!("checkpoint {label}"), str::to_owned);
        let tag = gix::objs::Tag {
            target: head,
            target_kind: gix::objs::Kind::Commit,
            name: label.into(),
            tagger: Some(identity::signature(&who, time)),
            message: format!("{}\n", text.trim_end()).into(),
            signature: None,
        };
        let objects_dir = self.git_dir().join("objects");
        let mut writer = self.object_writer(&objects_dir);
        let tag_id = writer.write_object(&tag)?;
        durable::create_dirs_below(self.git_dir(), "refs/tags", self.sharing().dir_mode())?;
        let lock_path = tags.join(format!("{label}.lock"));
        // Created exclusively: an existing lock file belongs to a git process making this tag.
        let mut lock =
            durable::create_new(&lock_path, self.sharing().file_mode()).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Conflict {
                        branch: refname.clone(),
                        expected: "(none)".into(),
                        actual: format!(
                            "locked by another program ({} exists)",
                            lock_path.display()
                        ),
                    }
                } else {
                    Error::Io {
                        op: "create tag lock",
                        path: lock_path.clone(),
                        source: e,
                    }
                }
            })?;
        std::io::Write::write_all(&mut lock, format!("{tag_id}\n").as_bytes())
            .io_context("write", &lock_path)?;
        let result = writer
            .finish(Some((&lock, &lock_path)))
            .and_then(|()| {
                std::fs::rename(&lock_path, &ref_path).io_context("rename into place", &ref_path)
            })
            .and_then(|()| {
                if self.options().durability == durable::Durability::Full {
                    durable::sync_dir(&tags)
                } else {
                    Ok(())
                }
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&lock_path);
        }
        result?;
        Ok(Checkpoint {
            label: label.to_owned(),
            commit: head.to_string(),
            time: crate::log::rfc3339(time),
            message: text,
        })
    }

    /// Every checkpoint, oldest first.
    ///
    /// # Errors
    /// Unreadable refs or tags.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error> {
        let repo = self.repo();
        let platform = repo
            .references()
            .git_context(|| "list references".to_owned())?;
        let mut out = Vec::new();
        for reference in platform.tags().git_context(|| "list tags".to_owned())? {
            let reference = reference.map_err(|e| Error::Git {
                what: "read a tag".into(),
                source: e.into(),
            })?;
            let label = reference.name().shorten().to_str_lossy().into_owned();
            let Some(target) = reference.target().try_id().map(ToOwned::to_owned) else {
                continue;
            };
            let commit = crate::revision::peel_to_commit(&repo, target)?;
            let (time, message) = tag_details(&repo, target, commit)?;
            out.push(Checkpoint {
                label,
                commit: commit.to_string(),
                time: crate::log::rfc3339(time),
                message,
            });
        }
        out.sort_by(|a, b| a.time.cmp(&b.time).then(a.label.cmp(&b.label)));
        Ok(out)
    }
}

/// The time and message of an annotated tag, or of the commit for a lightweight one.
fn tag_details(
    repo: &gix::Repository,
    target: ObjectId,
    commit: ObjectId,
) -> Result<(gix::date::Time, String), Error> {
    let kind = repo
        .find_header(target)
        .git_context(|| format!("read {target}"))?
        .kind();
    let object = crate::objects::find(repo, target, kind)?;
    if object.kind == gix::objs::Kind::Tag {
        let tag = gix::objs::TagRef::from_bytes(&object.data, gix::hash::Kind::Sha1)
            .git_context(|| format!("decode tag {target}"))?;
        let time = tag
            .tagger()
            .ok()
            .flatten()
            .and_then(|t| t.time().ok())
            .unwrap_or_else(|| gix::date::Time::new(0, 0));
        return Ok((time, tag.message.to_str_lossy().trim().to_owned()));
    }
    let c = crate::objects::find(repo, commit, gix::objs::Kind::Commit)?.into_commit();
    let decoded = c
        .decode()
        .git_context(|| format!("decode commit {commit}"))?;
    let time = decoded
        .committer()
        .ok()
        .and_then(|s| s.time().ok())
        .unwrap_or_else(|| gix::date::Time::new(0, 0));
    Ok((
        time,
        crate::message::parse(&decoded.message.to_str_lossy()).text,
    ))
}
