//! Devices: a device registered by one check-in over mutual TLS is listed (with the client-side
//! class and state filters), shown, tagged, and revoked — after which the server refuses its
//! next request — and decommissioned; the fleet view counts it while it is active.

use super::harness::{run, Server, CLASS};

#[test]
fn device_list_show_tag_and_revoke_after_a_checkin_over_mutual_tls() {
    let s = Server::start();
    let (_, v1) = s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    let device = s.device("dev-0001");
    let (status, answer) = s.checkin(&device, &v1, "1.0.0", 1);
    assert_eq!(status, 200, "{answer}");

    let list = run(&mut s.otactl(), &["device", "list"]).ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{list:?}");
    assert!(lines[0].starts_with("ID"), "{list:?}");
    assert!(
        lines[1].starts_with("dev-0001") && lines[1].contains("active") && lines[1].contains("1.0.0"),
        "{list:?}"
    );
    let listed = run(
        &mut s.otactl(),
        &["device", "list", "--class", CLASS, "--state", "active", "--json"],
    )
    .ok()
    .json();
    assert_eq!(listed[0]["id"], "dev-0001");
    assert_eq!(listed[0]["running_sequence"], 1);
    let none = run(&mut s.otactl(), &["device", "list", "--state", "revoked", "--json"])
        .ok()
        .json();
    assert_eq!(none, serde_json::json!([]));
    let none = run(&mut s.otactl(), &["device", "list", "--class", "gateway", "--json"])
        .ok()
        .json();
    assert_eq!(none, serde_json::json!([]));
    let bad_state = run(&mut s.otactl(), &["device", "list", "--state", "asleep"]);
    assert_eq!(bad_state.code, Some(2), "{bad_state:?}");

    let fleet = run(&mut s.otactl(), &["fleet", "--json"]).ok().json();
    assert_eq!(fleet["devices"], 1);
    let fleet_text = run(&mut s.otactl(), &["fleet"]).ok();
    assert!(
        fleet_text.stdout.contains(CLASS) && fleet_text.stdout.contains("1 active devices"),
        "{fleet_text:?}"
    );

    let tagged = run(
        &mut s.otactl(),
        &["device", "tag", "dev-0001", "--tags", "beta,lab", "--json"],
    )
    .ok()
    .json();
    assert_eq!(tagged["tags"], serde_json::json!(["beta", "lab"]));
    run(&mut s.otactl(), &["device", "tag", "dev-0001", "--tags", "Not A Tag"]).fails(1, "error: invalid_tags: ");

    let shown = run(&mut s.otactl(), &["device", "show", "dev-0001"]).ok();
    for needle in ["dev-0001", CLASS, "active", "beta,lab", "1.0.0"] {
        assert!(shown.stdout.contains(needle), "{needle:?} in {shown:?}");
    }
    run(&mut s.otactl(), &["device", "show", "no-such-device"]).fails(1, "error: device_not_found: ");

    let revoked = run(&mut s.otactl(), &["device", "revoke", "dev-0001"]).ok();
    assert!(
        revoked
            .stdout
            .starts_with(&format!("device dev-0001 revoked: class {CLASS}, state revoked")),
        "{revoked:?}"
    );
    let (status, answer) = s.checkin(&device, &v1, "1.0.0", 1);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (403, Some("device_revoked"))
    );
    let detail = run(&mut s.otactl(), &["device", "show", "dev-0001", "--json"])
        .ok()
        .json();
    assert_eq!(detail["device"]["state"], "revoked");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["status"] == "revoked"),
        "{detail}"
    );
    let revoked_list = run(&mut s.otactl(), &["device", "list", "--state", "revoked", "--json"])
        .ok()
        .json();
    assert_eq!(revoked_list[0]["id"], "dev-0001");

    let gone = run(&mut s.otactl(), &["device", "decommission", "dev-0001", "--json"])
        .ok()
        .json();
    assert_eq!(gone["state"], "decommissioned");
    let fleet = run(&mut s.otactl(), &["fleet", "--json"]).ok().json();
    assert_eq!(fleet["devices"], 0);
}

/// `otactl device class`: registers a device ahead with its class (its certificate names none),
/// which then checks in as that class; an unknown class is refused with its code.
#[test]
fn device_class_assigned_by_an_operator() {
    let s = Server::start();
    let out = run(&mut s.otactl(), &["device", "class", "dev-0042", CLASS]).ok();
    assert!(
        out.stdout.starts_with(&format!(
            "device dev-0042 assigned a class: class {CLASS}, state active"
        )),
        "{out:?}"
    );
    run(&mut s.otactl(), &["device", "class", "dev-0042", "toaster"]).fails(1, "error: unknown_device_class: ");
    let shown = run(&mut s.otactl(), &["device", "show", "dev-0042", "--json"])
        .ok()
        .json();
    assert_eq!(shown["device"]["class"], CLASS);
}
