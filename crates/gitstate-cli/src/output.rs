//! Writing to stdout without panicking when the reader goes away (`gitstate log | head`).

use std::io::Write;

/// Print `text` followed by a newline; a closed pipe ends the program quietly.
pub fn line(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", text.as_ref()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Print a JSON value, pretty.
pub fn json(value: &serde_json::Value) {
    line(serde_json::to_string_pretty(value).expect("a Value serializes"));
}
