//! The dashboard in headless Chromium during a real simulated rollout: the page (served by a
//! real `ota-server` over TLS) must show stage progress and, when the bad release pauses itself,
//! the pause and its reason. Driven by `ota-server/tests/dashboard/check.mjs` (playwright-core
//! with Debian's `/usr/bin/chromium`); `.ci/setup` installs both. A missing browser or driver
//! fails this test: it never skips.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fleet_sim::{BootFailScope, FaultRates};
use ota_demo::firmware::{self, ReleaseSpec};
use ota_demo::scenario::{plan, rollout, wait_for, DemoOptions, BAD_VERSION, CLASS};
use ota_demo::world::{World, VENDOR};
use ota_protocol::rollouts::RolloutState;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_progress_and_pause_reason_in_chromium() {
    let check_dir = repo().join("ota-server/tests/dashboard");
    assert!(
        check_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}; run .ci/setup (npm ci there)",
        check_dir.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} not found; run .ci/setup (Debian package chromium)"
    );

    let dir = tempfile::tempdir().unwrap();
    let world = World::create(dir.path(), "127.0.0.1:0".parse().unwrap(), &[CLASS])
        .await
        .unwrap();
    let opts = DemoOptions {
        devices: 60,
        poll: Duration::from_millis(300),
        soak_ms: 300,
        max_in_flight: 10,
        timeout: Duration::from_secs(120),
        ..DemoOptions::default()
    };
    let (p1, _) = firmware::repo_payloads(&repo()).unwrap();
    let v1 = world.keys.sign(&p1, 1, 0).unwrap();
    let v3 = world.keys.sign(&p1, 3, 0).unwrap();
    let bundle = world
        .keys
        .cut_release(&ReleaseSpec {
            image: &v3,
            version: BAD_VERSION,
            sequence: 3,
            class: CLASS,
            vendor_domain: VENDOR,
            delta_from: vec![&v1],
        })
        .unwrap();
    let release = world.upload(&bundle).await.unwrap();

    // The browser is up and polling before the rollout starts.
    let mut browser = tokio::process::Command::new("node")
        .arg(check_dir.join("check.mjs"))
        .arg(world.dashboard_url())
        .args(["--timeout-s", "120"])
        .arg("--screenshot")
        .arg(dir.path().join("dashboard.png"))
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js 20+) must be installed: run .ci/setup");

    let rates = FaultRates {
        boot_fail: 0.30,
        ..FaultRates::default()
    };
    let prov = world.provisioning(CLASS).unwrap();
    let specs = fleet_sim::fleet("dev-", opts.devices, CLASS, &prov, &v1, "1.0.0", 1, rates, 5);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let fleet_opts = world.fleet_options(opts.poll, BootFailScope::Versions(vec![BAD_VERSION.into()]), stopped);
    let ca = world.fleet_ca().unwrap();
    let fleet = tokio::spawn(async move { fleet_sim::run(&ca, &fleet_opts, specs).await });

    // A 20% canary of 60 devices, 30% of them failing: it pauses with devices committed too.
    let mut plan = plan(&opts);
    let stages = plan.stages.as_mut().unwrap();
    stages[0].percent = 20.0;
    stages[0].max_failures = Some(2);
    stages[1].percent = 50.0;
    let id = world.create_rollout(&rollout(release, plan)).await.unwrap().id;
    let paused = wait_for(&world, id, opts.timeout, false, |v| {
        v.state == RolloutState::PAUSED || v.state == RolloutState::COMPLETED
    })
    .await
    .unwrap();
    assert_eq!(paused.state, RolloutState::PAUSED, "{paused:?}");

    let out = tokio::time::timeout(Duration::from_secs(150), async {
        let status = browser.wait().await.unwrap();
        let mut stdout = String::new();
        let mut stderr = String::new();
        use tokio::io::AsyncReadExt as _;
        browser
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .await
            .unwrap();
        browser
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (status, stdout, stderr)
    })
    .await
    .expect("the browser check did not finish");
    let (status, stdout, stderr) = out;
    eprintln!("check.mjs stdout: {stdout}\ncheck.mjs stderr: {stderr}");
    assert!(status.success(), "dashboard check failed: {stdout}\n{stderr}");
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert!(stdout.contains("paused"), "{seen}");
    let reason = paused.pause_reason.as_deref().unwrap();
    assert!(
        seen.to_string().contains(reason),
        "the page's pause reason differs from the API's {reason:?}: {seen}"
    );

    let _ = stop.send(true);
    fleet.await.unwrap().unwrap();
}
