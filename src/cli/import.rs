//! `smokegate import hurl|postman|curl` and `smokegate init`: read the inputs, write the suites
//! (each checked by the loaders first), print what was converted and what was not.

use std::path::{Path, PathBuf};

use super::args::{ImportArgs, ImportFrom, InitArgs, OutArgs};
use super::failure::Failure;
use crate::exit::Exit;
use crate::import::{self, Import};

pub fn cmd_import(args: ImportArgs) -> Result<Exit, Failure> {
    let (imp, out, what) = match args.from {
        ImportFrom::Hurl { files, out } => {
            let inputs = files.iter().map(|f| (f.clone(), read(f))).collect::<Vec<_>>();
            let n = files.len();
            (import::hurl::import(&inputs), out, format!("{n} Hurl file{}", if n == 1 { "" } else { "s" }))
        }
        ImportFrom::Postman { collection, out } => {
            let text = read(&collection).map_err(|e| Failure::new(Exit::Usage, e))?;
            (import::postman::import(&collection.display().to_string(), &text), out, format!("the collection {}", collection.display()))
        }
        ImportFrom::Curl { line, file, out } => {
            let (name, lines) = match (line, file) {
                (Some(l), _) => ("curl".to_owned(), import::curl::lines_of("argument", &l)),
                (None, Some(f)) => {
                    let text = read(&f).map_err(|e| Failure::new(Exit::Usage, e))?;
                    let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "curl".into());
                    (stem, import::curl::lines_of(&f.display().to_string(), &text))
                }
                (None, None) => return Err(Failure::new(Exit::Usage, "give a curl line, or -f FILE")),
            };
            let n = lines.len();
            (import::curl::import(&name, &lines), out, format!("{n} curl line{}", if n == 1 { "" } else { "s" }))
        }
    };
    finish(imp, &out, &what)
}

pub fn cmd_init(args: InitArgs) -> Result<Exit, Failure> {
    let doc = match &args.openapi {
        Some(p) => {
            let api = crate::load::contract::OpenApi::load(p).map_err(|e| Failure::new(Exit::Usage, format!("{}: {e}", p.display())))?;
            Some((p.clone(), api))
        }
        None => None,
    };
    let missed = match &args.only_missed {
        Some(r) => Some(missed_operations(r)?),
        None => None,
    };
    let rel = doc.as_ref().map(|(p, _)| relative_to(p, &args.out.dir));
    let imp = import::openapi::init(doc.as_ref().map(|(_, a)| a), rel.as_deref(), missed.as_deref());
    let what = match &args.openapi {
        Some(p) => format!("the OpenAPI document {}", p.display()),
        None => "a starter folder".into(),
    };
    finish(imp, &args.out, &what)
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not valid UTF-8", path.display()))
}

/// The operations a run's JSON report lists as not exercised (`run.openapi.missed`).
fn missed_operations(report: &Path) -> Result<Vec<String>, Failure> {
    let text = read(report).map_err(|e| Failure::new(Exit::Usage, e))?;
    let j: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::new(Exit::Usage, format!("{}: not a JSON report: {e}", report.display())))?;
    let missed = j.pointer("/run/openapi/missed").and_then(|m| m.as_array()).ok_or_else(|| {
        Failure::new(
            Exit::Usage,
            format!("{}: no `run.openapi.missed` (was the run made with `openapi:` in its config?)", report.display()),
        )
    })?;
    Ok(missed.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
}

/// `doc` as the config in `dir` names it (relative when both are relative, else absolute).
fn relative_to(doc: &Path, dir: &Path) -> String {
    // A folder that does not exist yet is where it will be.
    let abs = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            let cwd = std::env::current_dir().unwrap_or_default();
            let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
            cwd.join(p).components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
        })
    };
    let (d, o) = (abs(doc), abs(dir));
    let (mut a, mut b) = (d.components().peekable(), o.components().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if x != y {
            break;
        }
        a.next();
        b.next();
    }
    let mut rel = PathBuf::new();
    for _ in b {
        rel.push("..");
    }
    rel.extend(a);
    rel.display().to_string()
}

/// Writes the files and prints the summary. Exit 0 when every input produced a suite (items
/// not converted are listed, and written as comments); 2 when an input could not be converted.
fn finish(mut imp: Import, out: &OutArgs, what: &str) -> Result<Exit, Failure> {
    let written = imp.write(&out.dir, out.force).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    crate::outln!("imported {what} → {}", out.dir.display());
    for f in &written {
        crate::outln!("  wrote {}", f.display());
    }
    crate::outln!(
        "  requests {} · assertions {} · captures {} · not converted {}",
        imp.requests(),
        imp.assertions(),
        imp.captures(),
        imp.items.len()
    );
    if !imp.items.is_empty() {
        crate::outln!("not converted (also written as comments in the suites):");
        for i in &imp.items {
            crate::outln!("  {}: {} — {}", i.at, i.what, i.why);
        }
    }
    for (input, why) in &imp.failed {
        crate::errln!("error: {input}: {why}");
    }
    if !written.is_empty() && imp.failed.is_empty() {
        crate::outln!("next: smokegate check {}   then   smokegate run {}", out.dir.display(), out.dir.display());
    }
    Ok(if imp.failed.is_empty() { Exit::Ok } else { Exit::Usage })
}
