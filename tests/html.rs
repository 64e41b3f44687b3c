//! `--html`: one self-contained page, checked through the real binary and in a real headless
//! browser (Debian's chromium, installed by .ci/run): what a person sees — every step name, every
//! reqId of the JSON report, the failure's expected vs actual, one waterfall bar per request —
//! and nothing that must not be there (a secret, a script, anything fetched from the network).

use std::path::{Path, PathBuf};

use serde_json::Value as J;

use crate::common::*;

/// A red run against the reference gateway (`empty`: reads come back without data), with a
/// secret-named environment value sent in a header: returns the page, the JSON report, the secret.
fn red_run(p: &Project) -> (String, J, &'static str) {
    let secret = "trace-token-5b7e1c9d2f";
    let gate = Refgate::start(refgate::RefgateOptions { faults: [refgate::Fault::Empty].into_iter().collect(), ..Default::default() });
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites");
    p.write(
        "extra/tagged.yaml",
        "name: tagged\nsteps:\n  - name: echo with a token header\n    request: { path: /api/echo, headers: { X-Trace-Token: \"{{ env.SMOKE_TRACE_TOKEN }}\" } }\n",
    );
    let (html, json) = (p.path().join("r.html"), p.path().join("r.json"));
    let o = p
        .std_cmd()
        .args(["run", suites, "extra", "--auth-probes", "--jobs", "2", "--gateway", &gate.gateway])
        .arg("--state-dir")
        .arg(p.state())
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .env("SMOKE_TRACE_TOKEN", secret)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(gate.inspect(), (0, 0));
    let report: J = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    (std::fs::read_to_string(html).unwrap(), report, secret)
}

fn request_ids(r: &J) -> Vec<String> {
    let mut ids: Vec<String> = r["breadcrumbs"].as_array().unwrap().iter().map(|c| c["request_id"].as_str().unwrap().to_owned()).collect();
    for s in r["suites"].as_array().unwrap() {
        for st in s["steps"].as_array().unwrap() {
            ids.extend(st["breadcrumbs"].as_array().unwrap().iter().map(|c| c["request_id"].as_str().unwrap().to_owned()));
        }
    }
    ids
}

fn step_names(r: &J) -> Vec<String> {
    r["suites"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap().iter().map(|st| st["name"].as_str().unwrap().to_owned()))
        .collect()
}

/// How a browser writes `›` and quotes in text: compare on the page's own escaping.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[test]
fn the_html_report_is_one_self_contained_page_with_the_whole_run() {
    let p = Project::new();
    let (html, r, secret) = red_run(&p);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("FAILED") && html.contains("exit 1 — a step failed"));
    for name in step_names(&r) {
        assert!(html.contains(&escaped(&name)), "step `{name}` on the page");
    }
    let ids = request_ids(&r);
    for id in &ids {
        assert!(html.contains(id), "reqId {id} on the page");
    }
    assert_eq!(html.matches("class=\"bar ").count(), ids.len(), "one waterfall bar per request");
    assert!(html.contains("nothing (no value there)") && html.contains("<th>expected</th>"), "expected vs actual");
    assert!(html.contains("$SMOKEGATE_TOKEN") && html.contains("curl -sS -i"), "the replay line");
    assert!(html.contains("<h3>orders</h3>") && html.contains("<h3>run</h3>"), "grouped by suite");
    // Self-contained and inert: no script, nothing loaded from anywhere, and no secret.
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "`{banned}` in the page");
    }
    assert!(html.contains("default-src 'none'"), "a CSP that blocks everything but the inline style");
    assert!(!html.contains(secret), "the secret header value is masked");
    assert!(!html.chars().any(|c| c.is_control() && c != '\n'), "no control bytes");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(b)).find(|p| p.is_file())))
}

/// Renders the page in headless chromium with scripts disabled: the DOM a person would see has
/// the steps, the reqIds and the failure, and the screenshot is a real picture of it.
#[test]
fn the_html_report_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("SMOKEGATE_REQUIRE_BROWSER").is_none(), "chromium is required here (.ci/run installs it)");
        eprintln!("skipped: no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)");
        return;
    };
    let p = Project::new();
    let (_, r, secret) = red_run(&p);
    let page = format!("file://{}", p.path().join("r.html").display());
    let profile = p.path().join("chromium-profile");
    let run = |extra: &[&str]| {
        std::process::Command::new(&browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-javascript", "--window-size=1280,2000"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&page)
            .output()
            .unwrap()
    };
    let dom = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.contains("FAILED") && dom.contains("Failures (2)"), "{}", &dom[..dom.len().min(2000)]);
    for name in step_names(&r) {
        assert!(dom.contains(&escaped(&name)), "step `{name}` in the rendered DOM");
    }
    let ids = request_ids(&r);
    for id in &ids {
        assert!(dom.contains(id.as_str()), "reqId {id} in the rendered DOM");
    }
    assert_eq!(dom.matches("class=\"bar ").count(), ids.len(), "one waterfall bar per request, as rendered");
    assert!(dom.contains("nothing (no value there)"));
    assert!(!dom.contains(secret));
    let shot = p.path().join("shot.png");
    let o = run(&[&format!("--screenshot={}", shot.display())]);
    assert!(shot.is_file(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a real picture: {} bytes", png.len());
    if let Some(keep) = std::env::var_os("SMOKEGATE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, Path::new(&keep)).unwrap();
    }
}
