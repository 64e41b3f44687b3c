//! Human output: one line per step, failures with expected vs actual, reqId, phase and
//! upstream, and a summary line. Colour only on a terminal and never with `NO_COLOR`.

use std::io::Write;

use super::live::Live;
use super::model::OpenSuites;
use crate::report::event::{CleanupReport, Event, Outcome, Reporter, RunSummary, StepKind, StepResult, SuiteResult};
use crate::secret::Redactor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// How to get a credential for a failed step's `curl` replay line.
const TOKEN_HINT: &str = "export SMOKEGATE_TOKEN=$(smokegate token --raw)";

pub struct Console {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    color: bool,
    verbosity: Verbosity,
    redactor: Redactor,
    /// Print steps as they finish (one suite at a time) or whole suites (parallel runs).
    live: bool,
    current_suite: Option<String>,
    /// Parallel runs: the steps of suites still running, printed as a block when each ends.
    open: OpenSuites,
    /// On a terminal: the live view of running suites on stderr.
    view: Option<Live>,
    /// Lines of the event being handled, written in one go (with the live view suspended).
    pending: Vec<(Stream, String)>,
    /// The replay hint was printed (once per run).
    hinted: bool,
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

// Styles are typed spans of a line, never characters in its text: each span's text goes
// through the sanitizer on its own, and only then is the line rendered with escape sequences,
// so nothing a response holds can become a style.
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// A console line: spans of text, each plain or in one style.
#[derive(Default)]
struct Line(Vec<(Option<&'static str>, String)>);

impl Line {
    fn plain(mut self, text: impl Into<String>) -> Self {
        self.0.push((None, text.into()));
        self
    }

    fn styled(mut self, style: &'static str, text: impl Into<String>) -> Self {
        self.0.push((Some(style), text.into()));
        self
    }

    fn style(style: &'static str, text: impl Into<String>) -> Self {
        Line::default().styled(style, text)
    }
}

impl From<&str> for Line {
    fn from(t: &str) -> Line {
        Line::default().plain(t)
    }
}

impl From<String> for Line {
    fn from(t: String) -> Line {
        Line::default().plain(t)
    }
}

impl From<&String> for Line {
    fn from(t: &String) -> Line {
        Line::default().plain(t.clone())
    }
}

impl Console {
    pub fn new(color: bool, verbosity: Verbosity, redactor: Redactor, live: bool) -> Self {
        Console {
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            color,
            verbosity,
            redactor,
            live,
            current_suite: None,
            open: OpenSuites::default(),
            view: None,
            pending: Vec::new(),
            hinted: false,
        }
    }

    /// Turns on the live view (only sensible when stderr is a terminal).
    pub fn with_live_view(mut self, view: Option<Live>) -> Self {
        self.view = view;
        self
    }

    /// Writes the pending lines; with a live view, hidden while they are written.
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending);
        let (out, err) = (&mut self.out, &mut self.err);
        let mut write = || {
            for (stream, text) in &lines {
                let w = match stream {
                    Stream::Out => &mut *out,
                    Stream::Err => &mut *err,
                };
                let _ = writeln!(w, "{text}");
            }
            let _ = out.flush();
            let _ = err.flush();
        };
        match &self.view {
            Some(v) => v.suspend(write),
            None => write(),
        }
    }

    /// Feeds the live view; it draws itself.
    fn update_view(&mut self, event: &Event) {
        let Some(v) = self.view.as_mut() else { return };
        // Names reach the terminal through the view too: masked like every other console line.
        let redact = |t: &str| self.redactor.redact(t);
        match event {
            Event::SuitesPlanned(files) => v.planned(files.len()),
            Event::SuiteStarted { name, file, steps } => v.suite_started(&redact(name), file, *steps),
            Event::StepStarted { file, name, kind } => match kind {
                StepKind::Teardown => v.step_started(file, &redact(&format!("teardown {name}"))),
                _ => v.step_started(file, &redact(name)),
            },
            Event::StepFinished(s) => v.step_finished(&s.file, s.outcome == Outcome::Failed, s.kind != StepKind::Probe),
            Event::SuiteFinished(s) => v.suite_finished(&s.file),
            Event::Cleanup(_) | Event::RunFinished(_) => v.clear(),
            _ => {}
        }
    }

    /// Sends everything to stderr, for commands whose stdout is their result (`token --raw`).
    pub fn all_to_stderr(mut self) -> Self {
        self.out = Box::new(std::io::stderr());
        self
    }

    /// Sanitizes each span, then styles it (or not, without colour).
    fn render(&self, line: Line) -> String {
        let mut out = String::new();
        for (style, text) in line.0 {
            let text = self.redactor.redact(&text);
            match style.filter(|_| self.color) {
                Some(s) => out.push_str(&format!("{s}{text}{RESET}")),
                None => out.push_str(&text),
            }
        }
        out
    }

    fn line(&mut self, line: impl Into<Line>) {
        let text = self.render(line.into());
        self.pending.push((Stream::Out, text));
    }

    fn eline(&mut self, line: impl Into<Line>) {
        let text = self.render(line.into());
        self.pending.push((Stream::Err, text));
    }

    fn suite_header(&mut self, name: &str, file: &str) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        self.line(Line::style(BOLD, name).plain("  ").styled(DIM, file));
    }

