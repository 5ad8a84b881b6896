//! A real ota-server as `ota-server init` sets it up (development CA, server certificate for
//! localhost, SQLite, an admin token in a 0600 file), serving TLS on 127.0.0.1 in this process;
//! releases cut with the signer library into `signer release` output directories; devices that
//! check in over mutual TLS; and the `otactl` binary run against it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use manifest::image::TrailerLayout;
use ota_protocol::device::CheckinRequest;
use ota_server::config::{Config, DeviceClass};
use ota_server::init::{init, DevCa, InitOptions};
use serde_json::Value;
use signer::image::{sign_image, SignSettings};
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseInput};

pub const VENDOR: &str = "example.com";
pub const CLASS: &str = "sensor-v2";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The manifest key the server trusts (test-only).
fn manifest_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// One server and a working directory for the operator.
pub struct Server {
    _tmp: tempfile::TempDir,
    /// The operator's working directory (otactl runs here; releases are cut here).
    pub work: PathBuf,
    /// `srv/` as `ota-server init` wrote it.
    pub srv: PathBuf,
    pub ca_pem: PathBuf,
    /// The admin token `init` printed, in a 0600 file.
    pub token_file: PathBuf,
    pub url: String,
    runtime: tokio::runtime::Runtime,
    server: Option<ota_server::RunningServer>,
}

