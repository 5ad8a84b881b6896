//! The fleet simulator against a real server (in-process `ota-server`: real TLS, real HTTP,
//! SQLite): a v1 → v2 release with a delta, cut with the `signer` library and the test-only keys
//! (image key a, manifest key b), reaches every device of the class; faults behave as firmware
//! would. Admin calls go through `ota-protocol`'s typed client.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fleet_sim::{DeviceSpec, EndState, FaultRates, FleetCa, FleetOptions, Provisioning};
use manifest::image::{ImageVersion, TrailerLayout};
use ota_protocol::client::{AdminClient, ReleaseUpload};
use ota_protocol::device::NoUpdateReason;
use ota_protocol::rollouts::{NewRollout, PlanInput, RolloutAction, StageInput};
use ota_server::config::{Config, DeviceClass, Limits, TlsConfig, TrustConfig};
use ota_server::domain::auth::Role;
use ota_server::init::DevCa;
use signer::image::{sign_image, SignSettings};
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
    fleet_sim::sha256_hex(b)
}

/// A third image (signed with the trusted image key) whose devices have no patch: full download.
fn factory_image() -> Vec<u8> {
    let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-a.pem")).unwrap();
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i as u8).wrapping_mul(7)).collect();
    let settings = SignSettings::new(ImageVersion::default(), 0x20000)
        .pad_header(true)
        .security_counter(Some(0))
        .trailer(TrailerLayout::for_align(8, None));
    sign_image(&payload, &settings, &key).unwrap().bytes
}

/// The server plus what devices and admins need to reach it.
struct Server {
    _dir: tempfile::TempDir,
    ca: DevCa,
    /// The same CA, as fleet-sim issues device certificates from its key.
    fleet_ca: FleetCa,
    server: ota_server::RunningServer,
    admin: AdminClient,
}

impl Server {
    async fn start() -> Self {
        Self::start_with(ota_server::config::OfferMode::Latest).await
    }

    async fn start_with(offer_mode: ota_server::config::OfferMode) -> Self {
        Self::start_configured(offer_mode, None).await
    }

    /// With EST enrolment by an issuing CA under the fleet CA; the old certificate of a
    /// re-enrolled device is refused `grace_s` after the new one's first use.
    async fn start_enrolling(grace_s: u64) -> Self {
        Self::start_configured(ota_server::config::OfferMode::Latest, Some(grace_s)).await
    }

    async fn start_configured(offer_mode: ota_server::config::OfferMode, enrollment_grace_s: Option<u64>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let ca = DevCa::generate().unwrap();
        let cert = ca.issue_server(&["localhost"]).unwrap();
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("server.pem"), &cert.cert_pem).unwrap();
        std::fs::write(p("server.key"), &cert.key_pem).unwrap();
        let issuing = ca.issue_device_ca().unwrap();
        std::fs::write(p("issuing-ca.pem"), &issuing.cert_pem).unwrap();
        std::fs::write(p("issuing-ca.key"), &issuing.key_pem).unwrap();
        let class = |name: &str| DeviceClass {
            name: name.into(),
            vendor_domain: VENDOR.into(),
            registration: Default::default(),
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
            offer_mode,
            metrics_auth: Default::default(),
            enrollment: enrollment_grace_s.map(|rotation_grace_s| ota_server::config::EnrollmentConfig {
                ca_cert: p("issuing-ca.pem"),
                ca_key: p("issuing-ca.key"),
                certificate_days: 90,
                renew_before_days: 30,
                crl_next_update_s: 600,
                rotation_grace_s,
            }),
        };
        let server = ota_server::start(config).await.expect("server starts");
        let token = ota_server::init::create_token(server.store.as_ref(), "test-admin", Role::Admin)
            .await
            .unwrap();
        let admin = AdminClient::builder(format!("https://localhost:{}", server.addr.port()))
            .ca_pem(ca.cert_pem())
            .resolve("localhost", server.addr)
            .token(token)
            .build()
            .unwrap();
        let fleet_ca = FleetCa::from_key_pem(&ca.key_pem()).unwrap();
        Self {
            _dir: dir,
            ca,
            fleet_ca,
            server,
            admin,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.server.addr.port())
    }

    /// Signs and uploads v2 (sequence 2) with a real delta from v1; returns its id.
    async fn upload_v2(&self, v1: &[u8], v2: &[u8]) -> i64 {
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
        let mut upload = ReleaseUpload::new(bundle.envelope, bundle.image_name, bundle.image)
            .with_summary(serde_json::to_vec(&bundle.summary).unwrap());
        for (name, patch) in bundle.patches {
            upload = upload.with_patch(name, patch);
        }
        self.admin.upload_release(&upload).await.expect("release upload").id
    }

    /// What the server stored of the device's last check-in: its running image (SHA-256 hex).
    async fn running_sha256(&self, id: &str) -> Option<String> {
        self.admin.device(id).await.unwrap().device.running_sha256
    }
}

