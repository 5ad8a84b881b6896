//! The fleet simulator against a real server (real TLS, real HTTP, SQLite): a v1 → v2 release
//! with a delta, cut with the `signer` library and the test-only keys (image key a, manifest
//! key b), reaches every device of the class; faults behave as firmware would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use manifest::image::encode::ImageOptions;
use manifest::image::TrailerLayout;
use ota_server::config::{Config, DeviceClass, Limits, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;
use ota_server::sim::{self, DeviceSpec, EndState, FaultRates, FleetOptions, Provisioning};
use signer::image::{sign_image, PublicKeyFormat, ShaChoice, SignSettings};
use signer::release::sign::KeyCoseSigner;
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseInput};

const VENDOR: &str = "example.com";
const CLASS: &str = "sensor-v2";
const OTHER_CLASS: &str = "gateway";

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo(rel)).unwrap()
}

fn sha(b: &[u8]) -> String {
    ota_server::domain::Sha256::of(b).hex()
}

/// A third image (signed with the trusted image key) whose devices have no patch: full download.
fn factory_image() -> Vec<u8> {
    let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-a.pem")).unwrap();
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i as u8).wrapping_mul(7)).collect();
    let settings = SignSettings {
        image: ImageOptions {
            pad_header: true,
            security_counter: Some(0),
            ..ImageOptions::default()
        },
        slot_size: 0x20000,
        trailer: TrailerLayout::for_align(8, None),
        pad: false,
        confirm: false,
        public_key_format: PublicKeyFormat::Hash,
        sha: ShaChoice::Auto,
        pure: false,
    };
    sign_image(&payload, &settings, &key).unwrap().bytes
}

