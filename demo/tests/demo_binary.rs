//! The `ota-demo` binary as a user runs it (small and fast: 60 devices, 100 ms polls):
//! * with `--json`, stdout is exactly one JSON document (progress and hints go to stderr);
//! * counts carry both meanings, named (`counts` = this stage, `cumulative` = so far), and no
//!   sentinel leaks into the plan (`min_committed` is null when none was given);
//! * the browser trust hint is printed next to the dashboard URL;
//! * private keys are mode 0600 and a second run keeps them; only `--force` replaces them;
//! * every signature is in the audit log in the demo's directory, which is kept with the keys.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const PRIVATE_KEYS: [&str; 4] = [
    "image-key.pem",
    "manifest-key.pem",
    "tls/fleet-ca.key",
    "tls/server.key",
];

fn demo(dir: &Path, extra: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ota-demo"))
        .arg("--dir")
        .arg(dir)
        .args([
            "--devices",
            "60",
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "100",
            "--soak-ms",
            "100",
            "--exit",
        ])
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .expect("ota-demo runs");
    assert!(
        out.status.success(),
        "ota-demo {extra:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The signing audit log's records (one per signature: three images and two manifests a run),
/// checking that it is private like the keys.
fn audit_records(dir: &Path) -> Vec<String> {
    let path = dir.join("audit.jsonl");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "audit.jsonl has mode {mode:o}");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            record["command"].as_str().unwrap().to_owned()
        })
        .collect()
}

const ONE_RUN: [&str; 5] = ["sign", "sign", "sign", "release", "release"];

fn keys(dir: &Path) -> Vec<Vec<u8>> {
    PRIVATE_KEYS
        .iter()
        .map(|k| {
            let path = dir.join(k);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{k} has mode {mode:o}");
            std::fs::read(&path).unwrap()
        })
        .collect()
}