    fn step(&mut self, s: &StepResult) {
        let quiet = self.verbosity == Verbosity::Quiet;
        if quiet && s.outcome != Outcome::Failed {
            return;
        }
        let mark = match s.outcome {
            Outcome::Passed => (GREEN, "✓"),
            Outcome::Failed => (RED, "✗"),
            Outcome::Skipped => (DIM, "-"),
        };
        let kind = match s.kind {
            StepKind::Teardown => "teardown ",
            _ => "",
        };
        let mut parts = vec![format!("{kind}{}", s.name)];
        if let Some(st) = s.status {
            parts.push(st.to_string());
        }
        if s.outcome != Outcome::Skipped {
            // Under a millisecond is not "0 ms": it is fast.
            parts.push(if s.duration_ms < 1.0 { "<1 ms".to_owned() } else { format!("{:.0} ms", s.duration_ms) });
        }
        if s.attempts > 1 {
            parts.push(format!("{} attempts", s.attempts));
        }
        if quiet {
            // The suite is named on the line itself (no header under `-q`).
            parts[0] = format!("{} › {kind}{}", s.suite, s.name);
        }
        let mut line = Line::default().plain("  ").styled(mark.0, mark.1).plain(format!(" {}", parts.join(" · ")));
        if let Some(c) = s.failure_class {
            line = line.plain(" · ").styled(RED, c.as_str());
        }
        self.line(line);
        match s.outcome {
            Outcome::Failed if s.breadcrumbs.is_empty() && s.assertions.is_empty() => {
                // Never sent: the reason is all there is to say.
                if let Some(m) = &s.message {
                    self.line(format!("      {m}"));
                }
                self.line(Line::style(DIM, format!("      at {}:{}", s.file, s.line)));
            }
            Outcome::Failed => self.failure(s),
            Outcome::Skipped if self.verbosity >= Verbosity::Verbose => {
                if let Some(m) = &s.message {
                    self.line(Line::style(DIM, format!("      {m}")));
                }
            }
            _ => {}
        }
    }

    /// What a sent step that failed says: every failed check, where (reqId, phase, upstream,
    /// file:line), and the `curl` line that sends it again.
    fn failure(&mut self, s: &StepResult) {
        for a in s.assertions.iter().filter(|a| !a.passed) {
            let detail = format!("      {}: expected {}, got {}", a.what, a.expected, a.actual);
            self.line(&detail);
        }
        if s.assertions.iter().all(|a| a.passed)
            && let Some(m) = &s.message
        {
            self.line(format!("      {m}"));
        }
        let crumb = s.breadcrumbs.last();
        let rid = s.request_id().unwrap_or("-");
        let phase = crumb.map_or("step", |c| c.phase.as_str());
        let upstream = s.upstream().unwrap_or("none reported");
        let mut where_ = format!("      reqId {rid} · phase {phase} · upstream {upstream}");
        if let Some(echo) = crumb.and_then(|c| c.echoed_request_id.as_deref()) {
            where_.push_str(&format!(" · gateway id {echo}"));
        }
        self.line(Line::style(DIM, where_));
        self.line(Line::style(DIM, format!("      at {}:{}", s.file, s.line)));
        if let Some(curl) = &s.replay {
            self.line(format!("      replay: {curl}"));
            if curl.contains("$SMOKEGATE_TOKEN") && !self.hinted {
                self.hinted = true;
                self.line(Line::style(DIM, format!("      (a local token for the replay: {TOKEN_HINT})")));
            }
        }
    }

