//! Commit messages: the summary a write records and the machine-readable trailers that say
//! what it did.
//!
//! ```text
//! set prefs
//!
//! Gitstate-Op: set
//! Gitstate-Doc: prefs
//! ```

use crate::name::DocName;

/// Trailer naming the operation.
pub const OP_TRAILER: &str = "Gitstate-Op";
/// Trailer naming a document the commit touched (one line per document).
pub const DOC_TRAILER: &str = "Gitstate-Doc";
/// The op reported for commits made without gitstate (no `Gitstate-Op` trailer).
pub const EXTERNAL_OP: &str = "external";

/// Trailer naming the revision a rollback or undo restored.
pub const TARGET_TRAILER: &str = "Gitstate-Target";

/// Build a commit message from an optional user message, the op, the documents and any
/// further trailers.
pub(crate) fn compose(
    user: Option<&str>,
    op: &str,
    names: &[DocName],
    extra: &[(&str, String)],
) -> String {
    let summary = match user.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_owned(),
        None => match names {
            [one] => format!("{op} {one}"),
            many => format!("{op} {} documents", many.len()),
        },
    };
    let mut message = summary;
    message.push_str("\n\n");
    message.push_str(&format!("{OP_TRAILER}: {op}\n"));
    for (key, value) in extra {
        message.push_str(&format!("{key}: {value}\n"));
    }
    for name in names {
        message.push_str(&format!("{DOC_TRAILER}: {name}\n"));
    }
    message
}

/// A commit message split into its text and gitstate's trailers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The message without the trailer block, trimmed.
    pub text: String,
    /// The `Gitstate-Op` trailer, or [`EXTERNAL_OP`].
    pub op: String,
    /// The `Gitstate-Doc` trailers.
    pub names: Vec<String>,
    /// All trailers of the final paragraph, in order.
    pub trailers: Vec<(String, String)>,
}

/// Split `message` into text and trailers (the last paragraph, when every line of it is
/// `Key: value`).
pub fn parse(message: &str) -> Parsed {
    let trimmed = message.trim_end();
    let (body, last) = match trimmed.rfind("\n\n") {
        Some(i) => (&trimmed[..i], &trimmed[i + 2..]),
        None => ("", trimmed),
    };
    let trailers: Option<Vec<(String, String)>> = last
        .lines()
        .map(|line| {
            let (k, v) = line.split_once(": ")?;
            let key_ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            key_ok.then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect();
    let (text, trailers) = match trailers {
        Some(t) if !t.is_empty() && !body.is_empty() => (body.trim().to_owned(), t),
        _ => (trimmed.trim().to_owned(), Vec::new()),
    };
    let op = trailers
        .iter()
        .find(|(k, _)| k == OP_TRAILER)
        .map_or_else(|| EXTERNAL_OP.to_owned(), |(_, v)| v.clone());
    let names = trailers
        .iter()
        .filter(|(k, _)| k == DOC_TRAILER)
        .map(|(_, v)| v.clone())
        .collect();
    Parsed {
        text,
        op,
        names,
        trailers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_then_parse_round_trips() {
        let names = vec![
            DocName::new("a").expect("valid"),
            DocName::new("b/c").expect("valid"),
        ];
        let m = compose(None, "tx", &names, &[]);
        assert!(m.starts_with("tx 2 documents\n\nGitstate-Op: tx\n"));
        let p = parse(&m);
        assert_eq!(p.text, "tx 2 documents");
        assert_eq!(p.op, "tx");
        assert_eq!(p.names, vec!["a", "b/c"]);
        let m = compose(Some("why it changed"), "set", &names[..1], &[]);
        assert_eq!(parse(&m).text, "why it changed");
    }

    #[test]
    fn plain_git_messages_are_external() {
        let p = parse("fix things\n\nmore detail\n");
        assert_eq!(
            (p.op.as_str(), p.text.as_str()),
            ("external", "fix things\n\nmore detail")
        );
        assert_eq!(parse("one line").op, "external");
    }
}
