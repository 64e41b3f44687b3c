//! Importers: Hurl files, Postman collections and curl lines into suites, and starter suites
//! from an OpenAPI document. Each builds [`draft::Suite`]s (and, when it finds a login whose
//! token later requests send, a [`draft::AuthDraft`]); [`Import::write`] checks every file it is
//! about to write with the suite and config loaders, so an importer can never leave YAML that
//! `smokegate check` would refuse. What cannot be mapped is an [`Item`] with its source
//! location and reason, listed in the summary and written as a comment in the suite.

pub mod curl;
pub mod draft;
pub mod hurl;
pub mod openapi;
pub mod postman;
mod url;

use std::path::{Path, PathBuf};

pub use draft::{AuthDraft, Suite};

/// Something not converted: where (`file:line`), what, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub at: String,
    pub what: String,
    pub why: String,
}

impl Item {
    pub fn new(at: impl Into<String>, what: impl Into<String>, why: impl Into<String>) -> Item {
        Item { at: at.into(), what: what.into(), why: why.into() }
    }

    /// As the comment above the step it belongs to.
    pub fn comment(&self) -> String {
        format!("not converted ({}): {} — {}", self.at, self.what, self.why)
    }
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Import {
    pub suites: Vec<Suite>,
    pub auth: Option<AuthDraft>,
    /// Extra config lines (e.g. `openapi:`) beside the auth block.
    pub config_extra: Vec<String>,
    pub items: Vec<Item>,
    /// Inputs that produced no suite: (input, why).
    pub failed: Vec<(String, String)>,
}

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} exists (pass --force to overwrite it)")]
    Exists(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A bug of the importer: what it wrote does not load.
    #[error("the imported {0} does not load ({1}); this is a bug in the importer, please report it with the input")]
    Invalid(PathBuf, String),
}

impl Import {
    pub fn requests(&self) -> usize {
        self.suites.iter().map(Suite::requests).sum::<usize>() + usize::from(self.auth.is_some())
    }

    pub fn assertions(&self) -> usize {
        let steps = self.suites.iter().flat_map(|s| &s.steps).chain(self.auth.iter().map(|a| &a.login));
        steps.map(draft::Step::assertions).sum()
    }

    pub fn captures(&self) -> usize {
        let steps = self.suites.iter().flat_map(|s| &s.steps).chain(self.auth.iter().map(|a| &a.login));
        steps.map(|s| s.captures.len()).sum()
    }

    /// Makes what was built writable: a header a request cannot carry is dropped and listed; a
    /// suite that still would not load (an input this importer mis-read) is not written, and
    /// named with the loader's reason. [`Import::write`] runs it first.
    fn settle(&mut self) {
        for suite in &mut self.suites {
            for step in &mut suite.steps {
                let mut bad = Vec::new();
                step.headers.retain(|(k, v)| {
                    let ok =
                        reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok() && !v.chars().any(|c| c.is_control() && c != '\t');
                    if !ok {
                        bad.push(k.clone());
                    }
                    ok
                });
                for k in bad {
                    let item = Item::new(&suite.name, format!("header {k:?}"), "not a header a request can carry");
                    step.comments.push(item.comment());
                    self.items.push(item);
                }
            }
        }
        let (mut keep, mut failed) = (Vec::new(), Vec::new());
        for suite in std::mem::take(&mut self.suites) {
            match crate::load::suite::parse_suite(Path::new(&format!("{}.yaml", suite.stem)), &suite.to_yaml()) {
                Ok(_) => keep.push(suite),
                Err(e) => failed.push((suite.name.clone(), format!("could not be written as a suite: {}", e.message))),
            }
        }
        self.suites = keep;
        self.failed.extend(failed);
        if let Some(c) = self.config_text()
            && let Err(e) = crate::load::config::parse_without_contracts(Path::new("smokegate.yaml"), &c)
        {
            self.failed.push(("the auth block".into(), format!("could not be written: {}", e.message)));
            self.auth = None;
            self.config_extra.clear();
        }
    }

    /// The config file's text, when the import has anything for it.
    pub fn config_text(&self) -> Option<String> {
        if self.auth.is_none() && self.config_extra.is_empty() {
            return None;
        }
        let mut out = String::from("# Written by smokegate (import or init); see docs/src/config.md for every key.\n");
        for l in &self.config_extra {
            out.push_str(l);
            out.push('\n');
        }
        if let Some(a) = &self.auth {
            out.push_str(&a.to_yaml());
        }
        Some(out)
    }

