//! `smokegate merge`: shard reports in; one JUnit file, one JSON report and one summary out.

use serde_json::Value as J;

use super::args::MergeArgs;
use super::failure::Failure;
use super::settings::{env_get, env_snapshot};
use crate::exit::Exit;
use crate::secret::Redactor;

/// `smokegate merge`: shard reports in, one JUnit file, one JSON report and one summary out.
pub fn cmd_merge(args: MergeArgs) -> Result<Exit, Failure> {
    let mut reports = Vec::new();
    for path in &args.reports {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::new(Exit::Usage, format!("{}: {e}", path.display())))?;
        let v: J = serde_json::from_str(&text)
            .map_err(|e| Failure::new(Exit::Usage, format!("{}:{}:{}: not a JSON report: {e}", path.display(), e.line(), e.column())))?;
        if v.get("schema_version") != Some(&J::from(crate::report::model::SCHEMA_VERSION)) {
            return Err(Failure::new(
                Exit::Usage,
                format!("{}: expected a smokegate report with schema_version {}", path.display(), crate::report::model::SCHEMA_VERSION),
            ));
        }
        let r: crate::report::model::Report =
            serde_json::from_value(v).map_err(|e| Failure::new(Exit::Usage, format!("{}: not a smokegate report: {e}", path.display())))?;
        reports.push(r);
    }
    let merged = crate::report::model::merge(reports).ok_or_else(|| Failure::new(Exit::Usage, "no reports to merge"))?;
    let redactor = Redactor::global();
    let written = crate::report::files::write_report(&merged, args.json.as_ref(), args.junit.as_ref(), &redactor);
    let r = &merged.run;
    // A code this version does not know is not a pass.
    let exit = Exit::from_code(r.exit_code).unwrap_or(Exit::Usage);
    for f in merged.failures() {
        crate::outln!(
            "✗ {} › {} · {} · reqId {} · at {}:{}",
            f.suite,
            f.name,
            f.failure_class.map_or("failed", |c| c.as_str()),
            f.request_id().unwrap_or("-"),
            f.file,
            f.line
        );
    }
    for l in &merged.cleanup.left {
        crate::outln!("cleanup failed: {} was left behind: {}", l.what(), l.reason);
    }
    crate::outln!(
        "merged {} reports: {} passed, {} failed, {} skipped · {} suites · exit {}",
        args.reports.len(),
        r.passed,
        r.failed,
        r.skipped,
        r.suites,
        r.exit_code
    );
    let env = env_snapshot();
    if env_get(&env, "GITHUB_ACTIONS") == Some("true")
        && let Some(p) = env_get(&env, "GITHUB_STEP_SUMMARY")
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| Failure::new(Exit::Usage, format!("GITHUB_STEP_SUMMARY {p}: {e}")))?;
        let _ = f.write_all(redactor.redact(&crate::report::github::summary(&merged)).as_bytes());
    }
    if let Err(e) = written {
        for line in e.to_string().lines() {
            crate::errln!("error: cannot write the merged report: {line}");
        }
        return Ok(exit.worst(Exit::ReportFailed));
    }
    Ok(exit)
}
