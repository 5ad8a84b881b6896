//! The `ota-server` binary as a user meets it: `--version` and `--help` with examples; stdout
//! carries only the tokens scripts capture, everything else goes to stderr without colour codes
//! when redirected; private keys are mode 0600 and never replaced without `--force`; failures say
//! `error:` + `hint:` and exit 2.

use std::io::BufRead as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ota_server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ota-server"));
    // Default log filter, whatever the developer's shell has.
    cmd.env_remove("RUST_LOG").env_remove("NO_COLOR");
    for var in [
        "OTA_LISTEN",
        "OTA_DATABASE_URL",
        "OTA_DATA_DIR",
        "OTA_DEV_INSECURE_HTTP",
        "OTA_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Exit 2 with `error:` (containing `needle`) and a `hint:` on stderr, nothing on stdout.
fn assert_fails(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr:\n{err}");
    assert!(err.contains("error:"), "no error: line in\n{err}");
    assert!(err.contains("hint:"), "no hint: line in\n{err}");
    assert!(err.contains(needle), "expected {needle:?} in\n{err}");
    assert!(out.stdout.is_empty(), "stdout on failure: {}", text(&out.stdout));
}

fn public_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys/test-only-ed25519-a.pub.pem")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `ota-server init` into `dir`; returns its output.
fn init(dir: &Path, listen: &str) -> Output {
    run(ota_server()
        .arg("init")
        .arg("--dir")
        .arg(dir)
        .args(["--listen", listen, "--class", "sensor-v2@example.com"])
        .arg("--image-key")
        .arg(public_key())
        .arg("--manifest-key")
        .arg(public_key()))
}

/// Exactly one line on stdout, a token.
fn the_token(out: &Output) -> String {
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be the token only:\n{stdout}");
    assert!(lines[0].starts_with("ota_"), "{stdout}");
    lines[0].to_owned()
}

#[test]
fn version_and_examples_in_help() {
    let out = ok(ota_server().arg("--version"));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("ota-server {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in [&[][..], &["init"], &["serve"], &["token"], &["device-cert"]] {
        let out = ok(ota_server().args(sub).arg("--help"));
        assert!(
            text(&out.stdout).contains("Example"),
            "{sub:?} --help:\n{}",
            text(&out.stdout)
        );
    }
}

/// `TOKEN=$(ota-server init ...)` and `TOKEN=$(ota-server token ...)` capture the token alone;
/// what init wrote, and how to reach the dashboard, is on stderr; its private keys are 0600.
#[test]
fn init_and_token_print_only_the_token_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    let out = init(&dir, "127.0.0.1:18443");
    assert!(out.status.success(), "{}", text(&out.stderr));
    the_token(&out);
    let err = text(&out.stderr);
    for needle in [
        "ota-server.toml",
        "tls/fleet-ca.key",
        "tls/server.key",
        "secret, mode 0600",
        "https://localhost:18443/dashboard#token=<viewer token>",
        "ota-server token --config",
        "--name dashboard --role viewer",
        "fleet-ca.pem",
        "certutil",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from init's stderr:\n{err}");
    }
    assert!(!err.contains("\x1b["), "colour codes in redirected output:\n{err}");
    for key in ["tls/fleet-ca.key", "tls/server.key", "tls/device-issuing-ca.key"] {
        assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
    }

    // A second init refuses and changes nothing.
    let config = std::fs::read(dir.join("ota-server.toml")).unwrap();
    let ca_key = std::fs::read(dir.join("tls/fleet-ca.key")).unwrap();
    assert_fails(&init(&dir, "127.0.0.1:18443"), "exists");
    assert_eq!(std::fs::read(dir.join("ota-server.toml")).unwrap(), config);
    assert_eq!(std::fs::read(dir.join("tls/fleet-ca.key")).unwrap(), ca_key);

    let out = ok(ota_server()
        .arg("token")
        .arg("--config")
        .arg(dir.join("ota-server.toml"))
        .args(["--name", "dashboard", "--role", "viewer"]));
    the_token(&out);
    assert!(text(&out.stderr).contains("viewer"), "{}", text(&out.stderr));

    // A role that does not exist is a usage error.
    let out = run(ota_server()
        .arg("token")
        .arg("--config")
        .arg(dir.join("ota-server.toml"))
        .args(["--name", "x", "--role", "root"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error:"));
    assert!(out.stdout.is_empty());
}

/// A wrong key (here a private key where a public one belongs) writes nothing, so the same
/// command, corrected, simply works.
#[test]
fn failed_init_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    let private = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys/test-only-ed25519-a.pem");
    let out = run(ota_server()
        .arg("init")
        .arg("--dir")
        .arg(&dir)
        .arg("--image-key")
        .arg(&private)
        .arg("--manifest-key")
        .arg(public_key()));
    assert_fails(&out, "not an Ed25519 or P-256 public key");
    assert!(!dir.join("tls").exists(), "nothing written");
    // A malformed --class is a usage error.
    let out = run(ota_server()
        .arg("init")
        .arg("--dir")
        .arg(&dir)
        .args(["--class", "sensor-v2"])
        .arg("--image-key")
        .arg(public_key())
        .arg("--manifest-key")
        .arg(public_key()));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NAME@VENDOR_DOMAIN"));
    assert!(init(&dir, "127.0.0.1:18443").status.success());
}

/// Logs belong on stderr, and carry no ANSI colour codes when stderr is not a terminal.
#[test]
fn serve_logs_to_stderr_without_colour_codes_when_redirected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    assert!(init(&dir, "127.0.0.1:0").status.success());
    let mut child = ota_server()
        .arg("serve")
        .arg("--config")
        .arg(dir.join("ota-server.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains("listening")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    // Only the child this test started.
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    lines.extend(rx.try_iter());
    let log = lines.join("\n");
    assert!(
        log.contains("ota-server listening"),
        "no start-up log on stderr:\n{log}"
    );
    assert!(!log.contains("\x1b["), "ANSI escape codes in redirected logs:\n{log}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(stdout.is_empty(), "logs on stdout:\n{stdout}");
}

/// Ids the server would refuse at the handshake (path-like, with spaces, too long) get no
/// certificate: an error with a hint, and no file.
#[test]
fn device_cert_for_an_id_the_server_refuses_is_not_issued() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    assert!(init(&dir, "127.0.0.1:18444").status.success());
    let long = "x".repeat(129);
    for id in ["../../etc/x", "a b", "", long.as_str(), "dev/0001"] {
        let out = run(ota_server()
            .arg("device-cert")
            .arg("--dir")
            .arg(&dir)
            .args(["--id", id, "--out"])
            .arg(tmp.path().join("bad")));
        assert_fails(&out, "hint:");
        assert!(
            text(&out.stderr).contains("not one the server accepts"),
            "{id:?}: {}",
            text(&out.stderr)
        );
        assert!(!tmp.path().join("bad.key").exists() && !tmp.path().join("bad.pem").exists());
    }
}

/// Device private keys are 0600 and never replaced without `--force`; with it, replaced whole.
#[test]
fn device_cert_key_is_private_and_never_replaced_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("srv");
    assert!(init(&dir, "127.0.0.1:18443").status.success());
    let prefix = tmp.path().join("dev.0001");
    let cert = tmp.path().join("dev.0001.pem");
    let key = tmp.path().join("dev.0001.key");
    let device_cert = |force: bool| {
        let mut cmd = ota_server();
        cmd.arg("device-cert")
            .arg("--dir")
            .arg(&dir)
            .args(["--id", "dev-0001", "--class", "sensor-v2", "--out"])
            .arg(&prefix);
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    let out = device_cert(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("mode 0600"), "{}", text(&out.stderr));
    assert_eq!(mode(&key), 0o600);
    let old_key = std::fs::read(&key).unwrap();
    let old_cert = std::fs::read(&cert).unwrap();
    assert!(String::from_utf8_lossy(&old_key).contains("PRIVATE KEY"));

    assert_fails(&device_cert(false), "--force");
    assert_eq!(std::fs::read(&key).unwrap(), old_key, "key untouched");
    assert_eq!(std::fs::read(&cert).unwrap(), old_cert, "certificate untouched");

    let out = device_cert(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_ne!(std::fs::read(&key).unwrap(), old_key, "--force replaces the key");
    assert_ne!(std::fs::read(&cert).unwrap(), old_cert);
    assert_eq!(mode(&key), 0o600, "still private after --force");
    assert_eq!(mode(&cert), 0o644);
    // Replaced by rename: no temporary files left next to them.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dev.") || n.starts_with('.'))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Not an init directory: error + hint, nothing written.
    let out = run(ota_server()
        .arg("device-cert")
        .arg("--dir")
        .arg(tmp.path())
        .args(["--id", "dev-0002", "--out"])
        .arg(tmp.path().join("dev-0002")));
    assert_fails(&out, "fleet-ca.key");
    assert!(!tmp.path().join("dev-0002.key").exists());
}

#[test]
fn failures_say_error_and_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere/ota-server.toml");
    assert_fails(
        &run(ota_server().arg("serve").arg("--config").arg(&missing)),
        "does not exist",
    );
    assert_fails(
        &run(ota_server()
            .arg("token")
            .arg("--config")
            .arg(&missing)
            .args(["--name", "ci", "--role", "admin"])),
        "does not exist",
    );
    // A configuration that does not parse.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "listen = 'nope'\n").unwrap();
    assert_fails(&run(ota_server().arg("serve").arg("--config").arg(&bad)), "bad.toml");
    // Usage errors are exit 2 too.
    let out = run(ota_server().arg("serve").arg("--no-such-flag"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error:"));
}