#[test]
fn json_stdout_is_one_document_and_keys_survive_reruns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");

    // --json: stdout parses as one JSON document, nothing before or after it.
    let out = demo(&dir, &["--json"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert!(v.is_object(), "{v}");
    assert_eq!(v["good_rollout"]["state"], "completed", "{v}");
    assert_eq!(v["bad_rollout"]["state"], "paused", "{v}");
    for rollout in [&v["good_rollout"], &v["bad_rollout"]] {
        let stages = rollout["stages"].as_array().unwrap();
        for s in stages {
            assert!(
                s["counts"]["offered"].is_u64() && s["cumulative"]["offered"].is_u64(),
                "{s}"
            );
            assert!(s["min_committed"].is_null(), "no sentinel for 'no count': {s}");
        }
        assert_eq!(stages.last().unwrap()["cumulative"], rollout["totals"], "{rollout}");
    }
    let good_totals = &v["good_rollout"]["totals"];
    assert_eq!(good_totals["committed"], 60, "{good_totals}");
    // The simulated fleet says who was held back by the paused rollout, and why.
    let devices = &v["devices"];
    assert!(devices["by_state"]["held_back"].as_u64().unwrap() > 0, "{devices}");
    assert_eq!(
        devices["held_back"]["rollout_paused"]["devices"], devices["by_state"]["held_back"],
        "{devices}"
    );
    let dashboard = v["dashboard"].as_str().unwrap();
    assert!(dashboard.starts_with("https://localhost:"), "{dashboard}");
    let ca = v["fleet_ca"].as_str().unwrap();
    assert!(Path::new(ca).is_file(), "{ca}");
    // Human output went to stderr: progress, both count meanings, the URL and the trust hint.
    assert!(stderr.contains("== rollout of 2.0.0"), "{stderr}");
    assert!(stderr.contains("so far:") && stderr.contains("this stage:"), "{stderr}");
    assert!(stderr.contains(&format!("dashboard: {dashboard}")), "{stderr}");
    assert!(stderr.contains(ca), "the trust hint names the CA file: {stderr}");
    assert!(stderr.contains("generated"), "{stderr}");
    assert!(
        !stderr.contains("\u{1b}["),
        "no colour codes when stderr is not a terminal"
    );
    let first = keys(&dir);
    assert_eq!(
        Path::new(v["audit_log"].as_str().unwrap()),
        dir.join("audit.jsonl").canonicalize().unwrap()
    );
    assert_eq!(audit_records(&dir), ONE_RUN, "every signature is in the audit log");

    // A second run (text summary) reuses the keys and the fleet CA, untouched.
    let out = demo(&dir, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("kept from the previous run"), "{stderr}");
    assert_eq!(keys(&dir), first, "a rerun without --force replaced a key");
    assert_eq!(
        audit_records(&dir),
        ONE_RUN.repeat(2),
        "the audit log is kept with the keys"
    );
    assert!(stdout.starts_with("== summary"), "{stdout}");
    for needed in [
        "this stage",
        "so far",
        "held back, rollout_paused",
        "dashboard: https://localhost:",
    ] {
        assert!(
            stdout.contains(needed),
            "{needed:?} missing from the summary:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("fleet-ca.pem"),
        "the trust hint follows the URL:\n{stdout}"
    );
    assert!(
        !stdout.contains("== rollout of"),
        "progress belongs on stderr:\n{stdout}"
    );

    // --force: new keys (still 0600).
    demo(&dir, &["--force", "--json"]);
    let third = keys(&dir);
    for (a, b) in first.iter().zip(&third) {
        assert_ne!(a, b, "--force kept a key");
    }
    assert_eq!(audit_records(&dir), ONE_RUN, "new keys, new audit log");
}

#[test]
fn demo_help_and_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_ota-demo"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Examples:") && help.contains("--force"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_ota-demo"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("ota-demo {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `--replicas 3` on PostgreSQL and S3 (the local test server, `.ci/s3-up.sh`): three servers
/// behind the round-robin front act as one — both rollouts end as on one server, and every
/// replica answered check-ins.
#[test]
fn replicas_behind_the_front_act_as_one_server() {
    use rand_core::RngCore as _;
    let tmp = tempfile::tempdir().unwrap();
    let s3 = std::env::var("OTA_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9573".into());
    let bucket = format!("ota-demo-test-{:016x}", rand_core::OsRng.next_u64());
    let made = Command::new("curl")
        .args(["-fsS", "-X", "PUT", &format!("{s3}/{bucket}")])
        .status()
        .expect("curl runs");
    assert!(made.success(), "the S3 test server must answer at {s3} (.ci/s3-up.sh)");
    let pg = std::env::var("OTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let database = format!("{pg}?schema=demo_test_{:016x}", rand_core::OsRng.next_u64());
    let artifacts = format!("s3://{bucket}/artifacts");
    let out = Command::new(env!("CARGO_BIN_EXE_ota-demo"))
        .arg("--dir")
        .arg(tmp.path().join("d"))
        .args([
            "--devices",
            "60",
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "100",
            "--soak-ms",
            "100",
        ])
        .args([
            "--exit",
            "--json",
            "--replicas",
            "3",
            "--database",
            &database,
            "--artifacts",
            &artifacts,
        ])
        .envs([
            ("AWS_ENDPOINT_URL", s3.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test-only"),
            ("AWS_SECRET_ACCESS_KEY", "test-only"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["good_rollout"]["state"], "completed", "{v}");
    assert_eq!(v["bad_rollout"]["state"], "paused", "{v}");
    assert_eq!(v["good_rollout"]["totals"]["committed"], 60, "{v}");
    let served: Vec<u64> = v["checkins_per_replica"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(served.len(), 3, "{v}");
    assert!(
        served.iter().all(|&n| n > 0),
        "every replica answered check-ins: {served:?}"
    );
    assert!(stderr.contains("3 ota-server replicas"), "{stderr}");
}

/// Several replicas without a shared database or artifact store are refused with a hint.
#[test]
fn replicas_need_shared_state() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ota-demo"))
        .arg("--dir")
        .arg(tmp.path().join("d"))
        .args(["--replicas", "2", "--exit"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--database postgres://"), "{stderr}");
    assert!(stderr.contains("scripts/cluster"), "{stderr}");
}
