//! Rollouts: create maps stages, soak, in-flight cap and tags to the API's plan; status, pause,
//! resume and abort steer it, refusals carry the server's code; `status --watch` without a
//! terminal prints one line per change and ends when the rollout settles.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use super::harness::{run, wait, Server};

#[test]
fn rollout_create_with_stages_then_status_pause_resume_and_abort() {
    let s = Server::start();
    s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    run(&mut s.otactl(), &["release", "upload", "release-1.0.0"]).ok();

    // --dry-run sends nothing and shows the request.
    let dry = run(
        &mut s.otactl(),
        &[
            "rollout",
            "create",
            "--release",
            "1",
            "--stages",
            "1,10,50,100",
            "--soak",
            "1h",
            "--dry-run",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        dry["plan"]["stages"][3],
        json!({"percent": 100.0, "soak_ms": 3_600_000})
    );
    assert_eq!(
        run(&mut s.otactl(), &["rollout", "list", "--json"]).ok().json(),
        json!([])
    );

    let created = run(
        &mut s.otactl(),
        &[
            "rollout",
            "create",
            "--release",
            "1",
            "--stages",
            "1,10,50,100",
            "--soak",
            "1h",
            "--max-in-flight",
            "5",
            "--tags",
            "beta,lab",
            "--approval-last",
            "--name",
            "canary",
            "--json",
        ],
    )
    .ok()
    .json();
    let id = created["id"].as_i64().unwrap();
    let id_arg = id.to_string();
    assert_eq!(created["state"], "running");
    assert_eq!(created["name"], "canary");
    assert_eq!(created["max_in_flight"], 5);
    assert_eq!(created["target_tags"], json!(["beta", "lab"]));

    let status = run(&mut s.otactl(), &["rollout", "status", &id_arg, "--json"])
        .ok()
        .json();
    let stages = status["stages"].as_array().unwrap();
    let percents: Vec<f64> = stages.iter().map(|st| st["percent"].as_f64().unwrap()).collect();
    assert_eq!(percents, [1.0, 10.0, 50.0, 100.0]);
    assert!(stages.iter().all(|st| st["soak_ms"] == 3_600_000), "{status}");
    assert_eq!(stages[3]["promotion"], "approval");
    assert_eq!(stages[0]["promotion"], "automatic");

    let text = run(&mut s.otactl(), &["rollout", "status", &id_arg]).ok();
    for needle in ["running", "COMMITTED SO FAR", "1h", "approval", "started"] {
        assert!(text.stdout.contains(needle), "{needle:?} in {text:?}");
    }

    let paused = run(&mut s.otactl(), &["rollout", "pause", &id_arg]).ok();
    assert!(paused.stdout.contains("now paused (operator"), "{paused:?}");
    // Pausing twice does not apply: the server's refusal, exit 1.
    run(&mut s.otactl(), &["rollout", "pause", &id_arg]).fails(1, "error: invalid_action: ");
    // Watching a paused rollout ends at once, with the pause in its one line.
    let watched = run(&mut s.otactl(), &["rollout", "status", &id_arg, "--watch"]).ok();
    assert_eq!(watched.stdout.lines().count(), 1, "{watched:?}");
    assert!(watched.stdout.contains("paused (operator"), "{watched:?}");

    let resumed = run(&mut s.otactl(), &["rollout", "resume", &id_arg, "--json"])
        .ok()
        .json();
    assert_eq!(resumed["state"], "running");
    // Watching a running rollout goes on until Ctrl-C: exit 130, as a shell reports SIGINT.
    let watch = s
        .otactl()
        .args(["rollout", "status", &id_arg, "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let interrupted = wait(watch, Duration::from_secs(30));
    assert_eq!(interrupted.code, Some(130), "{interrupted:?}");
    // A line when the server counted the stage's cohort, none for the seconds without a change.
    let lines: Vec<&str> = interrupted.stdout.lines().collect();
    assert!((1..=2).contains(&lines.len()), "{interrupted:?}");
    assert!(
        lines.iter().all(|l| l.contains(&format!("rollout {id} running"))),
        "{interrupted:?}"
    );
    assert!(interrupted.stderr.is_empty(), "{interrupted:?}");

    // One unfinished rollout per release.
    run(&mut s.otactl(), &["rollout", "create", "--release", "1"]).fails(1, "error: rollout_exists: ");

    let aborted = run(&mut s.otactl(), &["rollout", "abort", &id_arg, "--json"])
        .ok()
        .json();
    assert_eq!(aborted["state"], "aborted");
    let listed = run(&mut s.otactl(), &["rollout", "list", "--json"]).ok().json();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["state"], "aborted");
    let table = run(&mut s.otactl(), &["rollout", "list"]).ok();
    assert!(
        table.stdout.contains("canary") && table.stdout.contains("aborted"),
        "{table:?}"
    );
    let kinds: Vec<String> = run(&mut s.otactl(), &["rollout", "status", &id_arg, "--json"])
        .ok()
        .json()["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["started", "paused", "resumed", "aborted"]);

    run(&mut s.otactl(), &["rollout", "status", "999"]).fails(1, "error: rollout_not_found: ");
    run(
        &mut s.otactl(),
        &["rollout", "create", "--release", "1", "--stages", "50,10"],
    )
    .fails(1, "error: invalid_plan: ");
    let usage = run(
        &mut s.otactl(),
        &["rollout", "create", "--release", "1", "--soak", "soon"],
    );
    assert_eq!(usage.code, Some(2), "{usage:?}");
}

#[test]
fn rollout_status_watch_prints_one_line_per_change_until_completed() {
    let s = Server::start();
    let (_, v1) = s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    let (_, v2) = s.cut_release("release-1.1.0", "1.1.0", 2, 2, Some(&v1));
    run(&mut s.otactl(), &["release", "upload", "release-1.1.0"]).ok();
    let device = s.device("dev-0001");
    // Registers the device in its class before the rollout counts its cohort.
    let (status, _) = s.checkin(&device, &v1, "1.0.0", 1);
    assert_eq!(status, 200);
    let id = run(
        &mut s.otactl(),
        &[
            "rollout",
            "create",
            "--release",
            "1",
            "--stages",
            "100",
            "--soak",
            "0s",
            "--json",
        ],
    )
    .ok()
    .json()["id"]
        .to_string();

    let watch = s
        .otactl()
        .args(["rollout", "status", &id, "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, offer) = s.checkin(&device, &v1, "1.0.0", 1);
    assert_eq!(status, 200);
    assert_eq!(offer["update"]["version"], "1.1.0", "{offer}");
    // The image is downloaded before the commit (a commit without it is not counted).
    let image = s.device_download(&device, offer["update"]["image"]["url"].as_str().unwrap());
    assert_eq!(image, v2);
    std::thread::sleep(Duration::from_millis(1500));
    for report in ["downloading", "installing", "committed"] {
        let (status, _) = s.device_post(&device, "/api/v1/device/status", &json!({"status": report}));
        assert!((200..300).contains(&status), "{report}: {status}");
    }
    let (status, _) = s.checkin(&device, &v2, "1.1.0", 2);
    assert_eq!(status, 200);

    let watched = wait(watch, Duration::from_secs(60));
    assert_eq!(watched.code, Some(0), "{watched:?}");
    let lines: Vec<&str> = watched.stdout.lines().collect();
    assert!(lines.len() >= 2, "a line per change: {watched:?}");
    assert!(lines[0].contains(&format!("rollout {id} running")), "{watched:?}");
    assert!(
        lines
            .last()
            .unwrap()
            .contains(&format!("rollout {id} completed: 1 committed, 0 failed")),
        "{watched:?}"
    );
    // Lines differ from one another: one per change, not one per second.
    let mut unique: Vec<&str> = lines.iter().map(|l| l.split_once(' ').unwrap().1).collect();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "{watched:?}");

    // --json --watch: the final state as one JSON document on stdout, progress on stderr.
    let final_view = run(&mut s.otactl(), &["rollout", "status", &id, "--watch", "--json"]).ok();
    assert_eq!(final_view.json()["state"], "completed");
    assert!(final_view.stderr.contains("completed"), "{final_view:?}");
}
