//! Printing results: tables and trees for people, JSON for scripts; colour
//! only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::args::OutputFormat;
use crate::failure::{Failure, Outcome};

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Table or JSON.
    pub format: OutputFormat,
    terminal: bool,
    colour: bool,
}

impl Output {
    /// For stdout as it is now: colour when it is a terminal and `NO_COLOR`
    /// is unset or empty.
    pub fn new(format: OutputFormat) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            format,
            terminal,
            colour: terminal && !no_colour,
        }
    }

    /// True for `--output json`.
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `value` as JSON: indented on a terminal, one line when piped.
    pub fn print_json(&self, value: &impl Serialize) -> Outcome {
        let text = if self.terminal {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        }
        .map_err(|e| Failure::local(format!("cannot print JSON: {e}")))?;
        self.line(&text)
    }

    /// Prints `value` as one compact JSON line (a stream's message).
    pub fn print_json_line(&self, value: &impl Serialize) -> Outcome {
        let text = serde_json::to_string(value)
            .map_err(|e| Failure::local(format!("cannot print JSON: {e}")))?;
        self.line(&text)
    }

    /// Prints one line and flushes it (so pipes see it at once).
    pub fn line(&self, text: &str) -> Outcome {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::local(format!("cannot write to stdout: {e}")))
    }

    /// `text` in bold when colour is on.
    pub fn bold(&self, text: &str) -> String {
        self.style("1", text)
    }

    /// `text` dimmed when colour is on.
    pub fn dim(&self, text: &str) -> String {
        self.style("2", text)
    }

    /// `text` in green (good) or red (bad) when colour is on.
    pub fn verdict(&self, good: bool, text: &str) -> String {
        self.style(if good { "32" } else { "31" }, text)
    }

    fn style(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Rows printed in aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(headings: &[&str]) -> Self {
        Self {
            rows: vec![headings.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// A table without headings.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text: columns padded to their widest cell.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 3));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text.pop();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut table = Table::new(&["NAME", "NODES"]);
        table.row(vec!["com.example.srv.greeter".into(), "2".into()]);
        table.row(vec!["x".into(), "10".into()]);
        assert_eq!(
            table.render(),
            "NAME                      NODES\ncom.example.srv.greeter   2\nx                         10"
        );
    }
}
