//! What otactl prints: with `--json` exactly one JSON document on stdout, otherwise text for
//! people (tables for lists). Progress and notes go to stderr, so stdout stays what a script
//! captures.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// Prints one JSON document on stdout.
pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::new(ErrorKind::Transport, format!("cannot encode the answer as JSON: {e}")))?;
    line(&text);
    Ok(())
}

/// A list command's output: `items` as one JSON document with `--json`; otherwise `empty` when
/// there are none, else a table with `header` and one `row` per item.
pub fn list<T: Serialize>(
    json_mode: bool,
    items: &[T],
    empty: &str,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<()> {
    if json_mode {
        return json(&items);
    }
    if items.is_empty() {
        line(empty);
        return Ok(());
    }
    let mut table = Table::new(header);
    for item in items {
        table.row(row(item));
    }
    table.print();
    Ok(())
}

/// Prints a line on stdout; a closed pipe (`otactl ... | head`) ends the program quietly.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// A note for people on stderr.
pub fn note(text: &str) {
    eprintln!("{text}");
}

/// A spinner on stderr while `message` is being done, when stderr is a terminal (the admin
/// client reports no progress of a request); off a terminal, `message` as a note.
pub fn spinner(message: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        note(&format!("otactl: {message}"));
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// A table: a header row and rows, columns separated by two spaces, padded to the widest cell.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut text = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count()) + 2));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out.pop();
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        line(&self.render());
    }
}

/// A time from the API (milliseconds since the Unix epoch) in UTC, to the second.
pub fn time(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
        Err(_) => "-".into(),
    }
}

/// A duration in milliseconds as `15m`, `1h 30m`, `0s`.
pub fn duration_ms(ms: i64) -> String {
    let secs = u64::try_from(ms).unwrap_or(0) / 1000;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// A byte count for people: `56.0 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The first 12 hex digits of a digest.
pub fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// An optional value, `-` when absent.
pub fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["ID", "NAME"]);
        t.row(vec!["1".into(), "first".into()]);
        t.row(vec!["100".into(), "x".into()]);
        assert_eq!(t.render(), "ID   NAME\n1    first\n100  x");
    }

    #[test]
    fn times_sizes_and_durations() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(duration_ms(3_600_000), "1h");
        assert_eq!(duration_ms(0), "0s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(57_344), "56.0 KiB");
    }
}