/// The server plus what devices and admins need to reach it.
struct Server {
    _dir: tempfile::TempDir,
    ca: DevCa,
    server: ota_server::RunningServer,
    admin: reqwest::Client,
    token: String,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let ca = DevCa::generate().unwrap();
        let cert = ca.issue_server(&["localhost"]).unwrap();
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("server.pem"), &cert.cert_pem).unwrap();
        std::fs::write(p("server.key"), &cert.key_pem).unwrap();
        let class = |name: &str| DeviceClass {
            name: name.into(),
            vendor_domain: VENDOR.into(),
        };
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite://{}", p("data/ota.db").display()),
            data_dir: p("data"),
            dev_insecure_http: false,
            log_format: "text".into(),
            tls: Some(TlsConfig {
                cert: p("server.pem"),
                key: p("server.key"),
                device_ca: vec![p("ca.pem")],
            }),
            trust: TrustConfig {
                image_keys: vec![repo("fixtures/keys/test-only-ed25519-a.pub.pem")],
                manifest_keys: vec![repo("fixtures/keys/test-only-ed25519-b.pub.pem")],
                manifest_threshold: 1,
            },
            classes: vec![class(CLASS), class(OTHER_CLASS)],
            limits: Limits {
                checkin_burst: 100,
                checkin_per_second: 100.0,
                ..Limits::default()
            },
            artifacts_url: None,
            offer_mode: ota_server::config::OfferMode::Latest,
        };
        let server = ota_server::start(config).await.expect("server starts");
        let token = ota_server::init::create_token(server.store.as_ref(), "test-admin", Role::Admin)
            .await
            .unwrap();
        let admin = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca.cert_pem().as_bytes()).unwrap())
            .resolve("localhost", server.addr)
            .build()
            .unwrap();
        Self {
            _dir: dir,
            ca,
            server,
            admin,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.addr.port())
    }

    /// Signs and uploads v2 (sequence 2) with a real delta from v1.
    async fn upload_v2(&self, v1: &[u8], v2: &[u8]) {
        let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-b.pem")).unwrap();
        let cose = KeyCoseSigner::new(&key).unwrap();
        let patch = signer::delta::create(v1, v2, &|_, _| {}).unwrap();
        let bundle = build_release(
            ReleaseInput {
                image: v2.to_vec(),
                image_name: "firmware.bin".into(),
                image_uri: None,
                sequence: 2,
                vendor_domain: VENDOR.into(),
                class_name: CLASS.into(),
                version: "2.0.0".into(),
                notes: "fleet-sim test".into(),
                deltas: vec![DeltaRef {
                    format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                    precursor_image: v1.to_vec(),
                    patch,
                    file_name: "v1-to-v2.patch".into(),
                }],
            },
            &[&cose as &dyn CoseSigner],
        )
        .unwrap();
        use reqwest::multipart::{Form, Part};
        let mut form = Form::new()
            .part(
                "envelope",
                Part::bytes(bundle.envelope.clone()).file_name("release.suit"),
            )
            .part("image", Part::bytes(bundle.image.clone()).file_name("firmware.bin"))
            .part(
                "summary",
                Part::bytes(serde_json::to_vec(&bundle.summary).unwrap()).file_name("release.json"),
            );
        for (_, p) in &bundle.patches {
            form = form.part("patch", Part::bytes(p.clone()).file_name("patch.bin"));
        }
        let r = self
            .admin
            .post(self.url("/api/v1/admin/releases"))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 201, "{}", r.text().await.unwrap_or_default());
    }

    async fn device_view(&self, id: &str) -> serde_json::Value {
        let r = self
            .admin
            .get(self.url(&format!("/api/v1/admin/devices/{id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

fn provisioning(class: &str) -> Provisioning {
    let spki = |f: &str| sim::read_spki_pem(&repo(f)).unwrap();
    sim::provisioning(
        class,
        VENDOR,
        vec![spki("fixtures/keys/test-only-ed25519-b.pub.pem")],
        vec![spki("fixtures/keys/test-only-ed25519-a.pub.pem")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_updates_v1_to_v2_with_deltas_and_faults() {
    let (v1, v2) = (
        read("fixtures/images/fw-v1.signed.bin"),
        read("fixtures/images/fw-v2.signed.bin"),
    );
    let factory = factory_image();
    let srv = Server::start().await;
    srv.upload_v2(&v1, &v2).await;

    let prov = provisioning(CLASS);
    let none = FaultRates::default();
    // 24 devices on v1, 4 on an image the release has no patch for, 2 of another class.
    let mut specs: Vec<DeviceSpec> = sim::fleet("v1-", 24, CLASS, &prov, &v1, "1.0.0", 1, none, 7);
    specs[0].faults.corrupt_first_download = true;
    specs[1].faults.drop_mid_download = true;
    specs[2].faults.boot_fail = true;
    specs[3].faults.corrupt_first_download = true;
    specs[3].faults.drop_mid_download = true;
    specs.extend(sim::fleet("factory-", 4, CLASS, &prov, &factory, "0.9.0", 1, none, 8));
    specs[24].faults.drop_mid_download = true;
    specs[25].faults.corrupt_first_download = true;
    let gw = provisioning(OTHER_CLASS);
    specs.extend(sim::fleet("gw-", 2, OTHER_CLASS, &gw, &v1, "1.0.0", 1, none, 9));

    let opts = FleetOptions {
        server_url: srv.url(""),
        connect_addr: Some(srv.server.addr),
        server_ca_pem: srv.ca.cert_pem(),
        poll_interval: Duration::from_millis(50),
        jitter: Duration::from_millis(50),
        link_bytes_per_s: None,
        clock_skew_s: 0,
        slot_size: 0x20000,
        max_attempts: 3,
        until_idle: true,
        deadline: Duration::from_secs(60),
    };
    let t = Instant::now();
    let summary = sim::run(&srv.ca, &opts, specs).await.unwrap();
    eprintln!("{}", summary.to_text());
    eprintln!("simulation wall time {:?}", t.elapsed());
    let by_id = |id: &str| summary.reports.iter().find(|r| r.id == id).unwrap();
    let (v1_digest, v2_digest) = (sha(&v1), sha(&v2));

    // Every device of the class runs v2 (by digest), committed at sequence 2, except the one
    // whose new image never boots.
    assert_eq!(summary.count(EndState::Committed), 27, "{}", summary.to_text());
    for r in summary
        .reports
        .iter()
        .filter(|r| r.class == CLASS && r.id != "v1-00002")
    {
        assert_eq!(r.state, EndState::Committed, "{r:?}");
        assert_eq!(r.digest, v2_digest, "{r:?}");
        assert_eq!(r.sequence, 2, "{r:?}");
        assert_eq!(r.statuses.last().map(String::as_str), Some("committed"), "{r:?}");
        // The server saw it too.
        let view = srv.device_view(&r.id).await;
        assert_eq!(view["device"]["running_sha256"], v2_digest, "{view}");
    }
    // Devices on v1 used the delta, the others the full image.
    for r in summary.reports.iter().filter(|r| r.id.starts_with("v1-")) {
        assert_eq!(r.downloads_full, 0, "{r:?}");
        assert!(r.downloads_delta >= 1, "{r:?}");
    }
    for r in summary.reports.iter().filter(|r| r.id.starts_with("factory-")) {
        let full = if r.id == "factory-00001" { 2 } else { 1 };
        assert_eq!((r.downloads_full, r.downloads_delta), (full, 0), "{r:?}");
    }
    // A corrupt full image is refused by `bind_image` (digest against the manifest), never booted.
    let r = by_id("factory-00001");
    let failed = r
        .statuses
        .iter()
        .position(|s| s.starts_with("failed: bind"))
        .expect("refused");
    assert!(!r.statuses[..failed].iter().any(|s| s == "installing"), "{r:?}");
    // The corrupt download was refused before anything was installed, then a clean retry won.
    for id in ["v1-00000", "v1-00003"] {
        let r = by_id(id);
        let failed = r
            .statuses
            .iter()
            .position(|s| s.starts_with("failed: patch"))
            .expect("refused");
        let installing = r.statuses.iter().position(|s| s == "installing").unwrap();
        assert!(failed < installing, "{r:?}");
        assert_eq!(r.statuses[failed - 1], "downloaded", "{r:?}");
        assert_eq!(r.downloads_delta, 2, "{r:?}");
    }
    // Dropped connections were resumed with Range.
    for id in ["v1-00001", "v1-00003", "factory-00000"] {
        assert!(by_id(id).resumes >= 1, "{:?}", by_id(id));
    }
    // A device whose new image does not boot rolls back, keeps v1 and gives up after 3 tries.
    let r = by_id("v1-00002");
    assert_eq!(r.state, EndState::RolledBack, "{r:?}");
    assert_eq!((r.digest.as_str(), r.sequence), (v1_digest.as_str(), 1), "{r:?}");
    assert_eq!(r.statuses.iter().filter(|s| *s == "rolled-back").count(), 3, "{r:?}");
    assert!(!r.statuses.iter().any(|s| s == "committed"), "{r:?}");
    let view = srv.device_view("v1-00002").await;
    assert_eq!(view["device"]["running_sha256"], v1_digest, "{view}");
    // Another class never sees the release.
    for id in ["gw-00000", "gw-00001"] {
        let r = by_id(id);
        assert_eq!((r.state, r.offers), (EndState::UpToDate, 0), "{r:?}");
        assert_eq!(r.digest, v1_digest, "{r:?}");
        assert!(r.statuses.is_empty(), "{r:?}");
    }
    // Deltas are much smaller than the image.
    let delta_bytes: u64 = summary
        .reports
        .iter()
        .filter(|r| r.id.starts_with("v1-") && r.resumes == 0 && r.downloads_delta == 1 && r.offers == 1)
        .map(|r| r.bytes)
        .max()
        .unwrap();
    assert!(
        delta_bytes * 4 < v2.len() as u64,
        "delta {delta_bytes} vs image {}",
        v2.len()
    );
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    srv.server.shutdown().await;
}