    fn suite_block(&mut self, s: &SuiteResult) {
        let any_failed = s.steps.iter().any(|x| x.outcome == Outcome::Failed);
        if self.verbosity == Verbosity::Quiet && !any_failed {
            return;
        }
        self.suite_header(&s.name, &s.file);
        for st in &s.steps {
            self.step(st);
        }
    }
}

impl Reporter for Console {
    fn handle(&mut self, event: &Event) {
        // Cleared before the cleanup lines and the summary, which stay on the screen.
        if matches!(event, Event::Cleanup(_) | Event::RunFinished(_)) {
            self.update_view(event);
        }
        match event {
            Event::RunStarted { run_id, gateway, suites, version, config, identity_provider } => {
                if self.verbosity > Verbosity::Quiet {
                    let idp = identity_provider.as_ref().map(|i| format!(" · identity provider {i}")).unwrap_or_default();
                    let t = format!(
                        "smokegate {version} · gateway {gateway}{idp} · run {run_id} · {suites} suite{} · {config}",
                        if *suites == 1 { "" } else { "s" }
                    );
                    self.line(&t);
                }
            }
            Event::Info(msg) => {
                if self.verbosity > Verbosity::Quiet {
                    self.line(Line::style(DIM, format!("  · {msg}")));
                }
            }
            Event::Warning(msg) => {
                self.eline(Line::style(YELLOW, "warning:").plain(format!(" {msg}")));
            }
            Event::Breadcrumb(c) => {
                if self.verbosity >= Verbosity::Verbose {
                    self.line(Line::style(DIM, format!("    ↳ {}", c.line(false))));
                }
            }
            Event::StepFinished(s) => self.step_finished(s),
            Event::SuiteFinished(end) => {
                if !self.live {
                    let suite = self.open.finish(end);
                    self.suite_block(&suite);
                }
            }
            Event::Cleanup(c) => self.cleanup(c),
            Event::RunFinished(sum) => self.summary(sum),
            Event::Interrupted { deadline } => {
                let t = format!(
                    "interrupted: cancelling steps; teardown and cleanup get {}s (press Ctrl-C again to stop them)",
                    deadline.as_secs()
                );
                self.eline(&t);
            }
            Event::Aborted { second_signal } => {
                let why = if *second_signal { "interrupted twice" } else { "the cleanup deadline passed" };
                let t = format!(
                    "{why}: stopping teardown and cleanup now; what they did not delete is reported below (see `smokegate cleanup`)"
                );
                self.eline(&t);
            }
            // One suite at a time: its header goes out before its first breadcrumb (`-v`).
            Event::SuiteStarted { name, file, .. } if self.live && self.current_suite.as_deref() != Some(name) => {
                self.current_suite = Some(name.clone());
                if self.verbosity > Verbosity::Quiet {
                    self.suite_header(name, file);
                }
            }
            Event::SuitesPlanned(_) | Event::SuiteStarted { .. } | Event::StepStarted { .. } | Event::Replay { .. } => {}
        }
        self.flush_pending();
        if !matches!(event, Event::Cleanup(_) | Event::RunFinished(_)) {
            self.update_view(event);
        }
    }
}

impl Console {
    fn step_finished(&mut self, s: &StepResult) {
        if self.live {
            if self.current_suite.as_deref() != Some(&s.suite) {
                self.current_suite = Some(s.suite.clone());
                if self.verbosity > Verbosity::Quiet {
                    self.suite_header(&s.suite, &s.file);
                }
            }
            self.step(s);
        } else if self.verbosity > Verbosity::Quiet || s.outcome == Outcome::Failed {
            // Kept for the suite's block (under `-q`, only failures are printed).
            self.open.push(s);
        }
    }

