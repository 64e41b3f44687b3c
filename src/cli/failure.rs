//! A command's failure: what to print, and the exit it ends with.

use crate::exit::Exit;
use crate::load::diag::SourceError;

#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into() }
    }

    /// Located errors in suites or config: usage errors, each with its file:line:col.
    pub fn sources(errors: &[SourceError]) -> Self {
        let text = errors.iter().map(|e| format!("error: {e}")).collect::<Vec<_>>().join("\n\n");
        Failure::new(Exit::Usage, text)
    }
}
