//! Errors in a policy file, each pinned to a line and column a lead can jump to.

use std::fmt;
use std::ops::Range;

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes) so editors agree with it.
    pub column: usize,
    pub message: String,
}

/// Every problem found in one policy file. Validation keeps going after the first problem so
/// a lead can fix them all in one round instead of one per run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyErrors {
    /// How the file is named in messages: a local path, or `owner/repo:path@branch` in the App.
    pub origin: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.origin, d.line, d.column, d.message)?;
        }
        Ok(())
    }
}

/// Turns byte offsets in the policy text into line and column numbers.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// Line and column (both 1-based) of a byte offset; offsets past the end or inside a
    /// multi-byte character are clamped rather than trusted.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count());
        (line, column + 1)
    }

    pub(crate) fn diagnostic(&self, span: &Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = self.position(span.start);
        Diagnostic {
            line,
            column,
            message: one_line(&message.into()),
        }
    }
}

/// Messages quote names and values from the policy, which may hold line breaks or other
/// control characters; each diagnostic must stay one `file:line:column: message` line, so
/// those are shown escaped (`\n`).
pub(crate) fn one_line(message: &str) -> String {
    if !message.chars().any(char::is_control) {
        return message.to_string();
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("ab\nçd = 1\n\nx");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(1), (1, 2));
        assert_eq!(idx.position(3), (2, 1));
        // 'ç' is two bytes; the 'd' after it is the second character.
        assert_eq!(idx.position(5), (2, 2));
        assert_eq!(idx.position(11), (3, 1));
        assert_eq!(idx.position(12), (4, 1));
        assert_eq!(idx.position(999), (4, 2));
    }

    #[test]
    fn messages_stay_on_one_line() {
        let idx = LineIndex::new("x");
        let d = idx.diagnostic(&(0..0), "the string \"a\nb\tc\"");
        assert_eq!(d.message, "the string \"a\\nb\\tc\"");
    }

    #[test]
    fn display_lists_every_diagnostic_with_its_origin() {
        let errors = PolicyErrors {
            origin: "policy.toml".into(),
            diagnostics: vec![
                Diagnostic {
                    line: 1,
                    column: 1,
                    message: "a".into(),
                },
                Diagnostic {
                    line: 3,
                    column: 7,
                    message: "b".into(),
                },
            ],
        };
        assert_eq!(errors.to_string(), "policy.toml:1:1: a\npolicy.toml:3:7: b");
    }
}
