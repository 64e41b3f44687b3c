//! Kill tests: the real binary against the reference gateway, interrupted at 20 points of a run
//! (bootstrap, steps, teardown, cleanup), and killed outright. Afterwards the gateway's service
//! must hold nothing — or every identity left must be in the journal, and `smokegate cleanup`
//! must then remove it.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;

const SUITES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites");

fn users(gate: &Refgate) -> BTreeSet<String> {
    get_json(&format!("{}/__inspect", gate.service))["users"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_owned()).collect()
}

fn journalled(p: &Project) -> BTreeSet<String> {
    p.journal_files()
        .iter()
        .filter_map(|f| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(f).ok()?).ok())
        .map(|e| e["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Starts a run (every /api request takes 150 ms: 7 of them, so the run lasts over a second), waits
/// `after`, sends `signal`, and returns the exit code.
fn interrupted_run(p: &Project, gate: &Refgate, after: Duration, signal: &str) -> Option<i32> {
    let mut child = p
        .std_cmd()
        .args(["run", SUITES, "--jobs", "1", "--gateway", &gate.gateway])
        .arg("--state-dir")
        .arg(p.state())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // Only our own child, by its PID.
    std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    child.wait().unwrap().code()
}

fn cleanup(p: &Project, gate: &Refgate) -> Option<i32> {
    p.std_cmd().args(["cleanup", "--gateway", &gate.gateway]).arg("--state-dir").arg(p.state()).output().unwrap().status.code()
}

#[test]
fn sigint_and_sigterm_at_20_points_leave_nothing_behind() {
    let points: Vec<(u64, &str)> = (0..20).map(|i| (30 + i * 45, if i % 2 == 0 { "-INT" } else { "-TERM" })).collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = points
            .chunks(5)
            .map(|chunk| {
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for &(ms, sig) in chunk {
                        let p = Project::new();
                        let gate = Refgate::with_latency(150);
                        let code = interrupted_run(&p, &gate, Duration::from_millis(ms), sig);
                        let (left_users, left_records) = gate.inspect();
                        let journal = journalled(&p);
                        let leftover = users(&gate);
                        let explained = leftover.is_subset(&journal);
                        let after_cleanup = if journal.is_empty() { left_users } else {
                            cleanup(&p, &gate);
                            gate.inspect().0
                        };
                        let ok_code = matches!(code, Some(130) | Some(0)) || (code.is_none() && left_users == 0);
                        if !ok_code || left_records != 0 || !explained || after_cleanup != 0 {
                            bad.push(format!(
                                "{sig} at {ms} ms: exit {code:?}, left {left_users} users / {left_records} records, journal {journal:?}, after cleanup {after_cleanup}"
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sigkill_leaves_every_created_user_in_the_journal_and_cleanup_removes_them() {
    for ms in [100u64, 250, 400, 550, 700] {
        let p = Project::new();
        let gate = Refgate::with_latency(150);
        let code = interrupted_run(&p, &gate, Duration::from_millis(ms), "-KILL");
        assert_eq!(code, None, "killed by the signal");
        let leftover = users(&gate);
        let journal = journalled(&p);
        assert!(leftover.is_subset(&journal), "at {ms} ms: users {leftover:?} not all in the journal {journal:?}");
        // A create in flight when the run died has no id yet: the journal says a record may
        // exist (it cannot be deleted without its id), and `cleanup` reports it and exits 5.
        let pending = p.record_files().iter().filter(|f| std::fs::read_to_string(f).unwrap().contains("\"pending\"")).count();
        let code = cleanup(&p, &gate);
        assert!(users(&gate).is_empty(), "at {ms} ms: `smokegate cleanup` removed every user");
        assert!(gate.inspect().1 <= pending, "at {ms} ms: every record left is one the journal reported ({pending} pending)");
        assert_eq!(code, Some(if pending == 0 { 0 } else { 5 }), "at {ms} ms");
        assert!(
            journalled(&p).is_empty() && p.record_files().len() == pending,
            "at {ms} ms: the journal keeps only the {pending} pending record(s): {:?} {:?}",
            journalled(&p),
            p.record_files().iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>()
        );
    }
}

/// A second signal is not a `process::exit`: it aborts teardown and cleanup in flight (here a
/// settle wait and slow requests), and the run still ends by itself — summary, JSON report,
/// exit 130 — with what it could not delete reported and journaled for `smokegate cleanup`.
#[test]
fn a_second_signal_aborts_cleanup_and_the_run_still_reports() {
    let p = Project::new();
    let gate = Refgate::with_latency(1500);
    let report = p.path().join("r.json");
    let child = p
        .std_cmd()
        .args(["run", SUITES, "--jobs", "1", "--timeout", "5s", "--gateway", &gate.gateway])
        .arg("--state-dir")
        .arg(p.state())
        .arg("--json")
        .arg(&report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let kill = |sig: &str| std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    // The first while the user's create is in flight (1.5 s): cleanup then waits for that create
    // to settle (its 5 s deadline); the second ends the wait.
    std::thread::sleep(Duration::from_millis(500));
    kill("-INT");
    std::thread::sleep(Duration::from_millis(500));
    let second = std::time::Instant::now();
    kill("-INT");
    let out = child.wait_with_output().unwrap();
    let took = second.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(took < Duration::from_secs(2), "ended by itself, well before the backstop: {took:?}\n{err}");
    assert!(err.contains("interrupted: cancelling steps") && err.contains("interrupted twice: stopping teardown and cleanup now"), "{err}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["run"]["interrupted"], true);
    assert_eq!(r["run"]["exit_code"], 130);
    let left = r["cleanup"]["left"].as_array().unwrap();
    assert_eq!(left.len(), 1, "the user whose create never settled is reported: {left:?}");
    assert_eq!(journalled(&p).len(), 1, "and journaled");
    assert_eq!(cleanup(&p, &gate), Some(0));
    assert!(users(&gate).is_empty() && journalled(&p).is_empty());
}
