//! The GitHub Action's shell steps (`.github/action/smokegate.sh`, called by `action.yml`), run
//! here as a runner would run them: a locally built binary stands in for the download, or a
//! `file://` mirror does (checksum verified), against the reference gateway.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.github/action/smokegate.sh");

fn step(p: &Project, what: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("bash");
    c.arg(SCRIPT).arg(what).current_dir(p.path()).env_clear();
    c.env("PATH", std::env::var("PATH").unwrap_or_default()).env("HOME", p.path()).env("NO_COLOR", "1");
    c.env("RUNNER_TEMP", p.path().join("runner-temp")).env("GITHUB_PATH", p.path().join("github-path"));
    c.env("RUNNER_OS", "Linux").env("RUNNER_ARCH", "X64").env("XDG_STATE_HOME", p.path().join("state"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn the_action_installs_runs_and_cleans_up_against_the_reference_gateway() {
    let gate = Refgate::start(refgate::RefgateOptions::default());
    let p = Project::new();
    let bin = assert_cmd::cargo::cargo_bin!("smokegate");
    let o = step(&p, "install", &[("INPUT_BINARY", bin.to_str().unwrap())]);
    assert!(o.status.success(), "{}", text(&o));
    let path = std::fs::read_to_string(p.path().join("github-path")).unwrap();
    assert!(Path::new(path.trim()).join("smokegate").is_file(), "on GITHUB_PATH: {path}");
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/smoke-suites");
    let run_env = [
        ("GATEWAY_BASE_URL", gate.gateway.as_str()),
        ("INPUT_PATHS", suites),
        ("INPUT_WAIT_READY", "30s"),
        ("INPUT_AUTH_PROBES", "true"),
        ("INPUT_JUNIT", "smoke.xml"),
        ("INPUT_JSON", "smoke.json"),
    ];
    let o = step(&p, "run", &run_env);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("probe: forged signature · 401"), "--auth-probes passed through");
    assert!(p.path().join("smoke.xml").is_file() && p.path().join("smoke.json").is_file(), "reports written for the upload step");
    let o = step(&p, "cleanup", &[("GATEWAY_BASE_URL", gate.gateway.as_str())]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(gate.inspect(), (0, 0));
    // A red run fails the step with smokegate's exit code; cleanup still runs after it.
    let broken = Refgate::start(refgate::RefgateOptions { faults: [refgate::Fault::Stub].into_iter().collect(), ..Default::default() });
    let o = step(&p, "run", &[("GATEWAY_BASE_URL", broken.gateway.as_str()), ("INPUT_PATHS", suites)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(step(&p, "cleanup", &[("GATEWAY_BASE_URL", broken.gateway.as_str())]).status.code(), Some(0));
    assert_eq!(broken.inspect(), (0, 0));
}

#[test]
fn the_download_is_installed_only_when_its_checksum_matches() {
    let p = Project::new();
    let mirror = p.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    let bin = assert_cmd::cargo::cargo_bin!("smokegate");
    let name = "smokegate-x86_64-unknown-linux-musl";
    std::fs::copy(bin, mirror.join(name)).unwrap();
    let sum = {
        use sha2::Digest;
        let bytes = std::fs::read(mirror.join(name)).unwrap();
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let base = format!("file://{}", mirror.display());
    std::fs::write(mirror.join(format!("{name}.sha256")), format!("{sum}  {name}\n")).unwrap();
    let o = step(&p, "install", &[("SMOKEGATE_DOWNLOAD_BASE", &base)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("smokegate "), "the installed binary runs: {}", text(&o));
    std::fs::write(mirror.join(format!("{name}.sha256")), format!("{}  {name}\n", "0".repeat(64))).unwrap();
    let o = step(&p, "install", &[("SMOKEGATE_DOWNLOAD_BASE", &base)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));
    assert!(!p.path().join("runner-temp/smokegate-bin/smokegate").exists(), "a binary that fails its checksum is removed");
}

/// The Kubernetes example in the README is a Job that runs `smokegate run` with the gateway and
/// its secrets from the cluster, and keeps the journal on a volume.
#[test]
fn the_kubernetes_example_is_a_job_that_runs_the_smoke_suites() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/k8s-job.yaml"));
    let doc = smokegate::load::yaml::parse(path, &std::fs::read_to_string(path).unwrap()).unwrap().to_json();
    assert_eq!(doc["kind"], "Job");
    assert_eq!(doc["metadata"]["annotations"]["argocd.argoproj.io/hook"], "PreSync");
    let c = &doc["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"][0], "run");
    let env: Vec<&str> = c["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(env.contains(&"GATEWAY_BASE_URL") && env.contains(&"SMOKE_CLIENT_SECRET"), "{env:?}");
    let mounts: Vec<&str> = c["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    assert!(mounts.contains(&"/home/nonroot/.local/state"), "the journal survives the pod: {mounts:?}");
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    assert!(dockerfile.contains("ENV XDG_STATE_HOME=/home/nonroot/.local/state"), "the image puts the journal where the Job mounts it");
}