impl Server {
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(work.join("home")).unwrap();
        let srv = work.join("srv");
        let mpub = work.join("manifest.pub.pem");
        std::fs::write(
            &mpub,
            manifest_key()
                .verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap(),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let token = runtime
            .block_on(init(&InitOptions {
                dir: srv.clone(),
                listen: "127.0.0.1:0".parse().unwrap(),
                image_keys: vec![repo().join("fixtures/keys/test-only-ed25519-a.pub.pem")],
                manifest_keys: vec![mpub],
                classes: vec![DeviceClass {
                    name: CLASS.into(),
                    vendor_domain: VENDOR.into(),
                    registration: Default::default(),
                }],
            }))
            .unwrap();
        let token_file = work.join("admin.token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        chmod(&token_file, 0o600);
        let config = Config::load(&srv.join("ota-server.toml")).unwrap();
        let server = runtime.block_on(ota_server::start(config)).unwrap();
        // The development server certificate names localhost and 127.0.0.1.
        let url = format!("https://localhost:{}", server.addr.port());
        Self {
            ca_pem: srv.join("tls/fleet-ca.pem"),
            _tmp: tmp,
            work,
            srv,
            token_file,
            url,
            runtime,
            server: Some(server),
        }
    }

    /// `otactl` with no settings at all: no OTACTL_* variables, an empty home directory.
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_otactl"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTACTL_") {
                cmd.env_remove(&name);
            }
        }
        cmd.env("HOME", self.work.join("home"))
            .env_remove("XDG_CONFIG_HOME")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        cmd
    }

    /// `otactl` configured through the environment, as the admin.
    pub fn otactl(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("OTACTL_URL", &self.url)
            .env("OTACTL_CA", &self.ca_pem)
            .env("OTACTL_TOKEN_FILE", &self.token_file);
        cmd
    }

    /// Cuts release `version` (sequence `sequence`) of a payload derived from `seed` into
    /// `work/<dir>` with the signer library, as `signer release -o <dir>` does; with `base`, a
    /// real delta patch from that signed image. Returns the directory and the signed image.
    pub fn cut_release(
        &self,
        dir: &str,
        version: &str,
        sequence: u64,
        seed: u8,
        base: Option<&[u8]>,
    ) -> (PathBuf, Vec<u8>) {
        let key = signer::keys::load_file_key(&repo().join("fixtures/keys/test-only-ed25519-a.pem")).unwrap();
        let payload: Vec<u8> = (0..8192u32)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(if i > 6000 { seed } else { 0 }))
            .collect();
        let settings = SignSettings::new(version.parse().unwrap(), 0x20000)
            .pad_header(true)
            .security_counter(Some(1))
            .trailer(TrailerLayout::for_align(8, None));
        let image = sign_image(&payload, &settings, &key).unwrap().bytes;
        let deltas = base
            .map(|base| DeltaRef {
                format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                precursor_image: base.to_vec(),
                patch: signer::delta::create(base, &image, &|_, _| {}).unwrap(),
                file_name: "delta-from-base.patch".into(),
            })
            .into_iter()
            .collect();
        let bundle = build_release(
            ReleaseInput {
                image: image.clone(),
                image_name: format!("fw-{version}.signed.bin"),
                image_uri: None,
                sequence,
                vendor_domain: VENDOR.into(),
                class_name: CLASS.into(),
                version: version.into(),
                notes: "otactl test".into(),
                deltas,
            },
            &[&manifest_key() as &dyn CoseSigner],
        )
        .unwrap();
        let path = self.work.join(dir);
        bundle.write_bundle(&path).unwrap();
        (path, image)
    }

    /// A device with its own certificate from the fleet CA (`ota-server device-cert`).
    pub fn device(&self, id: &str) -> reqwest::Client {
        let ca = DevCa::load(&std::fs::read_to_string(self.srv.join("tls/fleet-ca.key")).unwrap()).unwrap();
        let issued = ca.issue_device(id, Some(CLASS)).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&self.ca_pem).unwrap()).unwrap())
            .identity(reqwest::Identity::from_pem(format!("{}{}", issued.cert_pem, issued.key_pem).as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// A device request: (status, JSON answer).
    pub fn device_post(&self, device: &reqwest::Client, path: &str, body: &impl serde::Serialize) -> (u16, Value) {
        self.runtime.block_on(async {
            let r = device
                .post(format!("{}{path}", self.url))
                .json(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
        })
    }

    /// Downloads `path` as the device: the whole body, as a device installing it would.
    pub fn device_download(&self, device: &reqwest::Client, path: &str) -> Vec<u8> {
        self.runtime.block_on(async {
            let r = device.get(format!("{}{path}", self.url)).send().await.unwrap();
            assert_eq!(r.status(), 200, "download {path}");
            r.bytes().await.unwrap().to_vec()
        })
    }

    /// A check-in running `image` at `sequence`.
    pub fn checkin(&self, device: &reqwest::Client, image: &[u8], version: &str, sequence: u64) -> (u16, Value) {
        let digest = ota_server::domain::Sha256::of(image).hex();
        let body = CheckinRequest::new(digest, Some(version.into()), sequence);
        self.device_post(device, ota_protocol::device::CHECKIN_PATH, &body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// A finished otactl run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Exit 0, or the test fails showing both streams.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "{self:?}");
        self
    }

    /// stdout as exactly one JSON document.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    /// Exit `code` with an `error:` line then a `hint:` line on stderr (containing `needle`),
    /// nothing on stdout.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Self {
        assert_eq!(self.code, Some(code), "{self:?}");
        // Notes (what otactl was doing) may come first; the error and its hint end stderr.
        let error = self.stderr.lines().position(|l| l.starts_with("error: "));
        let hint = self.stderr.lines().position(|l| l.starts_with("hint: "));
        assert!(matches!((error, hint), (Some(e), Some(h)) if h == e + 1), "{self:?}");
        assert!(self.stderr.contains(needle), "expected {needle:?}: {self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        self
    }
}

/// Runs `cmd` with `args` to completion.
pub fn run(cmd: &mut Command, args: &[&str]) -> Run {
    cmd.args(args).output().unwrap().into()
}

/// Waits for a child at most `timeout`; kills it (by its own id) if it is still running.
pub fn wait(mut child: Child, timeout: Duration) -> Run {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap().into();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let run: Run = child.wait_with_output().unwrap().into();
    panic!("otactl did not finish within {timeout:?}: {run:?}");
}
