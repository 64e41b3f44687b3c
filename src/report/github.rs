//! GitHub Actions: `::error` workflow commands pointing at the failed step's line, and a Markdown
//! summary for `$GITHUB_STEP_SUMMARY`. Rendered from the finished [`Report`].

use crate::report::event::StepResult;
use crate::report::model::Report;
use crate::secret::Redactor;

/// Escapes a workflow command's message (GitHub's `escapeData`).
fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A suite file path as GitHub wants it: relative to the workspace when it can be.
fn rel(file: &str, workspace: Option<&str>) -> String {
    match workspace.and_then(|w| std::path::Path::new(file).strip_prefix(w).ok()) {
        Some(p) => p.display().to_string(),
        None => file.trim_start_matches("./").to_owned(),
    }
}

fn step_annotation(s: &StepResult, workspace: Option<&str>, r: &Redactor) -> String {
    let class = s.failure_class.map_or("failed", |c| c.as_str());
    let title = r.redact(&format!("{} › {} ({class})", s.suite, s.name));
    // The details start with the failed assertions, or the message when there are none: once.
    let msg = r.redact(&crate::report::junit::failure_details(s));
    format!("::error file={},line={},title={}::{}", prop(&rel(&s.file, workspace)), s.line, prop(&title), data(&msg))
}

/// Every annotation line for a run: failed steps, run errors, cleanup problems, warnings. Text
/// is sanitized before it is escaped: escaping first (`%` → `%25`) would hide a secret from the mask.
pub fn annotations(report: &Report, workspace: Option<&str>, r: &Redactor) -> Vec<String> {
    let mut out: Vec<String> = report.failures().map(|s| step_annotation(s, workspace, r)).collect();
    if let Some(e) = &report.run.error {
        out.push(format!("::error title={}::{}", prop("smokegate run"), data(&r.redact(e))));
    }
    for l in &report.cleanup.left {
        out.push(format!(
            "::error title={}::{}",
            prop("smokegate cleanup"),
            data(&r.redact(&format!("{} was left behind: {} (run `smokegate cleanup`)", l.what(), l.reason)))
        ));
    }
    for w in &report.warnings {
        out.push(format!("::warning title=smokegate::{}", data(&r.redact(w))));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown job summary.
pub fn summary(report: &Report) -> String {
    let r = &report.run;
    let verdict = if r.exit_code == 0 { "✅ passed" } else { "❌ failed" };
    let mut md = format!(
        "## smokegate: {verdict} (exit {})\n\n{} passed, {} failed, {} skipped · {} suite{} · {:.2} s · gateway `{}` · run `{}`\n\n",
        r.exit_code,
        r.passed,
        r.failed,
        r.skipped,
        r.suites,
        if r.suites == 1 { "" } else { "s" },
        r.duration_ms / 1000.0,
        r.gateway,
        r.run_id
    );
    if let Some(e) = &r.error {
        md.push_str(&format!("**Error:** {}\n\n", cell(e)));
    }
    if !report.suites.is_empty() {
        md.push_str("| suite | file | passed | failed | skipped |\n|---|---|---:|---:|---:|\n");
        for s in &report.suites {
            let (p, f, k) = Report::counts(s);
            md.push_str(&format!("| {} | `{}` | {p} | {f} | {k} |\n", cell(&s.name), cell(&s.file)));
        }
        md.push('\n');
    }
    let failures: Vec<&StepResult> = report.failures().collect();
    if !failures.is_empty() {
        md.push_str("### Failures\n\n| step | class | message | reqId | upstream | at |\n|---|---|---|---|---|---|\n");
        for s in failures {
            md.push_str(&format!(
                "| {} › {} | `{}` | {} | `{}` | {} | `{}:{}` |\n",
                cell(&s.suite),
                cell(&s.name),
                s.failure_class.map_or("failed", |c| c.as_str()),
                cell(s.message.as_deref().unwrap_or("")),
                s.request_id().unwrap_or("-"),
                cell(s.upstream().unwrap_or("none reported")),
                cell(&s.file),
                s.line
            ));
        }
        md.push('\n');
    }
    let c = &report.cleanup;
    md.push_str("### Cleanup\n\n");
    if c.deleted.is_empty() && c.left.is_empty() && c.kept.is_empty() {
        md.push_str("No test user was created.\n");
    }
    for d in &c.deleted {
        md.push_str(&format!("- deleted test user `{d}`\n"));
    }
    for k in &c.kept {
        md.push_str(&format!("- ⚠️ kept test user `{k}` (`--keep-user`); run `smokegate cleanup`\n"));
    }
    for l in &c.left {
        md.push_str(&format!("- ❌ {} was left behind: {} (run `smokegate cleanup`)\n", cell(&l.what()), cell(&l.reason)));
    }
    if let Some(note) = c.teardown_note() {
        md.push_str(&format!("- ❌ {}\n", cell(&note)));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escaping() {
        assert_eq!(data("50% a\nb\r"), "50%25 a%0Ab%0D");
        assert_eq!(prop("a: b, c"), "a%3A b%2C c");
        assert_eq!(rel("/w/smoke-suites/a.yaml", Some("/w")), "smoke-suites/a.yaml");
        assert_eq!(rel("./smoke-suites/a.yaml", None), "smoke-suites/a.yaml");
    }
}
