//! Finding suite files (folders walked in order, only regular files, config and schema files
//! passed over) and loading them all.

use super::*;
use std::path::{Path, PathBuf};

use serde_json::Value as J;

use crate::load::diag::{Pos, SourceError};
use crate::load::yaml::{self};

/// Files in a suite folder that are not suites.
pub fn is_config_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "smokegate.yaml" | "smokegate.yml" | "smokegate.json") || name.ends_with(".schema.json")
}

fn is_suite_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) && !is_config_file(path)
}

/// Expands files and folders (recursively, sorted) into suite files.
/// What discovery found: suite files in order, and what it passed over and why.
#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<String>,
}

/// Finds suite files. Only regular files are read (a FIFO or a device would block or never
/// end); each real folder is walked once and each real file loaded once, however many links
/// lead to them, so link loops end. A path given by name that is not a file or folder is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Discovered, SourceError> {
    let mut d = Discovered::default();
    let mut seen_dirs = std::collections::HashSet::new();
    let mut seen_files = std::collections::HashSet::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|_| SourceError::new(p, Pos::default(), "no such file or folder"))?;
        if meta.is_dir() {
            walk(p, &mut d, &mut seen_dirs, &mut seen_files)
                .map_err(|e| SourceError::new(p, Pos::default(), format!("cannot read folder: {e}")))?;
        } else if meta.is_file() {
            if seen_files.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())) {
                d.files.push(p.clone());
            }
        } else {
            return Err(SourceError::new(p, Pos::default(), "not a regular file (a FIFO, socket or device is never read)"));
        }
    }
    Ok(d)
}

fn walk(
    dir: &Path,
    d: &mut Discovered,
    seen_dirs: &mut std::collections::HashSet<PathBuf>,
    seen_files: &mut std::collections::HashSet<PathBuf>,
) -> std::io::Result<()> {
    if !seen_dirs.insert(std::fs::canonicalize(dir)?) {
        d.skipped.push(format!("{}: a link to a folder already read", dir.display()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if hidden {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&p) else {
            if is_suite_file(&p) {
                d.skipped.push(format!("{}: a broken link", p.display()));
            }
            continue;
        };
        if meta.is_dir() {
            walk(&p, d, seen_dirs, seen_files)?;
        } else if is_suite_file(&p) {
            if !meta.is_file() {
                d.skipped.push(format!("{}: not a regular file (a FIFO, socket or device is never read)", p.display()));
            } else if !seen_files.insert(std::fs::canonicalize(&p)?) {
                d.skipped.push(format!("{}: a link to a suite already loaded", p.display()));
            } else {
                d.files.push(p);
            }
        }
    }
    Ok(())
}

pub use crate::load::yaml::read_regular;

/// Reads and decodes one suite file.
pub fn load_file(path: &Path) -> Result<Suite, SourceError> {
    let bytes = read_regular(path).map_err(|e| SourceError::new(path, Pos::default(), format!("cannot read suite: {e}")))?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
        let col = upto.len() - upto.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
        SourceError::new(path, Pos { line, col }, "suite is not valid UTF-8")
    })?;
    parse_suite(path, &source).map_err(|e| e.with_source(&source))
}

/// A mapping with `openapi:` and no `steps:`: an OpenAPI document, not a suite.
fn is_openapi_document(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let Ok(root) = yaml::parse(path, &text) else { return false };
    matches!(root.to_json(), J::Object(m) if m.contains_key("openapi") && !m.contains_key("steps"))
}

/// Every JSON Schema file a suite names (`expect.schema`, also inside `eventually.unless`).
fn schema_files(suites: &[Suite]) -> std::collections::HashSet<PathBuf> {
    let expects = suites
        .iter()
        .flat_map(|s| s.steps.iter().chain(&s.teardown))
        .flat_map(|st| std::iter::once(&st.expect).chain(st.eventually.as_ref().and_then(|e| e.unless.as_ref())));
    expects.filter_map(|e| e.schema.as_ref()).filter_map(|r| std::fs::canonicalize(&r.path).ok()).collect()
}

/// Loads every suite under `paths`; returns all errors, one per bad file, and what discovery
/// passed over (for warnings). Contracts kept beside the suites are not suites: the JSON Schemas
/// a loaded suite names, and OpenAPI documents. Any other file that does not load is an error.
pub fn load_all(paths: &[PathBuf]) -> Result<(Vec<Suite>, Vec<String>), Vec<SourceError>> {
    let found = discover(paths).map_err(|e| vec![e])?;
    let mut suites = Vec::new();
    let mut failed = Vec::new();
    for f in found.files {
        match load_file(&f) {
            Ok(s) => suites.push(s),
            Err(e) => failed.push((f, e)),
        }
    }
    let named = schema_files(&suites);
    let contract = |f: &Path| std::fs::canonicalize(f).is_ok_and(|c| named.contains(&c)) || is_openapi_document(f);
    let errors: Vec<SourceError> = failed.into_iter().filter(|(f, _)| !contract(f)).map(|(_, e)| e).collect();
    if errors.is_empty() { Ok((suites, found.skipped)) } else { Err(errors) }
}
