//! JUnit XML (`--junit`, and `merge`): one `testsuite` per suite file, one `testcase` per step,
//! probe and teardown, the failure class as the failure `type`, breadcrumbs in `system-out`.
//! Run-level problems (bootstrap, cleanup) get a `smokegate` testsuite of their own so that CI
//! UIs show them red too.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use crate::report::event::{Breadcrumb, Outcome, StepKind, StepResult};
use crate::report::model::Report;

fn secs(ms: f64) -> Duration {
    Duration::from_secs_f64((ms / 1000.0).max(0.0))
}

/// The failure's details: each failed assertion, then where to look.
pub fn failure_details(s: &StepResult) -> String {
    let mut lines: Vec<String> =
        s.assertions.iter().filter(|a| !a.passed).map(|a| format!("{}: expected {}, got {}", a.what, a.expected, a.actual)).collect();
    if lines.is_empty() {
        lines.extend(s.message.clone());
    }
    let crumb = s.breadcrumbs.last();
    lines.push(format!(
        "reqId {} · phase {} · upstream {}",
        s.request_id().unwrap_or("-"),
        crumb.map_or("step", |c| c.phase.as_str()),
        s.upstream().unwrap_or("none reported")
    ));
    lines.push(format!("at {}:{}", s.file, s.line));
    if let Some(curl) = &s.replay {
        lines.push(format!("replay: {curl}"));
    }
    lines.join("\n")
}

fn case(s: &StepResult) -> TestCase {
    let name = match s.kind {
        StepKind::Teardown => format!("teardown: {}", s.name),
        _ => s.name.clone(),
    };
    let status = match s.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped => {
            let mut st = TestCaseStatus::skipped();
            if let Some(m) = &s.message {
                st.set_message(m.as_str());
            }
            st
        }
        Outcome::Failed => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let class = s.failure_class.map_or("failed", |c| c.as_str());
            st.set_type(class);
            st.set_message(format!("{} (reqId {})", s.message.as_deref().unwrap_or(class), s.request_id().unwrap_or("-")));
            st.set_description(failure_details(s));
            st
        }
    };
    let mut tc = TestCase::new(name, status);
    tc.set_classname(s.file.as_str());
    tc.set_time(secs(s.duration_ms));
    tc.set_assertions(s.assertions.len());
    if !s.breadcrumbs.is_empty() {
        tc.set_system_out(s.breadcrumbs.iter().map(|c| c.line(true)).collect::<Vec<_>>().join("\n"));
    }
    tc
}

fn run_case(name: &str, failure: Option<(&str, String)>, crumbs: &[&Breadcrumb]) -> TestCase {
    let status = match failure {
        None => TestCaseStatus::success(),
        Some((ty, msg)) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type(ty);
            st.set_message(msg);
            st
        }
    };
    let mut tc = TestCase::new(name, status);
    tc.set_classname("smokegate");
    if !crumbs.is_empty() {
        tc.set_system_out(crumbs.iter().map(|c| c.line(true)).collect::<Vec<_>>().join("\n"));
    }
    tc
}

pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut out = quick_junit::Report::new("smokegate");
    out.set_time(secs(report.run.duration_ms));
    for s in &report.suites {
        let mut ts = TestSuite::new(s.name.as_str());
        ts.add_property(Property::new("file", s.file.as_str()));
        ts.set_time(secs(s.duration_ms));
        ts.add_test_cases(s.steps.iter().map(case));
        out.add_test_suite(ts);
    }
    // Run-level cases: the bootstrap (when it failed) and the test user's deletion.
    let mut run = TestSuite::new("smokegate");
    run.add_property(Property::new("run_id", report.run.run_id.as_str()));
    run.add_property(Property::new("gateway", report.run.gateway.as_str()));
    let phase_crumbs = |pred: fn(&Breadcrumb) -> bool| report.breadcrumbs.iter().filter(|c| pred(c)).collect::<Vec<_>>();
    if let Some(err) = &report.run.error {
        let crumbs = phase_crumbs(|c| c.phase.as_str().starts_with("bootstrap") || c.phase.as_str() == "ready");
        run.add_test_case(run_case("run", Some(("run", err.clone())), &crumbs));
    }
    let c = &report.cleanup;
    if !c.deleted.is_empty() || !c.left.is_empty() || !c.kept.is_empty() || c.teardown_failures > 0 {
        let mut problems: Vec<String> = c.left.iter().map(|l| format!("{} was left behind: {}", l.what(), l.reason)).collect();
        problems.extend(c.teardown_note());
        let failure = (!problems.is_empty()).then(|| ("cleanup", problems.join("; ")));
        let crumbs = phase_crumbs(|c| c.phase.as_str().starts_with("cleanup"));
        run.add_test_case(run_case("cleanup", failure, &crumbs));
    }
    if !run.test_cases.is_empty() {
        out.add_test_suite(run);
    }
    out.to_string()
}
