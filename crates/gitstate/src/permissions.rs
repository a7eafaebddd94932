//! Who may use a store's files: the owner only (the default), or a group, or everyone too.
//! Chosen at init, recorded as git's `core.sharedRepository`, read back on every open.

use gix::bstr::{BStr, ByteSlice};

use crate::error::Error;

/// The config key that records a store's [`Sharing`], as git names it.
pub(crate) const CONFIG_KEY: &str = "core.sharedRepository";

/// Who besides the owner may read and write a store.
///
/// Chosen when the store is created ([`crate::Options::shared`]) and recorded in the store's
/// git config as `core.sharedRepository`, so that plain git honours it too. Every later open
/// reads it from there: all writers, library or command line, create files with the same
/// modes whatever options they were given. Modes are set explicitly, so the process umask
/// never weakens them.
///
/// | | files | object files | directories |
/// |---|---|---|---|
/// | `Private` | 0600 | 0400 | 0700 |
/// | `Group` | 0660 | 0440 | 2770 (setgid: the group is inherited) |
/// | `All` | 0664 | 0444 | 2775 |
///
/// With `Group` and `All`, the store's directory should belong to the group that is to share
/// it (`chgrp` it, or create the store in a directory of that group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sharing {
    /// Only the owner can read or write anything in the store. No config entry.
    #[default]
    Private,
    /// The owner and the group can read and write (`core.sharedRepository = group`).
    Group,
    /// As [`Sharing::Group`], and everyone else can read (`core.sharedRepository = all`).
    All,
}

impl Sharing {
    /// Mode of ordinary files: document files, refs, reflog, index, config, the lock file.
    pub(crate) fn file_mode(self) -> u32 {
        match self {
            Sharing::Private => 0o600,
            Sharing::Group => 0o660,
            Sharing::All => 0o664,
        }
    }

    /// Mode of loose object files, which are never rewritten in place.
    pub(crate) fn object_mode(self) -> u32 {
        self.file_mode() & 0o444
    }

    /// Mode of directories gitstate creates.
    pub(crate) fn dir_mode(self) -> u32 {
        match self {
            Sharing::Private => 0o700,
            Sharing::Group => 0o2770,
            Sharing::All => 0o2775,
        }
    }

    /// The `core.sharedRepository` value init records; `None` for the default.
    pub(crate) fn config_value(self) -> Option<&'static str> {
        match self {
            Sharing::Private => None,
            Sharing::Group => Some("group"),
            Sharing::All => Some("all"),
        }
    }

    /// The modes as git's octal `core.sharedRepository`, which makes git (and gix's lock
    /// files) create exactly [`Sharing::file_mode`], read-only files without the write bits,
    /// and directories as [`Sharing::dir_mode`]: given to the `git` gitstate runs, so that
    /// its packs are no more open than gitstate's own files.
    pub(crate) fn git_octal(self) -> String {
        format!("0{:o}", self.file_mode())
    }

    /// [`Sharing::git_octal`] in gix's encoding (git's parsed value: negative is exact).
    pub(crate) fn gix_permissions(self) -> i32 {
        -(self.file_mode() as i32)
    }

    /// Parse the store's `core.sharedRepository` as git does: `None` when the key is absent,
    /// `Some(None)` when it is given without a value (git reads that as `true`).
    ///
    /// # Errors
    /// [`Error::Config`] for an octal mode (which gitstate does not support) or a value git
    /// would reject.
    pub(crate) fn from_config(value: Option<Option<&BStr>>) -> Result<Sharing, Error> {
        let Some(value) = value else {
            return Ok(Sharing::Private);
        };
        let parsed = gix::config::tree::Core::SHARED_REPOSITORY.try_into_shared_repository(value);
        match parsed {
            Ok(0) => Ok(Sharing::Private),
            Ok(0o660) => Ok(Sharing::Group),
            Ok(0o664) => Ok(Sharing::All),
            // An octal mode: git would make files exactly that mode; gitstate supports the
            // named modes only (an exact-mode value like 0660 parses as negative).
            _ => Err(Error::Config {
                setting: format!(
                    "{CONFIG_KEY} = {:?} in the store's git config",
                    value.map_or_else(String::new, |v| v.to_str_lossy().into_owned())
                ),
                reason: "gitstate supports false/umask (private), true/group and \
                         all/world/everybody, not octal modes"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Sharing, Error> {
        Sharing::from_config(Some(Some(value.into())))
    }

    #[test]
    fn git_spellings_map_to_the_three_modes() {
        assert_eq!(Sharing::from_config(None).ok(), Some(Sharing::Private));
        assert_eq!(Sharing::from_config(Some(None)).ok(), Some(Sharing::Group));
        for v in ["umask", "false", "no", "off", "0", "00"] {
            assert_eq!(parse(v).ok(), Some(Sharing::Private), "{v}");
        }
        for v in ["group", "true", "yes", "on", "1"] {
            assert_eq!(parse(v).ok(), Some(Sharing::Group), "{v}");
        }
        for v in ["all", "world", "everybody", "2"] {
            assert_eq!(parse(v).ok(), Some(Sharing::All), "{v}");
        }
    }

    #[test]
    fn octal_and_unknown_values_are_errors_naming_key_and_value() {
        for v in ["0640", "0660", "0600", "0777", "Group", "sometimes"] {
            let err = parse(v).expect_err(v).to_string();
            assert!(err.contains("core.sharedRepository"), "{err}");
            assert!(err.contains(&format!("{v:?}")), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn modes_follow_the_table() {
        assert_eq!(
            (
                Sharing::Private.file_mode(),
                Sharing::Private.object_mode(),
                Sharing::Private.dir_mode()
            ),
            (0o600, 0o400, 0o700)
        );
        assert_eq!(
            (
                Sharing::Group.file_mode(),
                Sharing::Group.object_mode(),
                Sharing::Group.dir_mode()
            ),
            (0o660, 0o440, 0o2770)
        );
        assert_eq!(
            (
                Sharing::All.file_mode(),
                Sharing::All.object_mode(),
                Sharing::All.dir_mode()
            ),
            (0o664, 0o444, 0o2775)
        );
        assert_eq!(Sharing::Group.git_octal(), "0660");
    }
}
