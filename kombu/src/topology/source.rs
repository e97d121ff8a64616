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
    /// For text that is not all ASCII, the byte offset of every `CHECKPOINT`th character, so
    /// that turning a byte offset into a column (and back) walks at most that many characters
    /// however long the line: a one-line JSON file of megabytes would otherwise make every
    /// position cost the whole line.
    checkpoints: Option<Vec<usize>>,
}

/// Characters between two checkpoints of a non-ASCII file.
const CHECKPOINT: usize = 64;

/// How many characters of a source line a diagnostic shows at most.
const SHOWN_LINE: usize = 120;

/// How many characters before the column a cut line keeps.
const SHOWN_BEFORE: usize = 40;

impl SourceFile {
    /// A file with its name, format and text.
    pub fn new(name: impl Into<String>, format: Format, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let checkpoints = (!text.is_ascii()).then(|| {
            text.char_indices()
                .step_by(CHECKPOINT)
                .map(|(i, _)| i)
                .collect()
        });
        SourceFile {
            name: name.into(),
            format,
            text,
            line_starts,
            checkpoints,
        }
    }

    /// The index (in characters) of the character at a byte offset (rounded down to a
    /// character boundary).
    fn char_index(&self, offset: usize) -> usize {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let Some(checkpoints) = &self.checkpoints else {
            return offset;
        };
        let k = checkpoints
            .partition_point(|&b| b <= offset)
            .saturating_sub(1);
        let from = checkpoints.get(k).copied().unwrap_or(0);
        k * CHECKPOINT + self.text.get(from..offset).map_or(0, |s| s.chars().count())
    }

    /// The byte offset of the character with index `index` (the end of the text past it).
    fn byte_of_char(&self, index: usize) -> usize {
        let Some(checkpoints) = &self.checkpoints else {
            return index.min(self.text.len());
        };
        let Some(&from) = checkpoints.get(index / CHECKPOINT) else {
            return self.text.len();
        };
        self.text
            .get(from..)
            .and_then(|rest| rest.char_indices().nth(index % CHECKPOINT))
            .map_or(self.text.len(), |(i, _)| from + i)
    }

    /// The position of a byte offset.
    pub(crate) fn pos_of_byte(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self.char_index(offset) - self.char_index(start);
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    /// The byte range of a 1-based line, without its line break.
    fn line_range(&self, line: u32) -> Option<(usize, usize)> {
        let i = (line as usize).checked_sub(1)?;
        let start = *self.line_starts.get(i)?;
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.text.len());
        let text = self.text.get(start..end)?;
        Some((start, start + text.trim_end_matches(['\n', '\r']).len()))
    }

    /// The rest of the line from a position.
    pub(crate) fn text_from(&self, pos: Pos) -> &str {
        let Some((start, end)) = self.line_range(pos.line) else {
            return "";
        };
        let from =
            self.byte_of_char(self.char_index(start) + (pos.column as usize).saturating_sub(1));
        self.text.get(from.min(end)..end).unwrap_or("")
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> &str {
        self.line_range(line)
            .and_then(|(start, end)| self.text.get(start..end))
            .unwrap_or("")
    }
}

/// A resolved place in a file, with the line's text: what a diagnostic shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file's display name.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// How many characters to underline (at least 1).
    pub width: u32,
    /// The text of the line as shown: a line longer than 120 characters is cut to 120
    /// around the column (each cut marked with `…`), and control characters are escaped
    /// (`\n`, `\0`, `\u{1b}`), so that what a file holds cannot garble a terminal.
    pub source_line: String,
    /// The column (from 1, in characters of `source_line`) the carets start at.
    pub source_column: u32,
    /// How many characters of `source_line` the carets underline (at least 1).
    pub source_width: u32,
}

impl Location {
    /// Resolve a span against the file it points into.
    pub(crate) fn resolve(files: &[SourceFile], span: Span) -> Option<Location> {
        let file = files.get(span.file.0 as usize)?;
        let (start, end) = file.line_range(span.start.line).unwrap_or((0, 0));
        let first = file.char_index(start);
        let line_len = file.char_index(end) - first;
        let column = span.start.column.max(1);
        let width = if span.end.line == span.start.line && span.end.column > column {
            span.end.column - column
        } else {
            u32::try_from(line_len)
                .unwrap_or(u32::MAX)
                .saturating_sub(column - 1)
        }
        .max(1);
        // The characters shown: all of a short line, else a window around the column.
        let at = column as usize - 1;
        let (from, to) = if line_len <= SHOWN_LINE {
            (0, line_len)
        } else {
            let from = at.saturating_sub(SHOWN_BEFORE).min(line_len - SHOWN_LINE);
            (from, from + SHOWN_LINE)
        };
        let shown = file
            .text
            .get(file.byte_of_char(first + from)..file.byte_of_char(first + to))
            .unwrap_or("");
        let mut source_line = String::new();
        let mut lead = 0;
        let mut under = 0;
        if from > 0 {
            source_line.push('…');
            lead += 1;
        }
        for (i, c) in (from..).zip(shown.chars()) {
            let before = source_line.len();
            super::diagnostic::push_escaped(&mut source_line, c, true);
            let n = source_line.get(before..).map_or(1, |s| s.chars().count());
            if i < at {
                lead += n;
            } else if i < at + width as usize {
                under += n;
            }
        }
        if to < line_len {
            source_line.push('…');
        }
        Some(Location {
            file: super::diagnostic::escape(&file.name),
            line: span.start.line,
            column,
            width,
            source_line,
            source_column: u32::try_from(lead + 1).unwrap_or(u32::MAX),
            source_width: u32::try_from(under.max(1)).unwrap_or(u32::MAX),
        })
    }

    /// Writes the snippet: the line with its number and a caret under the span.
    pub(crate) fn write_snippet(
        &self,
        f: &mut impl fmt::Write,
        arrow: &str,
        label: &str,
        styles: super::diagnostic::Styles,
    ) -> fmt::Result {
        use super::diagnostic::Style;
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let gutter = |text: &str| styles.paint(Style::Gutter, text);
        writeln!(f, "{pad}{} {self}", gutter(arrow))?;
        writeln!(f, "{pad} {}", gutter("|"))?;
        writeln!(f, "{} {}", gutter(&format!("{number} |")), self.source_line)?;
        let lead: String = self
            .source_line
            .chars()
            .take(self.source_column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = "^".repeat(self.source_width as usize);
        let marks = if label.is_empty() {
            carets
        } else {
            format!("{carets} {label}")
        };
        let style = if arrow == "-->" {
            styles.primary
        } else {
            Style::Gutter
        };
        writeln!(
            f,
            "{pad} {} {lead}{}",
            gutter("|"),
            styles.paint(style, &marks)
        )
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
