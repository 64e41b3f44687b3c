//! Errors that point into user files, rendered the way rustc and Hurl do:
//! a title, `--> file:line:col`, the offending line, a caret and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file; both numbers are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// An error located in a user file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: PathBuf,
    pub pos: Pos,
    /// What went wrong, a lowercase fragment ("unknown key `expcet` in a step").
    pub message: String,
    /// What to do about it ("did you mean `expect`?").
    pub help: Option<String>,
    /// The text of the offending line, when known.
    pub line_text: Option<Box<str>>,
    /// Further errors found in the same file (each step is checked, up to [`MAX_ERRORS`]).
    pub also: Box<[SourceError]>,
}

/// How many errors of one file are reported at once.
pub const MAX_ERRORS: usize = 20;

impl SourceError {
    pub fn new(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        SourceError { file: file.to_path_buf(), pos, message: message.into(), help: None, line_text: None, also: Box::default() }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches the offending line from the source text.
    pub fn with_source(mut self, source: &str) -> Self {
        if self.pos.line > 0 {
            self.line_text = source.lines().nth(self.pos.line - 1).map(Box::from);
        }
        self.also = std::mem::take(&mut self.also).into_vec().into_iter().map(|e| e.with_source(source)).collect();
        self
    }

    /// One error for a list of them: the first, carrying the rest.
    pub fn many(mut errors: Vec<SourceError>) -> Option<SourceError> {
        if errors.is_empty() {
            return None;
        }
        let mut first = errors.remove(0);
        errors.truncate(MAX_ERRORS - 1);
        first.also = errors.into();
        Some(first)
    }

    /// `file:line:col`, for one-line uses (GitHub annotations, JSON reports).
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.pos.line, self.pos.col)
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        write!(f, "  --> {}", self.location())?;
        if let Some(text) = &self.line_text {
            let num = self.pos.line.to_string();
            let pad = " ".repeat(num.len());
            let text = text.replace('\t', " ");
            // Cap very long lines so a minified JSON file does not flood the terminal.
            let shown: String = text.chars().take(200).collect();
            write!(f, "\n{pad} |\n{num} | {shown}\n{pad} | {}^", " ".repeat(self.pos.col.saturating_sub(1)))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        for e in self.also.iter() {
            write!(f, "\n\nerror: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SourceError {}

/// The closest candidate to `word`, for "did you mean …?" hints.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let e = SourceError::new(Path::new("s.yaml"), Pos { line: 2, col: 3 }, "unknown key `expcet` in a step")
            .with_help("did you mean `expect`?")
            .with_source("a: 1\n  expcet: 2\n");
        let text = e.to_string();
        assert!(text.contains("--> s.yaml:2:3"), "{text}");
        assert!(text.contains("2 |   expcet: 2"), "{text}");
        assert!(text.contains("  |   ^"), "{text}");
        assert!(text.contains("did you mean `expect`?"), "{text}");
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(did_you_mean("expcet", ["expect", "request", "name"]), Some("expect"));
        assert_eq!(did_you_mean("min_item", ["min_items", "max_items"]), Some("min_items"));
        assert_eq!(did_you_mean("zzzzzz", ["expect", "request"]), None);
    }
}
