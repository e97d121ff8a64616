//! Where things are: the files a topology was read from, and spans into them.
//!
//! Every node read from a file carries a [`Span`] (file, line and column, 1-based, columns
//! counted in characters), so an error found long after parsing — in validation, in code
//! generation — can still show the offending line. This module owns that bookkeeping and the
//! rendering of a location; it does not know what the nodes mean.

use std::fmt;

/// The formats a topology file can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML 1.0.
    Toml,
    /// YAML 1.2.
    Yaml,
    /// JSON (read with the YAML 1.2 reader, of which it is a subset).
    Json,
}

impl Format {
    /// The format a path's extension names (`.toml`, `.yaml`/`.yml`, `.json`).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Index of a file in a topology's file table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub(crate) u32);

/// A position: 1-based line and column (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub column: u32,
}

/// A range of a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// First character.
    pub start: Pos,
    /// One past the last character (on the same or a later line).
    pub end: Pos,
}

/// One source file: its display name and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name errors use (the path as given).
    pub name: String,
    /// The format it was read as.
    pub format: Format,
    /// The full text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file with its name, format and text.
    pub fn new(name: impl Into<String>, format: Format, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            format,
            text,
            line_starts,
        }
    }

    /// The position of a byte offset.
    pub(crate) fn pos_of_byte(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> &str {
        let i = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(i) else {
            return "";
        };
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// A resolved place in a file, with the line's text: what a diagnostic shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file's display name.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// How many characters to underline (at least 1).
    pub width: u32,
    /// The text of the line.
    pub source_line: String,
}

impl Location {
    /// Resolve a span against the file it points into.
    pub(crate) fn resolve(files: &[SourceFile], span: Span) -> Option<Location> {
        let file = files.get(span.file.0 as usize)?;
        let source_line = file.line(span.start.line).to_owned();
        let line_len = u32::try_from(source_line.chars().count()).unwrap_or(u32::MAX);
        let width = if span.end.line == span.start.line && span.end.column > span.start.column {
            span.end.column - span.start.column
        } else {
            line_len.saturating_sub(span.start.column - 1).max(1)
        };
        Some(Location {
            file: file.name.clone(),
            line: span.start.line,
            column: span.start.column,
            width: width.max(1),
            source_line,
        })
    }

    /// Writes the snippet: the line with its number and a caret under the span.
    pub(crate) fn write_snippet(
        &self,
        f: &mut fmt::Formatter<'_>,
        arrow: &str,
        label: &str,
    ) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        writeln!(f, "{pad}{arrow} {self}")?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{number} | {}", self.source_line)?;
        let lead: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(self.width as usize);
        if label.is_empty() {
            writeln!(f, "{pad} | {lead}{carets}")
        } else {
            writeln!(f, "{pad} | {lead}{carets} {label}")
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
