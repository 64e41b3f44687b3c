//! The live view on a real terminal: the binary runs on a pseudo-terminal (portable-pty) against
//! the reference gateway with upstream latency, and what it wrote is replayed into a terminal
//! emulator (vt100) — frame by frame while it runs, and as the final screen.

use std::io::Read;

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::common::{Project, Refgate};

const ROWS: u16 = 40;
const COLS: u16 = 110;

/// Runs `smokegate args…` on a fresh pseudo-terminal; returns the exit code and every byte it
/// wrote, in order (stdout and stderr share the terminal, as they do for a person).
fn run_on_pty(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (u32, Vec<u8>) {
    let pty = native_pty_system().openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut cmd = CommandBuilder::new(assert_cmd::cargo::cargo_bin!("smokegate"));
    cmd.args(args);
    cmd.cwd(p.path());
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("HOME", p.path());
    cmd.env("TERM", "xterm-256color");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    // Drain continuously so the child never blocks on a full terminal buffer.
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // Linux reports EIO once the child's side is closed: that is the end of the output.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let status = child.wait().unwrap();
    drop(pty.master);
    (status.exit_code(), drain.join().unwrap())
}

/// A terminal emulator the size of the pseudo-terminal.
fn terminal() -> vt100::Parser {
    let nz = |n: u16| std::num::NonZeroU16::new(n).unwrap();
    vt100::Parser::new(nz(ROWS), nz(COLS), 0)
}

/// The screen's rows, one line each (the live view fills whole rows and lets the terminal wrap,
/// so vt100's `contents()` would join them).
fn rows(vt: &vt100::Parser) -> String {
    vt.screen().rows(0, COLS).map(|r| r.trim_end().to_owned()).collect::<Vec<_>>().join("\n")
}

/// The final screen, as a terminal would show it.
fn screen(bytes: &[u8]) -> String {
    let mut vt = terminal();
    vt.process(bytes);
    rows(&vt)
}

fn suite(name: &str, steps: usize) -> String {
    let mut s = format!("name: {name}\nauth: user\nsteps:\n");
    for i in 1..=steps {
        s.push_str(&format!("  - name: {name} read {i}\n    request: {{ path: /api/orders }}\n    expect: {{ status: 200 }}\n"));
    }
    s
}

#[test]
fn a_parallel_run_on_a_terminal_shows_each_running_suite_and_leaves_a_clean_screen() {
    let p = Project::new();
    for (name, steps) in [("alpha", 3), ("beta", 3), ("gamma", 3)] {
        p.write(&format!("suites/{name}.yaml"), &suite(name, steps));
    }
    let gate = Refgate::with_latency(300);
    let state = p.state();
    let args = ["run", "suites", "--jobs", "3", "--gateway", &gate.gateway, "--state-dir", state.to_str().unwrap()];
    let (code, bytes) = run_on_pty(&p, &args, &[]);
    let last = screen(&bytes);
    assert_eq!(code, 0, "{last}");

    // Replay the output and look at the screen at every redraw: some frame must show all three
    // suites running at once, each with its current step, under the header with the counts.
    let mut vt = terminal();
    let mut all_three = None;
    let mut header = false;
    for chunk in bytes.chunks(64) {
        vt.process(chunk);
        let s = rows(&vt);
        header |= s.contains("running · 0/3 suites done");
        let running: Vec<&str> = s.lines().filter(|l| l.contains(" › ") && l.contains(" read ")).collect();
        if running.len() == 3 && all_three.is_none() {
            all_three = Some(s.clone());
        }
    }
    assert!(header, "the header with the counts was drawn");
    let frame =
        all_three.unwrap_or_else(|| panic!("a frame with all three suites running; last frames:\n{}", String::from_utf8_lossy(&bytes)));
    for name in ["alpha", "beta", "gamma"] {
        let line = frame.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name} in\n{frame}"));
        assert!(line.contains(&format!("› {name} read ")), "the line names the step: {line:?}");
        assert!(line.contains("/3"), "and how far the suite is: {line:?}");
    }

    // The final screen: every suite's block and the summary, nothing of the live view.
    for name in ["alpha", "beta", "gamma"] {
        assert!(last.contains(&format!("{name}  suites/{name}.yaml")), "{last}");
        assert!(last.contains(&format!("✓ {name} read 3 · 200")), "{last}");
    }
    assert!(last.contains("9 passed, 0 failed · 3 suites"), "{last}");
    assert!(!last.contains(" › "), "the live view is cleared: {last}");
    assert!(!last.contains("suites done"), "the live view is cleared: {last}");
    assert_eq!(gate.inspect(), (0, 0));
}

#[test]
fn one_suite_at_a_time_the_current_step_is_shown_while_finished_steps_stream_above() {
    let p = Project::new();
    p.write("suites/alpha.yaml", &suite("alpha", 3));
    let gate = Refgate::with_latency(300);
    let state = p.state();
    let args = ["run", "suites", "--jobs", "1", "--gateway", &gate.gateway, "--state-dir", state.to_str().unwrap()];
    let (code, bytes) = run_on_pty(&p, &args, &[]);
    assert_eq!(code, 0, "{}", screen(&bytes));
    let mut vt = terminal();
    let mut seen = false;
    for chunk in bytes.chunks(64) {
        vt.process(chunk);
        let s = rows(&vt);
        // Step 2 waiting below the finished step 1.
        if let (Some(done), Some(now)) = (s.find("✓ alpha read 1"), s.find("alpha 1/3")) {
            seen |= done < now && s.contains("› alpha read 2");
        }
    }
    assert!(seen, "a frame with step 1 printed and step 2 running:\n{}", screen(&bytes));
    assert!(!screen(&bytes).contains(" › "));
}

#[test]
fn no_live_view_under_ci_or_quiet_or_a_dumb_terminal() {
    let p = Project::new();
    p.write("suites/alpha.yaml", &suite("alpha", 2));
    let gate = Refgate::with_latency(200);
    let state = p.state();
    let base = ["run", "suites", "--gateway", &gate.gateway, "--state-dir", state.to_str().unwrap()];
    for (extra, env) in [(None, ("CI", "true")), (Some("-q"), ("X", "")), (None, ("TERM", "dumb"))] {
        let mut args = base.to_vec();
        args.extend(extra);
        let (code, bytes) = run_on_pty(&p, &args, &[env]);
        let raw = String::from_utf8_lossy(&bytes);
        assert_eq!(code, 0, "{raw}");
        assert!(!raw.contains("suites done") && !raw.contains(" › "), "{extra:?} {env:?}: {raw}");
        // The run itself printed (proof the terminal was read at all).
        assert!(raw.contains("2 passed"), "{raw}");
    }
}
