//! `--html FILE`: the run as one self-contained page — inline CSS, no script, no network — that
//! opens from a CI artifact or `file://`: the verdict and what cleanup did, a waterfall of every
//! request on one time axis, and each failed step with expected vs actual, its class, file:line,
//! reqId and the `curl` line that replays it. Every text passes through the run's sanitizer and
//! is HTML-escaped; nothing of the page is taken from a response unescaped.

use std::fmt::Write as _;

use crate::exit::Exit;
use crate::report::event::{Breadcrumb, CrumbOutcome, Outcome, StepKind, StepResult};
use crate::report::model::Report;
use crate::secret::Redactor;

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 10px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}
.pass{background:#1a7f37} .fail{background:#cf222e} .warn{background:#9a6700}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0}
dl.facts dt{color:#57606a} dl.facts dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.left{border:2px solid #cf222e;background:#ffebe9;padding:8px 12px;border-radius:6px;margin:12px 0}
.wf{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}
.wf h3{font-size:13px;margin:10px 0 4px;color:#57606a}
.row{display:grid;grid-template-columns:420px 1fr;gap:8px;align-items:center;font-size:12px;min-height:18px}
.row .label{font-family:ui-monospace,monospace;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.track{position:relative;height:12px;background:#f0f2f4;border-radius:2px}
.bar{position:absolute;top:0;height:12px;min-width:2px;border-radius:2px}
.bar.ok{background:#2da44e} .bar.failed,.bar.error{background:#cf222e}
.failure{background:#fff;border:1px solid #d0d7de;border-left:4px solid #cf222e;border-radius:6px;padding:10px 14px;margin:10px 0}
.failure h3{margin:0 0 6px;font-size:15px}
table{border-collapse:collapse;width:100%;margin:6px 0} th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td code,pre{font-family:ui-monospace,monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;border-radius:4px;white-space:pre-wrap;word-break:break-all;margin:6px 0}
.class{font-weight:600;color:#cf222e} .ok{color:#1a7f37}
.muted{color:#57606a}
";

/// The page for a finished run. `redactor` masks every secret the run learned.
pub fn render(report: &Report, redactor: &Redactor) -> String {
    let t = |s: &str| esc(&redactor.redact(s));
    let mut h = String::with_capacity(16 * 1024);
    let run = &report.run;
    let exit = Exit::from_code(run.exit_code);
    let ok = run.exit_code == 0;
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>smokegate {} · {}</title><style>{CSS}</style></head><body><main>",
        if ok { "passed" } else { "failed" },
        t(&run.gateway)
    );
    header(&mut h, report, exit, &t);
    failures(&mut h, report, &t);
    waterfall(&mut h, report, &t);
    steps(&mut h, report, &t);
    h.push_str("</main></body></html>\n");
    h
}

fn header(h: &mut String, report: &Report, exit: Option<Exit>, t: &dyn Fn(&str) -> String) {
    let run = &report.run;
    let (class, word) = if run.exit_code == 0 { ("pass", "PASSED") } else { ("fail", "FAILED") };
    let meaning = exit.map_or("unknown exit code", Exit::meaning);
    let _ = write!(h, "<h1>smokegate run <span class=\"verdict {class}\">{word}</span></h1>");
    let _ = write!(h, "<p>exit {} — {}</p>", run.exit_code, t(meaning));
    if let Some(e) = &run.error {
        let _ = write!(h, "<p class=\"class\">{}</p>", t(e));
    }
    let trace = all_crumbs(report).first().map(|c| c.trace_id.clone()).unwrap_or_default();
    let c = &report.cleanup;
    let users: Vec<&String> = c.deleted.iter().chain(&c.kept).collect();
    let mut facts = vec![
        ("gateway", run.gateway.clone()),
        ("run id", run.run_id.clone()),
        ("trace id", trace),
        ("started", run.started_at.clone()),
        ("duration", format!("{:.2} s", run.duration_ms / 1000.0)),
        ("steps", format!("{} passed, {} failed, {} skipped · {} suites", run.passed, run.failed, run.skipped, run.suites)),
        ("user", if users.is_empty() { "none".into() } else { users.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ") }),
        ("cleanup", format!("{} deleted, {} kept, {} left behind", c.deleted.len(), c.kept.len(), c.left.len())),
    ];
    if let Some(idp) = &run.identity_provider {
        facts.push(("identity provider", idp.clone()));
    }
    if let Some(o) = &run.openapi {
        facts.push(("openapi", o.line()));
    }
    h.push_str("<dl class=\"facts\">");
    for (k, v) in facts {
        let _ = write!(h, "<dt>{k}</dt><dd>{}</dd>", t(&v));
    }
    h.push_str("</dl>");
    if !c.left.is_empty() || c.teardown_failures > 0 {
        h.push_str("<div class=\"left\"><strong>LEFT BEHIND</strong> — kept in the journal; run <code>smokegate cleanup</code><ul>");
        for l in &c.left {
            let _ = write!(h, "<li>{}: {}</li>", t(&l.what()), t(&l.reason));
        }
        if c.teardown_failures > 0 {
            let _ = write!(h, "<li>{} teardown step(s) failed</li>", c.teardown_failures);
        }
        h.push_str("</ul></div>");
    }
}

/// Every request of the run: bootstrap, refresh, cleanup (the report's own breadcrumbs) and
/// each step's, attempts and probes included.
fn all_crumbs(report: &Report) -> Vec<&Breadcrumb> {
    let mut all: Vec<&Breadcrumb> = report.breadcrumbs.iter().collect();
    all.extend(report.suites.iter().flat_map(|s| s.steps.iter().flat_map(|st| st.breadcrumbs.iter())));
    all.sort_by(|a, b| a.time.cmp(&b.time));
    all
}

fn millis(time: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(time).map_or(0.0, |d| d.timestamp_millis() as f64)
}

/// One bar per request on one time axis, grouped by suite (requests outside suites under
/// "run"); parallel suites overlap visibly.
fn waterfall(h: &mut String, report: &Report, t: &dyn Fn(&str) -> String) {
    let crumbs = all_crumbs(report);
    h.push_str("<h2>Requests</h2><div class=\"wf\">");
    let Some(first) = crumbs.first() else {
        h.push_str("<p class=\"muted\">no request was sent</p></div>");
        return;
    };
    let start = millis(&first.time);
    let end = crumbs.iter().map(|c| millis(&c.time) + c.total_ms).fold(start + 1.0, f64::max);
    let span = end - start;
    let mut groups: Vec<(String, Vec<&Breadcrumb>)> = Vec::new();
    for c in crumbs {
        let g = c.suite.clone().unwrap_or_else(|| "run".into());
        match groups.iter_mut().find(|(name, _)| *name == g) {
            Some((_, v)) => v.push(c),
            None => groups.push((g, vec![c])),
        }
    }
    let _ = write!(h, "<p class=\"muted\">0 → {:.0} ms, {} requests</p>", span, groups.iter().map(|g| g.1.len()).sum::<usize>());
    for (name, list) in groups {
        let _ = write!(h, "<h3>{}</h3>", t(&name));
        for c in list {
            let left = (millis(&c.time) - start) / span * 100.0;
            let width = (c.total_ms / span * 100.0).max(0.2);
            let status = c.status.map_or("-".to_owned(), |s| s.to_string());
            let label = format!(
                "{}{} {} {} · {} · {} · ttfb {:.1} ms · {:.1} ms",
                c.step.as_ref().map(|s| format!("{s} · ")).unwrap_or_default(),
                c.method,
                c.path,
                status,
                c.phase.as_str(),
                c.request_id,
                c.ttfb_ms,
                c.total_ms
            );
            let outcome = if c.outcome == CrumbOutcome::Ok { "ok" } else { "failed" };
            let _ = write!(
                h,
                "<div class=\"row\" data-request-id=\"{rid}\"><div class=\"label\" title=\"{l}\">{l}</div><div class=\"track\"><div class=\"bar {outcome}\" style=\"left:{left:.3}%;width:{width:.3}%\" title=\"{l}\"></div></div></div>",
                rid = t(&c.request_id),
                l = t(&label)
            );
        }
    }
    h.push_str("</div>");
}

/// Each failed step (and teardown): what was expected and what came, its class, where, and
/// the `curl` line that replays it.
fn failures(h: &mut String, report: &Report, t: &dyn Fn(&str) -> String) {
    let failed: Vec<&StepResult> = report.suites.iter().flat_map(|s| s.steps.iter()).filter(|s| s.outcome == Outcome::Failed).collect();
    let _ = write!(h, "<h2>Failures ({})</h2>", failed.len());
    for s in failed {
        let kind = if s.kind == StepKind::Teardown { "teardown " } else { "" };
        let _ = write!(
            h,
            "<div class=\"failure\"><h3>{} › {kind}{}</h3><p><span class=\"class\">{}</span> · {} {} · {} · at <code>{}:{}</code> · reqId <code>{}</code></p>",
            t(&s.suite),
            t(&s.name),
            s.failure_class.map_or("failed", |c| c.as_str()),
            t(&s.method),
            t(&s.path),
            s.status.map_or("no answer".to_owned(), |x| x.to_string()),
            t(&s.file),
            s.line,
            t(s.request_id().unwrap_or("-"))
        );
        let bad: Vec<_> = s.assertions.iter().filter(|a| !a.passed).collect();
        if bad.is_empty() {
            let _ = write!(h, "<p>{}</p>", t(s.message.as_deref().unwrap_or("")));
        } else {
            h.push_str("<table><tr><th>check</th><th>expected</th><th>actual</th></tr>");
            for a in bad {
                let _ = write!(h, "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>", t(&a.what), t(&a.expected), t(&a.actual));
            }
            h.push_str("</table>");
        }
        if let Some(curl) = &s.replay {
            let _ = write!(
                h,
                "<p class=\"muted\">replay (<code>export SMOKEGATE_TOKEN=$(smokegate token --raw)</code> first):</p><pre>{}</pre>",
                t(curl)
            );
        }
        h.push_str("</div>");
    }
}

/// Every step of every suite, with its outcome, status, time and attempts.
fn steps(h: &mut String, report: &Report, t: &dyn Fn(&str) -> String) {
    h.push_str("<h2>Steps</h2>");
    for s in &report.suites {
        let _ = write!(h, "<h3>{} <span class=\"muted\">{}</span></h3><table>", t(&s.name), t(&s.file));
        for st in &s.steps {
            let (mark, class) = match st.outcome {
                Outcome::Passed => ("✓", "ok"),
                Outcome::Failed => ("✗", "class"),
                Outcome::Skipped => ("–", "muted"),
            };
            let kind = if st.kind == StepKind::Teardown { "teardown " } else { "" };
            let attempts = if st.attempts > 1 { format!(" · {} attempts", st.attempts) } else { String::new() };
            let _ = write!(
                h,
                "<tr><td class=\"{class}\">{mark}</td><td>{kind}{}</td><td>{}</td><td>{:.0} ms{attempts}</td><td>{}</td></tr>",
                t(&st.name),
                st.status.map_or("-".to_owned(), |x| x.to_string()),
                st.duration_ms,
                st.failure_class.map_or("", |c| c.as_str())
            );
        }
        h.push_str("</table>");
    }
}

/// HTML text and attribute escaping.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
    }
}