    fn cleanup(&mut self, c: &CleanupReport) {
        for e in &c.deleted {
            if self.verbosity > Verbosity::Quiet {
                self.line(Line::style(DIM, format!("cleanup: deleted test user {e}")));
            }
        }
        for k in &c.kept {
            self.eline(
                Line::style(YELLOW, "warning:")
                    .plain(format!(" --keep-user: test user {k} was NOT deleted; it stays in the journal until `smokegate cleanup`")),
            );
        }
        for l in &c.left {
            self.eline(Line::style(RED, "cleanup failed:").plain(format!(
                " {} was left behind: {} (kept in the journal; run `smokegate cleanup`)",
                l.what(),
                l.reason
            )));
        }
        if let Some(note) = c.teardown_note() {
            self.eline(Line::style(RED, "cleanup failed:").plain(format!(" {note}")));
        }
    }

    fn summary(&mut self, sum: &RunSummary) {
        if let Some(err) = &sum.error {
            self.eline(Line::style(RED, "error:").plain(format!(" {err}")));
        }
        if let Some(c) = &sum.openapi
            && self.verbosity > Verbosity::Quiet
        {
            let mut t = c.line();
            if !c.missed.is_empty() && self.verbosity >= Verbosity::Verbose {
                t.push_str(&format!("; not exercised: {}", c.missed.join(", ")));
            }
            if !c.unmatched.is_empty() {
                t.push_str(&format!("; {} request(s) the document does not describe", c.unmatched.len()));
            }
            self.line(&t);
        }
        let mut t = format!("{} passed, {} failed", sum.passed, sum.failed);
        if sum.skipped > 0 {
            t.push_str(&format!(", {} skipped", sum.skipped));
        }
        t.push_str(&format!(" · {} suite{} · {:.2} s", sum.suites, if sum.suites == 1 { "" } else { "s" }, sum.duration_ms / 1000.0));
        if sum.interrupted {
            t.push_str(" · interrupted");
        }
        let style = if sum.exit_code == 0 { GREEN } else { RED };
        self.line(Line::style(style, t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::SuiteEnd;

    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_per_event_and_the_view_is_off_unless_asked_for() {
        let (out, err) = (Buf::default(), Buf::default());
        let mut c = Console::new(false, Verbosity::Normal, Redactor::default(), false);
        assert!(c.view.is_none(), "off unless asked for (not a terminal, or CI)");
        c.out = Box::new(out.clone());
        c.err = Box::new(err.clone());
        c.handle(&Event::SuitesPlanned(vec!["a.yaml".into(), "b.yaml".into()]));
        c.handle(&Event::SuiteStarted { name: "a".into(), file: "a.yaml".into(), steps: 0 });
        c.handle(&Event::Warning("careful".into()));
        c.handle(&Event::SuiteFinished(SuiteEnd { name: "a".into(), file: "a.yaml".into(), duration_ms: 1.0 }));
        let o = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(o, "a  a.yaml\n");
        let e = String::from_utf8(err.0.lock().unwrap().clone()).unwrap();
        assert_eq!(e, "warning: careful\n");
        assert!(c.pending.is_empty());
    }

    #[test]
    fn the_live_view_masks_secrets_in_the_names_it_shows() {
        use indicatif::{InMemoryTerm, ProgressDrawTarget};
        let term = InMemoryTerm::new(10, 100);
        let redactor = Redactor::default();
        redactor.add(&crate::secret::Secret::new("hunter2-secret"));
        let live = Live::new(ProgressDrawTarget::term_like(Box::new(term.clone())), None);
        let mut c = Console::new(false, Verbosity::Normal, redactor, false).with_live_view(Some(live));
        c.out = Box::new(Buf::default());
        c.err = Box::new(Buf::default());
        c.handle(&Event::SuiteStarted { name: "suite hunter2-secret".into(), file: "a.yaml".into(), steps: 2 });
        c.handle(&Event::StepStarted { file: "a.yaml".into(), name: "send hunter2-secret".into(), kind: StepKind::Teardown });
        let screen = term.contents();
        assert!(screen.contains("› teardown send "), "{screen}");
        assert!(!screen.contains("hunter2-secret"), "{screen}");
    }
}
