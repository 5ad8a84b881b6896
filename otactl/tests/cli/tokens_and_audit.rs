//! Tokens: `token create` prints the secret once and nothing else on stdout, and the token
//! works with exactly its role. Audit: the operator's actions are in the log, by token name.

use super::harness::{chmod, run, Server};

#[test]
fn token_create_prints_only_the_secret_and_the_token_has_its_role() {
    let s = Server::start();
    let made = run(
        &mut s.otactl(),
        &["token", "create", "--name", "ci-viewer", "--role", "viewer"],
    )
    .ok();
    let lines: Vec<&str> = made.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the token alone: {made:?}");
    assert!(lines[0].starts_with("ota_"), "{made:?}");
    assert!(
        made.stderr.contains("viewer") && !made.stderr.contains(lines[0]),
        "{made:?}"
    );

    let viewer = s.work.join("viewer.token");
    std::fs::write(&viewer, &made.stdout).unwrap();
    chmod(&viewer, 0o600);
    let as_viewer = || {
        let mut c = s.otactl();
        c.env("OTACTL_TOKEN_FILE", &viewer);
        c
    };
    run(&mut as_viewer(), &["release", "list"]).ok();
    s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    run(&mut as_viewer(), &["release", "upload", "release-1.0.0"]).fails(1, "error: insufficient_role: ");
    run(&mut as_viewer(), &["audit"]).fails(1, "error: insufficient_role: ");

    let json = run(
        &mut s.otactl(),
        &["token", "create", "--name", "ci", "--role", "release-manager", "--json"],
    )
    .ok()
    .json();
    assert_eq!(json["role"], "release-manager");
    assert!(json["token"].as_str().unwrap().starts_with("ota_"));
    let bad_role = run(&mut s.otactl(), &["token", "create", "--name", "x", "--role", "root"]);
    assert_eq!(bad_role.code, Some(2), "{bad_role:?}");
    assert!(bad_role.stdout.is_empty());
}

#[test]
fn token_list_and_revoke_take_a_leaked_token_out_of_use() {
    let s = Server::start();
    let made = run(
        &mut s.otactl(),
        &[
            "token",
            "create",
            "--name",
            "leaked",
            "--role",
            "viewer",
            "--expires-in",
            "30d",
            "--json",
        ],
    )
    .ok()
    .json();
    let id = made["id"].as_i64().unwrap();
    assert!(made["expires_ms"].as_i64().is_some(), "{made}");
    let leaked = s.work.join("leaked.token");
    std::fs::write(&leaked, made["token"].as_str().unwrap()).unwrap();
    chmod(&leaked, 0o600);
    let as_leaked = || {
        let mut c = s.otactl();
        c.env("OTACTL_TOKEN_FILE", &leaked);
        c
    };
    run(&mut as_leaked(), &["release", "list"]).ok();
    let list = run(&mut s.otactl(), &["token", "list"]).ok();
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("leaked"))
        .unwrap_or_default()
        .to_owned();
    assert!(row.starts_with(&id.to_string()) && row.contains("viewer"), "{list:?}");
    assert!(!list.stdout.contains(made["token"].as_str().unwrap()), "never a secret");
    let out = run(&mut s.otactl(), &["token", "revoke", &id.to_string()]).ok();
    assert!(out.stdout.contains("revoked"), "{out:?}");
    run(&mut as_leaked(), &["release", "list"]).fails(1, "error: token_revoked: ");
    let json = run(&mut s.otactl(), &["token", "list", "--json"]).ok().json();
    let entry = json.as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert!(entry["revoked_ms"].as_i64().is_some(), "{entry}");
    assert!(entry["last_used_ms"].as_i64().is_some(), "{entry}");
    run(&mut s.otactl(), &["token", "revoke", "424242"]).fails(1, "error: token_not_found: ");
    let bad = run(
        &mut s.otactl(),
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--expires-in",
            "soon",
        ],
    );
    assert_eq!(bad.code, Some(2), "{bad:?}");
}

#[test]
fn audit_shows_the_operators_actions_refused_ones_included() {
    let s = Server::start();
    let (_, v1) = s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    run(&mut s.otactl(), &["release", "upload", "release-1.0.0"]).ok();
    run(&mut s.otactl(), &["release", "upload", "release-1.0.0"]).fails(1, "error: sequence_not_above_previous: ");
    run(
        &mut s.otactl(),
        &["rollout", "create", "--release", "1", "--stages", "100"],
    )
    .ok();
    run(&mut s.otactl(), &["rollout", "pause", "1"]).ok();
    let device = s.device("dev-0001");
    assert_eq!(s.checkin(&device, &v1, "1.0.0", 1).0, 200);
    run(&mut s.otactl(), &["device", "revoke", "dev-0001"]).ok();
    run(
        &mut s.otactl(),
        &["token", "create", "--name", "ops", "--role", "viewer"],
    )
    .ok();

    let log = run(&mut s.otactl(), &["audit", "--json"]).ok().json();
    let entries: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (action, result) in [
        ("release.upload", "ok"),
        ("release.upload", "error:sequence_not_above_previous"),
        ("rollout.pause", "ok"),
        ("device.revoke", "ok"),
        ("token.create", "ok"),
    ] {
        assert!(
            entries.iter().any(|(a, r)| a == action && r == result),
            "{action} {result} in {entries:?}"
        );
    }
    assert!(
        log.as_array().unwrap().iter().all(|e| e["actor"] == log[0]["actor"]),
        "{log}"
    );

    let limited = run(&mut s.otactl(), &["audit", "--limit", "2", "--json"]).ok().json();
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert_eq!(limited[0], log[0], "newest first");
    let table = run(&mut s.otactl(), &["audit"]).ok();
    assert!(table.stdout.starts_with("AT"), "{table:?}");
    assert!(
        table.stdout.contains("device.revoke") && table.stdout.contains("dev-0001"),
        "{table:?}"
    );
}