fn provisioning(class: &str) -> Provisioning {
    let spki = |f: &str| fleet_sim::read_spki_pem(&repo(f)).unwrap();
    fleet_sim::provisioning(
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
    let _ = srv.upload_v2(&v1, &v2).await;

    let prov = provisioning(CLASS);
    let none = FaultRates::default();
    // 24 devices on v1, 4 on an image the release has no patch for, 2 of another class.
    let mut specs: Vec<DeviceSpec> = fleet_sim::fleet("v1-", 24, CLASS, &prov, &v1, "1.0.0", 1, none, 7);
    specs[0].faults.corrupt_first_download = true;
    specs[1].faults.drop_mid_download = true;
    specs[2].faults.boot_fail = true;
    specs[3].faults.corrupt_first_download = true;
    specs[3].faults.drop_mid_download = true;
    specs.extend(fleet_sim::fleet(
        "factory-", 4, CLASS, &prov, &factory, "0.9.0", 1, none, 8,
    ));
    specs[24].faults.drop_mid_download = true;
    specs[25].faults.corrupt_first_download = true;
    let gw = provisioning(OTHER_CLASS);
    specs.extend(fleet_sim::fleet("gw-", 2, OTHER_CLASS, &gw, &v1, "1.0.0", 1, none, 9));

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
        ..FleetOptions::default()
    };
    let t = Instant::now();
    let summary = fleet_sim::run(&srv.fleet_ca, &opts, specs).await.unwrap();
    eprintln!("{}", summary.to_text());
    eprintln!("simulation wall time {:?}", t.elapsed());
    let by_id = |id: &str| summary.reports.iter().find(|r| r.id == id).unwrap();
    let (v1_digest, v2_digest) = (sha(&v1), sha(&v2));

    // Every device of the class runs v2 (by digest), committed at sequence 2, except the one
    // whose new image never boots.
    assert_eq!(summary.count(EndState::Committed), 27, "{}", summary.to_text());
    assert_eq!(summary.count(EndState::HeldBack), 0, "{}", summary.to_text());
    assert_eq!(summary.devices_offered, 28, "{}", summary.to_text());
    for r in summary
        .reports
        .iter()
        .filter(|r| r.class == CLASS && r.id != "v1-00002")
    {
        assert_eq!(r.state, EndState::Committed, "{r:?}");
        assert_eq!(r.no_update_reason, Some(NoUpdateReason::UP_TO_DATE), "{r:?}");
        assert_eq!(r.digest, v2_digest, "{r:?}");
        assert_eq!(r.sequence, 2, "{r:?}");
        assert_eq!(r.statuses.last().map(String::as_str), Some("committed"), "{r:?}");
        // The server saw it too.
        assert_eq!(srv.running_sha256(&r.id).await, Some(v2_digest.clone()), "{r:?}");
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
    assert_eq!(srv.running_sha256("v1-00002").await, Some(v1_digest.clone()));
    // Another class never sees the release.
    for id in ["gw-00000", "gw-00001"] {
        let r = by_id(id);
        assert_eq!((r.state, r.attempts), (EndState::UpToDate, 0), "{r:?}");
        assert_eq!(r.no_update_reason, Some(NoUpdateReason::NO_RELEASE), "{r:?}");
        assert_eq!(r.digest, v1_digest, "{r:?}");
        assert!(r.statuses.is_empty(), "{r:?}");
    }
    // Deltas are much smaller than the image.
    let delta_bytes: u64 = summary
        .reports
        .iter()
        .filter(|r| r.id.starts_with("v1-") && r.resumes == 0 && r.downloads_delta == 1 && r.attempts == 1)
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

fn fleet_options(srv: &Server) -> FleetOptions {
    FleetOptions {
        server_url: srv.url(""),
        connect_addr: Some(srv.server.addr),
        server_ca_pem: srv.ca.cert_pem(),
        poll_interval: Duration::from_millis(50),
        jitter: Duration::from_millis(50),
        slot_size: 0x20000,
        max_attempts: 3,
        until_idle: true,
        deadline: Duration::from_secs(60),
        ..FleetOptions::default()
    }
}

/// Under a staged rollout, fleet-sim tells devices that run the newest release from devices the
/// server holds back, with the server's reason: outside the 1% canary `not_in_cohort`, while
/// the rollout is paused `rollout_paused`; the canary's devices update and end `committed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_sim_reports_held_back_devices_with_the_reason() {
    use ota_server::domain::rollout::cohort_point;
    let (v1, v2) = (
        read("fixtures/images/fw-v1.signed.bin"),
        read("fixtures/images/fw-v2.signed.bin"),
    );
    let srv = Server::start_with(ota_server::config::OfferMode::Rollout).await;
    let release = srv.upload_v2(&v1, &v2).await;
    let prov = provisioning(CLASS);
    let none = FaultRates::default();
    let early = fleet_sim::fleet("early-", 30, CLASS, &prov, &v1, "1.0.0", 1, none, 21);

    // A salt that puts exactly one of the first fleet in the 1% canary (fixed: reproducible).
    let salt = (0u64..)
        .map(|i| format!("{i:032x}"))
        .find(|hex| {
            let mut salt = [0u8; 16];
            hex::decode_to_slice(hex, &mut salt).unwrap();
            early.iter().filter(|d| cohort_point(&salt, &d.id) < 100).count() == 1
        })
        .unwrap();
    let mut salt_bytes = [0u8; 16];
    hex::decode_to_slice(&salt, &mut salt_bytes).unwrap();
    let canary: Vec<String> = early
        .iter()
        .filter(|d| cohort_point(&salt_bytes, &d.id) < 100)
        .map(|d| d.id.clone())
        .collect();
    // The canary's stage waits an hour before promotion: nobody else gets v2 in this test.
    let stage = |percent: f64| StageInput {
        soak_ms: Some(3_600_000),
        ..StageInput::percent(percent)
    };
    let created = srv
        .admin
        .create_rollout(&NewRollout {
            cohort_salt: Some(salt),
            plan: PlanInput {
                stages: Some(vec![stage(1.0), stage(100.0)]),
                ..PlanInput::default()
            },
            ..NewRollout::of(release)
        })
        .await
        .unwrap();
    let rollout = created.id;
    // The admin API's plan has no sentinel: no count given is null.
    assert_eq!(created.stages[0].min_committed, None, "{created:?}");

    let summary = fleet_sim::run(&srv.fleet_ca, &fleet_options(&srv), early)
        .await
        .unwrap();
    eprintln!("{}", summary.to_text());
    let v2_digest = sha(&v2);
    for r in &summary.reports {
        if canary.contains(&r.id) {
            assert_eq!(r.state, EndState::Committed, "{r:?}");
            assert_eq!(r.digest, v2_digest, "{r:?}");
        } else {
            // Still on v1, and not mistaken for up to date.
            assert_eq!(r.state, EndState::HeldBack, "{r:?}");
            assert_eq!(r.no_update_reason, Some(NoUpdateReason::NOT_IN_COHORT), "{r:?}");
            assert_eq!((r.attempts, r.sequence), (0, 1), "{r:?}");
        }
    }
    assert_eq!(summary.count(EndState::UpToDate), 0);
    assert_eq!(summary.held_back("not_in_cohort"), 29, "{}", summary.to_text());
    let json = summary.to_json(false);
    assert_eq!(json["by_state"]["held_back"], 29, "{json}");
    assert_eq!(json["by_state"]["committed"], 1, "{json}");
    assert_eq!(json["held_back"]["not_in_cohort"]["devices"], 29, "{json}");
    assert!(
        json["held_back"]["not_in_cohort"]["ids"].as_array().unwrap().is_empty(),
        "29 devices are more than a listing: {json}"
    );
    assert!(summary.to_text().contains("not_in_cohort"), "{}", summary.to_text());

    // Paused: every device of a later fleet, in the cohort or not, is held back for the pause.
    srv.admin.rollout_action(rollout, &RolloutAction::PAUSE).await.unwrap();
    let late = fleet_sim::fleet("late-", 12, CLASS, &prov, &v1, "1.0.0", 1, none, 22);
    let summary = fleet_sim::run(&srv.fleet_ca, &fleet_options(&srv), late).await.unwrap();
    eprintln!("{}", summary.to_text());
    assert_eq!(summary.count(EndState::HeldBack), 12, "{}", summary.to_text());
    assert_eq!(summary.held_back("rollout_paused"), 12);
    let mut ids = summary.held_back["rollout_paused"].ids.clone();
    ids.sort();
    assert_eq!(ids.len(), 12, "a small group lists its devices");
    assert!(ids.iter().all(|id| id.starts_with("late-")), "{ids:?}");
    for r in &summary.reports {
        assert_eq!((r.attempts, r.digest.as_str()), (0, sha(&v1).as_str()), "{r:?}");
    }
    // The server's view: one device offered, in the canary stage; the cumulative counts of the
    // last stage equal the totals.
    let view = srv.admin.rollout(rollout).await.unwrap();
    assert_eq!(view.stages[0].counts.committed, 1, "{view:?}");
    assert_eq!(view.stages[1].counts.offered, 0, "{view:?}");
    assert_eq!(view.stages[1].cumulative, view.totals, "{view:?}");
    assert_eq!(view.totals.committed, 1, "{view:?}");
    srv.server.shutdown().await;
}

/// The `fleet-sim` binary: with `--json`, stdout is exactly one JSON document (the summary);
/// what it is doing goes to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_sim_binary_json_is_one_document_on_stdout() {
    let (v1, v2) = (
        read("fixtures/images/fw-v1.signed.bin"),
        read("fixtures/images/fw-v2.signed.bin"),
    );
    let srv = Server::start().await;
    let _ = srv.upload_v2(&v1, &v2).await;
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, ca_key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
    std::fs::write(&ca_pem, srv.ca.cert_pem()).unwrap();
    std::fs::write(&ca_key, srv.ca.key_pem()).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-sim"));
    cmd.arg("--server")
        .arg(format!("https://localhost:{}", srv.server.addr.port()))
        .arg("--server-ca")
        .arg(&ca_pem)
        .arg("--ca-key")
        .arg(&ca_key)
        .arg("--manifest-key")
        .arg(repo("fixtures/keys/test-only-ed25519-b.pub.pem"))
        .arg("--image-key")
        .arg(repo("fixtures/keys/test-only-ed25519-a.pub.pem"))
        .args(["--class", CLASS, "--vendor-domain", VENDOR, "--devices", "3"])
        .arg("--image")
        .arg(repo("fixtures/images/fw-v1.signed.bin"))
        .args([
            "--sequence",
            "1",
            "--poll-ms",
            "50",
            "--jitter-ms",
            "20",
            "--deadline",
            "60",
            "--json",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(v["devices"], 3, "{v}");
    assert_eq!(v["by_state"]["committed"], 3, "{v}");
    assert_eq!(v["devices_offered"], 3, "{v}");
    assert!(stderr.contains("fleet-sim: 3 device(s)"), "{stderr}");
    assert!(stderr.contains("finished in"), "{stderr}");
    srv.server.shutdown().await;
}

/// Rotation at fleet scale: 1,000 devices whose certificates have 10 days left re-enrol over
/// EST when the check-in tells them to (30 days ahead), 5% of them with a first request the
/// server refuses (no proof of possession) and retry; every device switches to its new
/// certificate, and each old certificate is revoked once the grace window after the new one's
/// first use has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation() {
    const DEVICES: usize = 1000;
    let srv = Server::start_enrolling(1).await;
    let v1 = read("fixtures/images/fw-v1.signed.bin");
    let rates = FaultRates {
        reenroll_fail: 0.05,
        ..FaultRates::default()
    };
    let specs = fleet_sim::fleet("rot-", DEVICES, CLASS, &provisioning(CLASS), &v1, "1.0.0", 1, rates, 21);
    let faulty = specs.iter().filter(|s| s.faults.reenroll_fail_first).count();
    assert!(
        (20..=90).contains(&faulty),
        "{faulty} of {DEVICES} devices drawn to fail at 5%"
    );
    let opts = FleetOptions {
        certificate_days: Some(10),
        deadline: Duration::from_secs(120),
        ..fleet_options(&srv)
    };
    let started = Instant::now();
    let summary = fleet_sim::run(&srv.fleet_ca, &opts, specs).await.unwrap();
    let took = started.elapsed();
    eprintln!(
        "rotation: {DEVICES} devices re-enrolled in {:.1} s ({faulty} retried after a refused request)",
        took.as_secs_f64()
    );
    assert_eq!(summary.reenrolled, DEVICES as u64, "{}", summary.to_text());
    assert_eq!(summary.reenroll_failures, faulty as u64, "{}", summary.to_text());
    assert_eq!(summary.count(EndState::UpToDate), DEVICES, "{}", summary.to_text());
    let metrics = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(srv.ca.cert_pem().as_bytes()).unwrap())
        .resolve("localhost", srv.server.addr)
        .build()
        .unwrap()
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        format!("ota_est_requests_total{{operation=\"simplereenroll\",result=\"issued\"}} {DEVICES}"),
        format!("ota_est_requests_total{{operation=\"simplereenroll\",result=\"no_proof_of_possession\"}} {faulty}"),
    ] {
        assert!(metrics.contains(&line), "{line} missing from /metrics");
    }
    // After the grace window every old certificate is revoked, every new one is not.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    for report in &summary.reports {
        let [old, new] = report.certificates.as_slice() else {
            panic!("{}: certificates {:?}", report.id, report.certificates);
        };
        let listed = srv.admin.device_certificates(&report.id).await.unwrap();
        let row = |serial: &str| listed.iter().find(|c| c.serial == serial).cloned();
        let old_row = row(old).unwrap_or_else(|| panic!("{}: {old} not listed", report.id));
        assert!(old_row.revoked_ms.is_some_and(|at| at <= now_ms), "{old_row:?}");
        let new_row = row(new).unwrap_or_else(|| panic!("{}: {new} not listed", report.id));
        assert!(
            new_row.revoked_ms.is_none() && new_row.issued_ms.is_some(),
            "{new_row:?}"
        );
    }
    srv.server.shutdown().await;
}

