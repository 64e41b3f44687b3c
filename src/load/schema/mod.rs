//! The JSON Schemas of suite files, the config file and the JSON report, as committed under
//! `schemas/` and printed by `smokegate schema`. The binary carries the files, not their
//! generator: `generate` (schemars over document-only types) is built by the unit tests, which
//! fail when a committed file is stale — so the schemas cannot drift from what loads, and
//! schemars stays out of the run-time build.

#[cfg(test)]
mod generate;

pub const KINDS: &[&str] = &["suite", "config", "report"];

/// The committed schema for `kind` (`suite`, `config` or `report`), as `smokegate schema` prints it.
pub fn committed(kind: &str) -> Option<&'static str> {
    match kind {
        "suite" => Some(include_str!("../../../schemas/suite.schema.json")),
        "config" => Some(include_str!("../../../schemas/config.schema.json")),
        "report" => Some(include_str!("../../../schemas/report.schema.json")),
        _ => None,
    }
}
