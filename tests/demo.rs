//! `smokegate demo` and the reference gateway's fault matrix, through the real binary.

use crate::common::*;

#[test]
fn the_demo_is_green_and_leaves_nothing_behind() {
    let p = Project::new();
    let o = p.cmd().args(["demo", "--html", "demo.html"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let page = std::fs::read_to_string(p.path().join("demo.html")).unwrap();
    assert!(page.contains("PASSED") && page.contains("the export job finishes"), "demo --html writes the page");
    assert!(out.contains("probe: forged signature · 401"), "{out}");
    assert!(out.contains("0 users, 0 records"), "{out}");
    assert!(out.contains("trace") && out.contains("✓ the request id reaches the upstream"), "{out}");
    // The explanation numbers its steps 1–6 and says what the service shows.
    assert!(out.contains("  6. Teardown deleted the records, and the user was deleted"), "{out}");
    // `eventually` and the OpenAPI coverage line are part of the demo.
    assert!(out.contains("✓ the export job finishes") && out.contains(" attempts"), "{out}");
    assert!(out.contains("openapi: 14 of 15 operations (openapi.yaml)"), "{out}");
}

#[test]
fn the_demo_says_what_the_service_shows_when_the_user_is_left() {
    let p = Project::new();
    let o = p.cmd().args(["demo", "--fault", "no-delete"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("The user could NOT be deleted") && !out.contains("the user was deleted through the gateway"), "{out}");
    let o = p.cmd().args(["demo", "--auth-probes", "false"]).output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("  5. Teardown deleted") && !out.contains("  6. "), "no gap in the numbering: {out}");
}

/// One row of the fault matrix: what the bundled suites must say when the path breaks this way.
struct Row {
    fault: &'static str,
    exit: i32,
    class: Option<&'static str>,
    /// Users and records the service may still hold afterwards.
    left: (usize, usize),
}

const MATRIX: &[Row] = &[
    Row { fault: "none", exit: 0, class: None, left: (0, 0) },
    Row { fault: "auth-off", exit: 1, class: Some("auth-not-enforced"), left: (0, 0) },
    Row { fault: "stub", exit: 1, class: Some("stub"), left: (0, 0) },
    Row { fault: "empty", exit: 1, class: Some("assertion"), left: (0, 0) },
    Row { fault: "slow", exit: 1, class: Some("timeout"), left: (0, 0) },
    Row { fault: "5xx", exit: 1, class: Some("server-error"), left: (0, 0) },
    Row { fault: "redirect-to-service", exit: 1, class: Some("off-gateway"), left: (0, 0) },
    Row { fault: "drop", exit: 1, class: Some("connect"), left: (0, 0) },
    Row { fault: "short-ttl", exit: 0, class: None, left: (0, 0) },
    // The gateway refuses to delete the user: it is left, named, and kept in the journal.
    Row { fault: "no-delete", exit: 5, class: None, left: (1, 0) },
    Row { fault: "skew", exit: 0, class: None, left: (0, 0) },
    // The response of a read breaks the gateway's OpenAPI document.
    Row { fault: "contract", exit: 1, class: Some("schema"), left: (0, 0) },
];

/// The "no false green" matrix: the real binary, the bundled suites and `--auth-probes`
/// against the reference gateway, healthy and with each fault switched on.
#[test]
fn fault_matrix_every_broken_path_turns_red_with_the_right_class() {
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites");
    let mut table =
        vec!["| fault | exit | first failed step | class | left behind (users, records) |".to_owned(), "|---|---|---|---|---|".to_owned()];
    let mut problems = Vec::new();
    for row in MATRIX {
        let p = Project::new();
        let mut opts = refgate::RefgateOptions::default();
        if row.fault != "none" {
            opts.faults.insert(refgate::Fault::parse(row.fault).unwrap());
        }
        let gate = Refgate::start(opts);
        let report = p.path().join("r.json");
        let o = p
            .std_cmd()
            .args(["run", suites, "--auth-probes", "--jobs", "1", "--timeout", "2s", "--gateway", &gate.gateway])
            .arg("--state-dir")
            .arg(p.state())
            .arg("--json")
            .arg(&report)
            .output()
            .unwrap();
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let first = r["suites"].as_array().unwrap().iter().flat_map(|s| s["steps"].as_array().unwrap()).find(|s| s["outcome"] == "failed");
        let class = first.and_then(|s| s["failure_class"].as_str());
        let step = first.map_or("-".to_owned(), |s| format!("{} › {}", s["suite"].as_str().unwrap(), s["name"].as_str().unwrap()));
        let left = gate.inspect();
        let journal = p.journal_files().len();
        table.push(format!(
            "| `{}` | {} | {step} | {} | {}, {} |",
            row.fault,
            o.status.code().unwrap_or(-1),
            class.unwrap_or("-"),
            left.0,
            left.1
        ));
        if o.status.code() != Some(row.exit) || class != row.class || left != row.left || journal != row.left.0 {
            problems.push(format!(
                "{}: exit {:?} class {class:?} left {left:?} journal {journal}, wanted exit {} class {:?} left {:?}\n{}",
                row.fault,
                o.status.code(),
                row.exit,
                row.class,
                row.left,
                text(&o)
            ));
        }
        if row.fault == "skew" {
            assert!(text(&o).contains("clock skew"), "skew is reported: {}", text(&o));
        }
    }
    // Shown in every `cargo test` run (written past the test harness's capture), and kept in the README.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\nfault matrix (bundled suites, --auth-probes, reference gateway):\n{}\n", table.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// `smokegate refgate` as a command: prints where it listens, serves through its edge (which
/// refuses an unauthenticated read and answers health), logs each request, and ends on its PID.
#[test]
fn the_refgate_command_serves_the_reference_gateway() {
    use std::io::BufRead;
    let p = Project::new();
    let mut child = p
        .std_cmd()
        .args(["refgate", "--port", "0", "--faults", "stub"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let field = |name: &str| first.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_owned);
    let (gateway, service) = (field("gateway=").unwrap(), field("service=").unwrap());
    assert!(first.ends_with("faults=stub"), "{first}");
    assert!(gateway.starts_with("http://127.0.0.1:") && service.starts_with("http://127.0.0.1:"), "{first}");
    assert_eq!(get_json(&format!("{gateway}/health/ready"))["status"], "ok");
    assert_eq!(get_json(&format!("{gateway}/api/orders"))["error"], "missing bearer token");
    assert_eq!(get_json(&format!("{service}/__inspect"))["users"], serde_json::json!([]));
    let log: Vec<String> = lines.by_ref().take(4).map_while(Result::ok).collect();
    assert!(log.iter().any(|l| l.contains("GET /health/ready status=200")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("GET /api/orders status=401")), "{log:?}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A fault the reference gateway does not know is a usage error naming the known ones.
#[test]
fn the_refgate_command_refuses_an_unknown_fault() {
    let p = Project::new();
    let o = p.std_cmd().args(["refgate", "--port", "0", "--faults", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown fault `nope`") && err.contains("no-delete"), "{err}");
}

/// The book's fault table (docs/src/catches.md) says what the matrix asserts: each fault, its
/// exit code and the class of the first failed step.
#[test]
fn the_books_fault_table_is_the_matrix() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/catches.md")).unwrap();
    let rows: Vec<(String, i32, Option<String>)> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| fault"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let exit = cells[2].split_whitespace().next().unwrap().parse().unwrap();
            let class = Some(cells[4].trim_matches('`').to_owned()).filter(|c| c != "-");
            (cells[0].trim_matches('`').to_owned(), exit, class)
        })
        .collect();
    let want: Vec<(String, i32, Option<String>)> =
        MATRIX.iter().map(|r| (r.fault.to_owned(), r.exit, r.class.map(str::to_owned))).collect();
    assert_eq!(rows, want, "docs/src/catches.md's table is not the fault matrix");
}