/// Decommissioning reaches the device: an operator decommissions one polling device; its next
/// check-in carries `factory_reset`, the simulated device erases itself and stops, the server
/// decommissions it; the others keep polling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decommissioned_device_gets_factory_reset() {
    let srv = Server::start().await;
    let v1 = read("fixtures/images/fw-v1.signed.bin");
    let specs = fleet_sim::fleet(
        "dc-",
        5,
        CLASS,
        &provisioning(CLASS),
        &v1,
        "1.0.0",
        1,
        FaultRates::default(),
        4,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let opts = FleetOptions {
        until_idle: false,
        stop: Some(stopped),
        deadline: Duration::from_secs(30),
        ..fleet_options(&srv)
    };
    let ca = FleetCa::from_key_pem(&srv.ca.key_pem()).unwrap();
    let run = tokio::spawn(async move { fleet_sim::run(&ca, &opts, specs).await.unwrap() });
    // Wait until the devices have registered, then decommission one.
    let started = Instant::now();
    while srv.admin.device("dc-00002").await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "dc-00002 never checked in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending = srv.admin.decommission_device("dc-00002", false).await.unwrap();
    assert_eq!(pending.pending_command.as_deref(), Some("factory_reset"));
    while srv.admin.device("dc-00002").await.unwrap().device.state.as_str() != "decommissioned" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dc-00002 was not decommissioned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    let summary = run.await.unwrap();
    let state = |id: &str| summary.reports.iter().find(|r| r.id == id).unwrap().state;
    assert_eq!(state("dc-00002"), EndState::FactoryReset, "{}", summary.to_text());
    assert_eq!(summary.count(EndState::FactoryReset), 1, "{}", summary.to_text());
    srv.server.shutdown().await;
}
