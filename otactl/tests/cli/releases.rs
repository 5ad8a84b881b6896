//! Releases: a `signer release` directory uploads as is and is listed and shown (text and
//! JSON); a tampered bundle is refused by the server (exit 1, its code on stderr) and nothing
//! is stored.

use super::harness::{run, Server};

#[test]
fn release_upload_list_and_show_in_text_and_json() {
    let s = Server::start();
    let (v1, v1_image) = s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    let up = run(&mut s.otactl(), &["release", "upload", v1.to_str().unwrap()]).ok();
    assert!(
        up.stdout
            .starts_with("uploaded release 1: sensor-v2 1.0.0 (sequence 1)"),
        "{up:?}"
    );
    // The second release carries a real delta patch from the first.
    let (v2, _) = s.cut_release("release-1.1.0", "1.1.0", 2, 2, Some(&v1_image));
    let up = run(&mut s.otactl(), &["--json", "release", "upload", "release-1.1.0"]).ok();
    let uploaded = up.json();
    assert_eq!(uploaded["id"], 2);
    assert_eq!(uploaded["version"], "1.1.0");
    assert_eq!(uploaded["patches"].as_array().unwrap().len(), 1);
    assert!(v2.join("delta-from-base.patch").is_file());

    let list = run(&mut s.otactl(), &["release", "list"]).ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows: {list:?}");
    assert!(lines[0].starts_with("ID  CLASS"), "{list:?}");
    assert!(
        list.stdout.contains("1.0.0") && list.stdout.contains("1.1.0"),
        "{list:?}"
    );
    assert!(list.stdout.contains("token:initial-admin"), "uploaded by: {list:?}");

    let listed = run(&mut s.otactl(), &["release", "list", "--json"]).ok().json();
    let versions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert!(versions.contains(&"1.0.0") && versions.contains(&"1.1.0"), "{listed}");

    let shown = run(&mut s.otactl(), &["release", "show", "2", "--json"]).ok().json();
    assert_eq!(shown, uploaded);
    let text = run(&mut s.otactl(), &["release", "show", "2"]).ok();
    for needle in [
        "sequence",
        "1.1.0",
        "delta patches:",
        uploaded["image_sha256"].as_str().unwrap(),
    ] {
        assert!(text.stdout.contains(needle), "{needle:?} in {text:?}");
    }

    run(&mut s.otactl(), &["release", "show", "99"]).fails(1, "error: release_not_found: ");
}

#[test]
fn tampered_release_is_refused_with_the_servers_code_and_nothing_is_stored() {
    let s = Server::start();
    let (dir, _) = s.cut_release("release-1.0.0", "1.0.0", 1, 1, None);
    let image = dir.join("fw-1.0.0.signed.bin");
    let mut bytes = std::fs::read(&image).unwrap();
    let last = bytes.len() / 2;
    bytes[last] ^= 0x01;
    std::fs::write(&image, bytes).unwrap();

    let refused = run(&mut s.otactl(), &["release", "upload", "release-1.0.0"]).fails(1, "error: ");
    let error_line = refused.stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    let code = error_line["error: ".len()..].split(':').next().unwrap().to_owned();
    assert!(
        ["image_digest_mismatch", "summary_mismatch"].contains(&code.as_str()),
        "the failed check's stable code first: {refused:?}"
    );
    assert!(refused.stderr.contains("nothing of it was stored"), "{refused:?}");
    let listed = run(&mut s.otactl(), &["release", "list", "--json"]).ok().json();
    assert_eq!(listed, serde_json::json!([]));

    // The same with --json: still the error on stderr, and stdout empty.
    run(&mut s.otactl(), &["release", "upload", "--json", "release-1.0.0"]).fails(1, &code);

    // Not a release directory at all: a usage error, nothing sent.
    std::fs::create_dir(s.work.join("empty")).unwrap();
    run(&mut s.otactl(), &["release", "upload", "empty"]).fails(2, "release.suit");
}
