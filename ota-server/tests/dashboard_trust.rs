//! The CA trust instructions that `ota-server init` prints work in a real browser: after the
//! printed Chromium-on-Linux command, headless Chromium opens the dashboard with certificate
//! errors *not* ignored; before it, the same browser refuses the server's certificate.
//! Needs node with `playwright-core` (`ota-server/tests/dashboard`), Debian's `chromium` and
//! `certutil` (libnss3-tools); `.ci/setup` installs them, and a missing one fails the test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run .ci/setup)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What headless Chromium, using the trust store under `home`, makes of `url`.
fn browser_opens(home: &Path, url: &str) -> serde_json::Value {
    let script = repo().join("ota-server/tests/dashboard/trust.mjs");
    assert!(
        repo()
            .join("ota-server/tests/dashboard/node_modules/playwright-core")
            .is_dir(),
        "playwright-core missing: run .ci/setup (npm ci in ota-server/tests/dashboard)"
    );
    let line = run_ok(Command::new("node").arg(&script).arg(url).env("HOME", home));
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("trust.mjs printed {line:?}: {e}"))
}

#[test]
fn dashboard_certificate_trusted_only_after_the_printed_ca_import() {
    let tmp = tempfile::tempdir().unwrap();
    let key = repo().join("fixtures/keys/test-only-ed25519-a.pub.pem");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let init = Command::new(env!("CARGO_BIN_EXE_ota-server"))
        .current_dir(tmp.path())
        .args([
            "init",
            "--dir",
            "srv",
            "--listen",
            &listen,
            "--class",
            "sensor-v2@example.com",
        ])
        .arg("--image-key")
        .arg(&key)
        .arg("--manifest-key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let printed = String::from_utf8(init.stderr).unwrap();
    let import = printed
        .lines()
        .find_map(|l| l.split_once("Chrome/Chromium on Linux:"))
        .map(|(_, cmd)| cmd.split("   (").next().unwrap_or(cmd).trim().to_owned())
        .unwrap_or_else(|| panic!("init printed no Chromium trust instruction:\n{printed}"));

    // A profile as Chromium leaves it after its first start: an empty NSS database.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".pki/nssdb")).unwrap();
    run_ok(
        Command::new("certutil")
            .args(["-d", &format!("sql:{}", home.join(".pki/nssdb").display())])
            .args(["-N", "--empty-password"]),
    );

    let _server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_ota-server"))
            .current_dir(tmp.path())
            .args(["serve", "--config", "srv/ota-server.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ota-server did not listen on {listen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("https://localhost:{port}/dashboard");

    let before = browser_opens(&home, &url);
    assert_eq!(before["trusted"], false, "trusted before the CA was imported: {before}");
    assert!(
        before["error"]
            .as_str()
            .is_some_and(|e| e.contains("ERR_CERT_AUTHORITY_INVALID")),
        "refused for another reason than an unknown CA: {before}"
    );

    // The printed command, as a user pastes it into a shell.
    run_ok(
        Command::new("bash")
            .args(["-c", &import])
            .current_dir(tmp.path())
            .env("HOME", &home),
    );
    let after = browser_opens(&home, &url);
    assert_eq!(after["trusted"], true, "not trusted after `{import}`: {after}");
    assert_eq!(after["status"], 200, "{after}");
}
