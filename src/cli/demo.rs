//! `smokegate demo`: the whole job in one command. Starts the reference gateway on free loopback
//! ports, runs the bundled suites against it with auth probes, explains what happened, shows
//! what was left behind (nothing, on a healthy gateway), and shuts the gateway down.

use std::path::PathBuf;
use std::time::Duration;

use super::failure::Failure;
use crate::cli::args::{DemoArgs, GatewayArgs, ReportArgs, RunArgs};
use crate::exit::Exit;
use crate::report::console::Verbosity;
use crate::run::ctx::Cancel;
use refgate::{Fault, RefgateOptions};

/// The bundled suites, compiled in so the demo runs from any directory.
pub const BUNDLED: &[(&str, &str)] = &[
    ("forms.yaml", include_str!("../../smoke-suites/forms.yaml")),
    ("health.yaml", include_str!("../../smoke-suites/health.yaml")),
    ("jobs.yaml", include_str!("../../smoke-suites/jobs.yaml")),
    ("orders.yaml", include_str!("../../smoke-suites/orders.yaml")),
    ("trace.yaml", include_str!("../../smoke-suites/trace.yaml")),
    ("smokegate.yaml", include_str!("../../smoke-suites/smokegate.yaml")),
    ("openapi.yaml", include_str!("../../smoke-suites/openapi.yaml")),
];

pub async fn run(args: DemoArgs, verbosity: Verbosity, cancel: Cancel) -> Result<Exit, Failure> {
    let mut opts = RefgateOptions::default();
    for f in &args.fault {
        opts.faults.insert(Fault::parse(f).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?);
    }
    // `slow` must outlast the harness timeout the demo uses, without making the demo slow.
    opts.slow_delay = Duration::from_secs(4);
    let tmp = tempfile::Builder::new()
        .prefix("smokegate-demo-")
        .tempdir()
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot create a temp dir: {e}")))?;
    let paths = if args.paths.is_empty() {
        let dir = tmp.path().join("smoke-suites");
        std::fs::create_dir_all(&dir).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
        for (name, text) in BUNDLED {
            std::fs::write(dir.join(name), text).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
        }
        vec![dir]
    } else {
        args.paths.clone()
    };
    let gate =
        refgate::start(opts.clone()).await.map_err(|e| Failure::new(Exit::Usage, format!("cannot start the reference gateway: {e}")))?;
    let quiet = verbosity == Verbosity::Quiet;
    if !quiet {
        crate::outln!(
            "reference gateway on {} (JWT-verifying edge) → service on {} (never called directly)",
            gate.gateway_url(),
            gate.service_url()
        );
        if !opts.faults.is_empty() {
            crate::outln!("faults switched on: {}", args.fault.join(", "));
        }
        crate::outln!();
    }
    let run_args = RunArgs {
        paths: paths.clone(),
        gateway: GatewayArgs {
            gateway: Some(gate.gateway_url()),
            state_dir: Some(tmp.path().join("state")),
            timeout: Some(Duration::from_secs(2)),
            ..GatewayArgs::default()
        },
        auth_probes: args.auth_probes,
        reports: ReportArgs { html: args.html.clone(), ..ReportArgs::default() },
        jobs: Some(1),
        ..RunArgs::default()
    };
    let result = super::run::cmd_run(run_args, verbosity, cancel).await;
    let left = inspect(&gate.service_url()).await;
    gate.shutdown().await;
    let code = result?;
    if !quiet {
        explain(code, args.auth_probes, left.as_ref(), &paths);
    }
    Ok(code)
}

/// What the service still holds: (users, records).
async fn inspect(service: &str) -> Option<(usize, usize)> {
    let v: serde_json::Value = reqwest::get(format!("{service}/__inspect")).await.ok()?.json().await.ok()?;
    Some((v["users"].as_array()?.len(), v["records"].as_array()?.len()))
}

fn explain(code: Exit, probes: bool, left: Option<&(usize, usize)>, paths: &[PathBuf]) {
    crate::outln!();
    crate::outln!("What just happened:");
    crate::outln!("  1. A disposable user was created and logged in through the gateway; its JWT was kept for the run.");
    crate::outln!(
        "  2. The suites in {} ran through the gateway only;",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    crate::outln!("     every request carried an X-Request-Id (UUIDv7) and a traceparent, authenticated steps the Bearer token.");
    crate::outln!("  3. `the export job finishes` was polled with `eventually` until the job was done: each attempt a new");
    crate::outln!("     request with its own reqId; a job that ends `failed` would have stopped it at once, red.");
    crate::outln!("  4. Every response was checked against the gateway's OpenAPI document (smoke-suites/openapi.yaml);");
    crate::outln!("     the `openapi:` line above says how many of its operations this smoke run exercised.");
    let mut n = 5;
    if probes {
        crate::outln!("  {n}. Each authenticated read was replayed without a token, with a forged signature and with alg=none;");
        crate::outln!("     the gateway had to refuse all three, or the step fails as `auth-not-enforced`.");
        n += 1;
    }
    // Say what the service shows, not what was meant to happen.
    match left {
        Some((0, _)) => crate::outln!(
            "  {n}. Teardown deleted the records, and the user was deleted through the gateway with its own token (its login is now refused)."
        ),
        Some((u, _)) => crate::outln!(
            "  {n}. The user could NOT be deleted: {u} left in the service, named above and kept in the journal for `smokegate cleanup`."
        ),
        None => crate::outln!("  {n}. Teardown and the user's deletion ran through the gateway."),
    }
    match left {
        Some((0, 0)) => crate::outln!("  The service reports nothing left behind: 0 users, 0 records."),
        Some((u, r)) => crate::outln!("  The service reports {u} user(s) and {r} record(s) left behind."),
        None => crate::outln!("  (the service's inspection endpoint did not answer)"),
    }
    crate::outln!();
    if code == Exit::Ok {
        crate::outln!("Now break the path and watch it turn red: smokegate demo --fault stub");
        crate::outln!("  (faults: {})", Fault::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "));
    } else {
        crate::outln!(
            "exit code {} ({}): see the failure class on the ✗ line; `smokegate --help` lists exit codes.",
            code.code(),
            code.meaning()
        );
    }
}
