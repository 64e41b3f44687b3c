//! The live view on a terminal: a header line with the run's counts and one line per running
//! suite with its current step and how long that step has been waiting, drawn on stderr and
//! redrawn in place (indicatif). The console prints its lines through [`Live::suspend`], so
//! lines never tear through the view; the view is cleared before the summary.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

const TICK: Duration = Duration::from_millis(100);

pub struct Live {
    mp: MultiProgress,
    /// Redraw interval for the timers; `None` draws on updates only (deterministic, for tests).
    tick: Option<Duration>,
    header: ProgressBar,
    /// Running suites by file, in start order.
    running: Vec<(String, ProgressBar)>,
    suites_total: usize,
    suites_done: usize,
    steps: usize,
    failed: usize,
}

impl Live {
    /// The view on stderr; indicatif hides it by itself when stderr is not a terminal.
    pub fn stderr() -> Self {
        Self::new(ProgressDrawTarget::stderr_with_hz(10), Some(TICK))
    }

    pub fn new(target: ProgressDrawTarget, tick: Option<Duration>) -> Self {
        let mp = MultiProgress::with_draw_target(target);
        let header = mp.add(ProgressBar::new_spinner());
        header.set_style(ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}").expect("static template"));
        if let Some(t) = tick {
            header.enable_steady_tick(t);
        }
        let live = Live { mp, tick, header, running: Vec::new(), suites_total: 0, suites_done: 0, steps: 0, failed: 0 };
        live.header.set_message(live.counts());
        live
    }

    fn counts(&self) -> String {
        let phase = if self.suites_done == 0 && self.running.is_empty() {
            "setting up"
        } else if self.suites_total > 0 && self.suites_done == self.suites_total {
            "cleaning up"
        } else {
            "running"
        };
        let total = if self.suites_total > 0 { format!("/{}", self.suites_total) } else { String::new() };
        format!("{phase} · {}{total} suites done · {} steps · {} failed", self.suites_done, self.steps, self.failed)
    }

    fn update_header(&self) {
        self.header.set_message(self.counts());
    }

    pub fn planned(&mut self, suites: usize) {
        self.suites_total = suites;
        self.update_header();
    }

    pub fn suite_started(&mut self, name: &str, file: &str, steps: usize) {
        let bar = self.mp.add(ProgressBar::new(steps as u64));
        // The step's name goes last: `wide_msg` truncates it to the terminal, so lines never wrap.
        let style = ProgressStyle::with_template("  {prefix} {pos}/{len} {step_time:>6} › {wide_msg}").expect("static template").with_key(
            "step_time",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}s", s.elapsed().as_secs_f64());
            },
        );
        bar.set_style(style);
        // Each line ticks on its own: the view keeps every other line as last drawn.
        if let Some(t) = self.tick {
            bar.enable_steady_tick(t);
        }
        bar.set_prefix(name.to_owned());
        bar.set_message("starting");
        self.running.push((file.to_owned(), bar));
        self.update_header();
    }

    /// `label` is the step's name (prefixed with `teardown` for teardown steps).
    pub fn step_started(&mut self, file: &str, label: &str) {
        if let Some(bar) = self.bar(file) {
            // The timer shows how long this step has been waiting, the useful number on a slow gateway.
            bar.reset_elapsed();
            bar.set_message(label.to_owned());
        }
    }

    /// A result came in; `advances` is false for a probe, which replays a step already counted
    /// in the suite's position (the header counts every result, as the summary does).
    pub fn step_finished(&mut self, file: &str, failed: bool, advances: bool) {
        self.steps += 1;
        self.failed += usize::from(failed);
        if let Some(bar) = self.bar(file).filter(|_| advances) {
            bar.inc(1);
        }
        self.update_header();
    }

    pub fn suite_finished(&mut self, file: &str) {
        self.suites_done += 1;
        if let Some(i) = self.running.iter().position(|(f, _)| f == file) {
            let (_, bar) = self.running.remove(i);
            bar.finish_and_clear();
            self.mp.remove(&bar);
        }
        self.update_header();
    }

    fn bar(&self, file: &str) -> Option<&ProgressBar> {
        self.running.iter().find(|(f, _)| f == file).map(|(_, b)| b)
    }

    /// Runs `f` (which prints) with the view hidden, then draws it again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.mp.suspend(f)
    }

    /// Removes the view from the screen for good (end of the run).
    pub fn clear(&mut self) {
        for (_, bar) in self.running.drain(..) {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
        let _ = self.mp.clear();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    fn screen(t: &InMemoryTerm) -> String {
        t.contents()
    }

    #[test]
    fn shows_each_running_suite_with_its_current_step_and_clears() {
        let term = InMemoryTerm::new(10, 100);
        let mut live = Live::new(ProgressDrawTarget::term_like(Box::new(term.clone())), None);
        assert!(screen(&term).contains("setting up · 0 suites done"), "{}", screen(&term));
        live.planned(3);
        live.suite_started("users", "users.yaml", 4);
        live.suite_started("orders", "orders.yaml", 2);
        live.step_started("users.yaml", "create user");
        live.step_started("orders.yaml", "list orders");
        live.step_finished("orders.yaml", true, true);
        live.step_finished("orders.yaml", false, false);
        let s = screen(&term);
        assert!(s.contains("users 0/4"), "{s}");
        assert!(s.contains("s › create user"), "{s}");
        assert!(s.contains("orders 1/2"), "{s}");
        assert!(s.contains("s › list orders"), "{s}");
        assert!(s.contains("running · 0/3 suites done · 2 steps · 1 failed"), "{s}");

        live.suite_finished("orders.yaml");
        let s = screen(&term);
        assert!(!s.contains("orders"), "a finished suite leaves the view: {s}");
        assert!(s.contains("s › create user"), "{s}");
        assert!(s.contains("1/3 suites done"), "{s}");
        live.suite_finished("users.yaml");
        live.suite_started("x", "x.yaml", 1);
        live.suite_finished("x.yaml");
        assert!(screen(&term).contains("cleaning up · 3/3 suites done"), "{}", screen(&term));

        live.clear();
        assert_eq!(screen(&term).trim(), "", "nothing of the view stays on the screen");
    }

    #[test]
    fn printing_through_suspend_lands_above_the_view() {
        let term = InMemoryTerm::new(10, 80);
        let live = Live::new(ProgressDrawTarget::term_like(Box::new(term.clone())), None);
        let mut live = live;
        live.suite_started("users", "users.yaml", 1);
        live.step_started("users.yaml", "create user");
        let t = term.clone();
        live.suspend(|| {
            use indicatif::TermLike;
            t.write_line("users  users.yaml").unwrap();
        });
        let s = screen(&term);
        let printed = s.find("users  users.yaml").expect("line printed");
        let view = s.find("s › create user").expect("view redrawn");
        assert!(printed < view, "{s}");
    }
}