    /// Settles the import, then writes `DIR/<stem>.yaml` per suite and `DIR/smokegate.yaml` when
    /// there is a config. Suites were loaded by [`Import::settle`]; the config is loaded again
    /// where it will be, so that its `openapi:` document is read from there. Returns the files
    /// written.
    pub fn write(&mut self, dir: &Path, force: bool) -> Result<Vec<PathBuf>, WriteError> {
        self.settle();
        let mut files: Vec<(PathBuf, String)> = self.suites.iter().map(|s| (dir.join(format!("{}.yaml", s.stem)), s.to_yaml())).collect();
        if let Some(c) = self.config_text() {
            files.push((dir.join("smokegate.yaml"), c));
        }
        // First, so a config's relative paths (`openapi: ../doc.yaml`) resolve as they will.
        std::fs::create_dir_all(dir).map_err(|e| WriteError::Io(dir.to_path_buf(), e))?;
        for (path, text) in &files {
            if !force && path.exists() {
                return Err(WriteError::Exists(path.clone()));
            }
            if path.file_name().is_some_and(|n| n == "smokegate.yaml") {
                crate::load::config::parse(path, text).map_err(|e| WriteError::Invalid(path.clone(), e.to_string()))?;
            }
        }
        for (path, text) in &files {
            std::fs::write(path, text).map_err(|e| WriteError::Io(path.clone(), e))?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

/// A file stem usable as a suite file name: letters, digits, `-` and `_`.
pub fn stem_of(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' }).collect();
    let s = s.trim_matches('-').to_owned();
    let mut out = String::new();
    for c in s.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    if out.is_empty() { "imported".into() } else { out }
}

/// Makes stems unique within one import (`orders`, `orders-2`).
pub fn unique_stems(suites: &mut [Suite]) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    // `smokegate.yaml` is the config's name.
    seen.insert("smokegate".into(), 1);
    for s in suites {
        let n = seen.entry(s.stem.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.stem = format!("{}-{n}", s.stem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whatever an importer made of an input, once settled its files load (or it said why not).
    fn loads(imp: &mut Import) -> Result<(), String> {
        imp.settle();
        for s in &imp.suites {
            crate::load::suite::parse_suite(Path::new("s.yaml"), &s.to_yaml()).map_err(|e| format!("{e}\n{}", s.to_yaml()))?;
        }
        if let Some(c) = imp.config_text() {
            crate::load::config::parse_without_contracts(Path::new("smokegate.yaml"), &c).map_err(|e| format!("{e}\n{c}"))?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Any text, Unicode included, never panics an importer, and what it writes loads.
        #[test]
        fn any_input_imports_without_panic(body in "\\PC{0,80}", line in "[ -~é€😀\\n]{0,120}") {
            let hurl = format!("POST https://h.example/{body}\n{line}\nHTTP 200\n[Asserts]\n{line}\n[Captures]\nx: {line}\n");
            let mut imp = hurl::import(&[(PathBuf::from("f.hurl"), Ok(hurl))]);
            prop_assert!(loads(&mut imp).is_ok(), "{:?}", loads(&mut imp));
            let mut imp = hurl::import(&[(PathBuf::from("f.hurl"), Ok(line.clone()))]);
            prop_assert!(loads(&mut imp).is_ok(), "{:?}", loads(&mut imp));
            let mut imp = curl::import("c", &curl::lines_of("c.sh", &format!("curl -H '{body}: {line}' -d '{line}' https://h.example/{body}")));
            prop_assert!(loads(&mut imp).is_ok(), "{:?}", loads(&mut imp));
            let pm = serde_json::json!({"info": {"schema": "v2.1"}, "item": [{"name": body, "request": {"method": "POST", "url": format!("https://h.example/{line}"),
                "body": {"mode": "raw", "raw": line, "options": {"raw": {"language": "json"}}}},
                "event": [{"listen": "test", "script": {"exec": [line.clone(), format!("pm.expect(pm.response.json().{body}).to.eql({line})")]}}]}]});
            let mut imp = postman::import("p.json", &pm.to_string());
            prop_assert!(loads(&mut imp).is_ok(), "{:?}", loads(&mut imp));
        }
    }
}
