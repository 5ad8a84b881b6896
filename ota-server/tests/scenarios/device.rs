//! Scenarios: device.

use futures_util::StreamExt as _;
use ota_protocol::device::{CheckinRequest, StatusReport};
use ota_server::config::Limits;
use reqwest::Method;
use serde_json::Value;

use super::code;
use crate::bundles::{self, Upload, CLASS};
use crate::harness::{checkin_body, post_json, sha256_hex, Backend, Env};

pub async fn download_resumes_after_dropped_connection(backend: Backend) {
    let env = Env::new(backend).await;
    let image = bundles::signed_image(3 * 1024 * 1024, 1, true);
    let (s, v) = env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await;
    assert_eq!(s, 201, "{v}");
    let dev = env.device("dev-resume", Some(CLASS));
    let (_, offer) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"00".repeat(32), 0),
    )
    .await;
    let url = env.url(offer["update"]["image"]["url"].as_str().unwrap());

    // Read part of the body, then drop the response: the connection goes away mid-transfer.
    let r = dev.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&image)));
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let mut got = Vec::new();
    let mut stream = r.bytes_stream();
    while got.len() < 700_000 {
        got.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    drop(stream);

    // Resume from where it stopped, guarded by If-Range.
    let r = dev
        .get(&url)
        .header("range", format!("bytes={}-", got.len()))
        .header("if-range", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes {}-{}/{}", got.len(), image.len() - 1, image.len()).as_str()
    );
    got.extend_from_slice(&r.bytes().await.unwrap());
    assert_eq!(sha256_hex(&got), sha256_hex(&image));

    // A stale validator gets the whole representation, not a mismatched range.
    let r = dev
        .get(&url)
        .header("range", "bytes=10-")
        .header("if-range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), image.len());
    let r = dev.get(&url).header("range", "bytes=-100").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &image[image.len() - 100..]);
    let r = dev
        .get(&url)
        .header("range", format!("bytes={}-", image.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", image.len()).as_str()
    );
    let r = dev.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    // Unknown artifacts are 404 with a code.
    let r = dev
        .get(env.url(&format!("/api/v1/device/artifacts/{}", "00".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    env.finish().await;
}

pub async fn revoke_mid_session_refuses_next_request_on_open_connection(backend: Backend) {
    let env = Env::new(backend).await;
    assert_eq!(
        env.upload(&Upload::of(&bundles::release(
            bundles::fixture_image("fw-v1.signed.bin"),
            1
        )))
        .await
        .0,
        201
    );
    let dev = env.device("dev-revoke", Some(CLASS));
    let other = env.device("dev-other", Some(CLASS));
    let checkin = env.url("/api/v1/device/checkin");
    let body = checkin_body(&"00".repeat(32), 0);
    assert_eq!(post_json(&dev, &checkin, &body).await.0, 200);
    assert_eq!(post_json(&other, &checkin, &body).await.0, 200);

    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/dev-revoke/revoke", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "revoked");

    // Same client, same pooled keep-alive connection: refused on its very next request.
    let (s, v) = post_json(&dev, &checkin, &body).await;
    assert_eq!((s, code(&v)), (403, "device_revoked"));
    let r = dev
        .get(env.url(&format!(
            "/api/v1/device/artifacts/{}",
            sha256_hex(&bundles::fixture_image("fw-v1.signed.bin"))
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A brand-new connection with the same certificate identity too.
    let again = env.device("dev-revoke", Some(CLASS));
    assert_eq!(post_json(&again, &checkin, &body).await.0, 403);
    // The rest of the fleet is untouched.
    assert_eq!(post_json(&other, &checkin, &body).await.0, 200);
    env.finish().await;
}

pub async fn decommission_keeps_history(backend: Backend) {
    let env = Env::new(backend).await;
    let dev = env.device("dev-retire", Some(CLASS));
    let checkin = env.url("/api/v1/device/checkin");
    assert_eq!(
        post_json(&dev, &checkin, &checkin_body(&"11".repeat(32), 3)).await.0,
        200
    );
    let (s, _) = post_json(
        &dev,
        &env.url("/api/v1/device/status"),
        &StatusReport::Committed { release_id: None },
    )
    .await;
    assert_eq!(s, 204);
    // Decommissioning reaches the device: factory_reset waits for its next check-in.
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/dev-retire/decommission", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["pending_command"].as_str()),
        (Some("active"), Some("factory_reset"))
    );
    let (s, v) = post_json(&dev, &checkin, &checkin_body(&"11".repeat(32), 3)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["command"], "factory_reset", "{v}");
    assert_eq!(v["no_update_reason"], "device_inactive", "{v}");
    assert!(v["update"].is_null(), "{v}");
    // Then the device is decommissioned (a second after the answer left).
    let sent = std::time::Instant::now();
    loop {
        let r = dev.post(&checkin).json(&checkin_body(&"11".repeat(32), 3)).send().await;
        // The decommissioning closes the device's connection: a request on it may fail.
        if let Ok(r) = r {
            let s = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            if s == 403 {
                assert_eq!(code(&v), "device_decommissioned");
                break;
            }
            if s != 429 {
                assert_eq!(
                    v["command"], "factory_reset",
                    "until decommissioned it is told again: {v}"
                );
            }
        }
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(5),
            "not decommissioned 5 s after factory_reset"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-retire", None).await;
    assert_eq!(v["device"]["state"], "decommissioned");
    assert!(v["device"].get("pending_command").is_none(), "{v}");
    assert_eq!(v["device"]["running_sha256"], "11".repeat(32));
    let statuses: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["decommissioned", "committed"]);
    // The history export: the row, every event, and the audit trail of the decommissioning.
    let (s, export) = env
        .admin(Method::GET, "/api/v1/admin/devices/dev-retire/export", None)
        .await;
    assert_eq!(s, 200, "{export}");
    assert_eq!(export["device"]["id"], "dev-retire");
    assert_eq!(export["events"].as_array().unwrap().len(), 2, "{export}");
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["device.decommission", "device.decommission.requested"],
        "{export}"
    );
    // `immediate`: at once, for a device that will never call again.
    let other = env.device("dev-lost", Some(CLASS));
    assert_eq!(
        post_json(&other, &checkin, &checkin_body(&"11".repeat(32), 3)).await.0,
        200
    );
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/devices/dev-lost/decommission?immediate=true",
            None,
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("decommissioned")), "{v}");
    let (s, v) = post_json(&other, &checkin, &checkin_body(&"11".repeat(32), 3)).await;
    assert_eq!((s, code(&v)), (403, "device_decommissioned"));
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/nope/decommission", None)
        .await;
    assert_eq!((s, code(&v)), (404, "device_not_found"));
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/devices/dev-lost/decommission?immediate=maybe",
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (400, "invalid_query"), "{v}");
    env.finish().await;
}

pub async fn bad_device_input_gets_stable_4xx(backend: Backend) {
    let env = Env::new(backend).await;
    let dev = env.device("dev-input", Some(CLASS));
    let url = env.url("/api/v1/device/checkin");
    let send = |body: &'static str, ct: &'static str| dev.post(&url).header("content-type", ct).body(body).send();
    let cases = [
        ("{not json", "application/json", 400, "malformed_json"),
        (
            r#"{"running": {"digest": 5}}"#,
            "application/json",
            400,
            "invalid_json_body",
        ),
        (
            r#"{"running": {"digest": "zz", "sequence": 0}}"#,
            "application/json",
            400,
            "invalid_digest",
        ),
        (
            r#"{"running": {"digest": "00", "sequence": 0}, "extra": 1}"#,
            "application/json",
            400,
            "invalid_json_body",
        ),
        (
            r#"{"running": {"digest": "00", "sequence": 0}}"#,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ];
    for (body, ct, status, want) in cases {
        let r = send(body, ct).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(code(&v), want, "{body}");
    }
    // Oversized JSON body (just over the 64 KiB limit: small enough that the whole body is
    // written before the server's early 413 closes the connection, so no broken pipe).
    let big = format!(
        r#"{{"class": "{}", "running": {{"digest": "00", "sequence": 0}}}}"#,
        "a".repeat(70_000)
    );
    let r = dev
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // Unknown routes and bad status reports.
    let r = dev.get(env.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(&r.json().await.unwrap()), "not_found");
    // Deliberately not a protocol message: a status no device may send.
    let (s, v) = post_json(
        &dev,
        &env.url("/api/v1/device/status"),
        &serde_json::json!({"status": "exploded"}),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_json_body"));
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/releases/notanumber", None).await;
    assert_eq!((s, code(&v)), (404, "release_not_found"));
    env.finish().await;
}

pub async fn checkin_rate_limited(backend: Backend) {
    let env = Env::with_limits(
        backend,
        Limits {
            checkin_burst: 3,
            checkin_per_second: 0.01,
            ..Limits::default()
        },
    )
    .await;
    let dev = env.device("dev-chatty", Some(CLASS));
    let other = env.device("dev-quiet", Some(CLASS));
    let url = env.url("/api/v1/device/checkin");
    let body = checkin_body(&"00".repeat(32), 0);
    for _ in 0..3 {
        assert_eq!(post_json(&dev, &url, &body).await.0, 200);
    }
    let r = dev.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(code(&r.json().await.unwrap()), "rate_limited");
    assert_eq!(post_json(&other, &url, &body).await.0, 200);
    env.finish().await;
}

pub async fn status_reports_recorded(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env
        .upload(&Upload::of(&bundles::release(
            bundles::fixture_image("fw-v1.signed.bin"),
            1,
        )))
        .await;
    assert_eq!(s, 201);
    let release_id = v["id"].as_i64().unwrap();
    let dev = env.device("dev-status", Some(CLASS));
    let url = env.url("/api/v1/device/status");
    let release_id = Some(release_id);
    let reports = [
        StatusReport::Downloading { release_id },
        StatusReport::Downloaded { release_id },
        StatusReport::Verified { release_id },
        StatusReport::Installing { release_id },
        StatusReport::Rebooted { release_id },
        StatusReport::Failed {
            release_id,
            reason: "watchdog".into(),
        },
        StatusReport::RolledBack { release_id },
        StatusReport::Committed { release_id },
    ];
    for r in &reports {
        let (s, v) = post_json(&dev, &url, r).await;
        assert_eq!(s, 204, "{r:?} {v}");
    }
    let (_, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-status", None).await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), reports.len());
    assert_eq!(events[0]["status"], "committed");
    assert_eq!(events[2]["reason"], "watchdog");
    assert_eq!(v["device"]["last_status"], "committed");
    env.finish().await;
}

/// Attack: one certificate floods status reports (3,000 history rows in 1.9 s once, never
/// pruned: it could fill the disk). Reports are rate limited per device (429 + Retry-After,
/// other devices unaffected), and the history is bounded per device and by age, pruned in the
/// background, newest kept.
pub async fn report_flood(backend: Backend) {
    let env = Env::with_limits(
        backend,
        Limits {
            report_burst: 120,
            report_per_second: 0.01,
            history_per_device: 50,
            history_retention_days: 30,
            history_prune_ms: 50,
            ..Limits::default()
        },
    )
    .await;
    let store = env.server.as_ref().unwrap().store.clone();
    let url = env.url("/api/v1/device/status");
    let flooder = env.device("dev-flood", Some(CLASS));
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..300 {
        let report = StatusReport::Failed {
            release_id: None,
            reason: format!("flood {i}"),
        };
        let r = flooder.post(&url).json(&report).send().await.unwrap();
        match r.status().as_u16() {
            204 => accepted += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                let v: Value = r.json().await.unwrap();
                assert_eq!(code(&v), "rate_limited");
                refused += 1;
            }
            other => panic!("report {i}: HTTP {other}"),
        }
    }
    assert_eq!((accepted, refused), (120, 180), "the burst, then 429");
    // Another device is not limited by the flooder.
    let quiet = env.device("dev-quiet-reporter", Some(CLASS));
    let (s, _) = post_json(&quiet, &url, &StatusReport::Downloading { release_id: None }).await;
    assert_eq!(s, 204);
    // An event past the retention period (written as if 31 days ago).
    let day_ms = 24 * 3600 * 1000;
    let old = ota_server::store::DeviceEvent {
        at_ms: ota_server::domain::Clock::now_ms(&ota_server::domain::SystemClock) - 31 * day_ms,
        status: "downloading".into(),
        release_id: None,
        reason: None,
    };
    store.record_event("dev-quiet-reporter", &old).await.unwrap();
    // The pruner bounds the flooder's history to its newest 50 and removes the old event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let flood = store.device_events("dev-flood", 10_000).await.unwrap();
        let quiet = store.device_events("dev-quiet-reporter", 10_000).await.unwrap();
        // (The quiet device's report is written behind: wait for it too.)
        if flood.len() <= 50 && quiet.len() == 1 && quiet[0].at_ms > old.at_ms {
            assert_eq!(flood.len(), 50);
            assert_eq!(flood[0].reason.as_deref(), Some("flood 119"), "the newest are kept");
            assert_eq!(quiet[0].status, "downloading");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "history not pruned: {} / {}",
            flood.len(),
            quiet.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    env.finish().await;
}

pub async fn graceful_shutdown_finishes_inflight_download(backend: Backend) {
    let mut env = Env::new(backend).await;
    let image = bundles::signed_image(12 * 1024 * 1024, 2, true);
    assert_eq!(
        env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await.0,
        201
    );
    let dev = env.device("dev-drain", Some(CLASS));
    let url = env.url(&format!("/api/v1/device/artifacts/{}", sha256_hex(&image)));
    let r = dev.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = stream.next().await.unwrap().unwrap().to_vec();

    // Shut down while the body is still streaming: the download completes.
    let server = env.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the in-flight download");
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(sha256_hex(&got), sha256_hex(&image));
    tokio::time::timeout(std::time::Duration::from_secs(10), stopping)
        .await
        .expect("shutdown finishes once the download is done")
        .unwrap();
    env.finish().await;
}

/// Attack: a device picks its own class (a certificate without OU naming any class in its
/// check-in, or an OU naming a class the server does not serve, once became another class).
/// The class comes only from the certificate or from an operator; everything else is refused
/// with a clear code, and a certificate of an unknown class registers nothing.
pub async fn class_from_certificate_only(backend: Backend) {
    let env = Env::new(backend).await;
    let url = env.url("/api/v1/device/checkin");
    let store = env.server.as_ref().unwrap().store.clone();
    // No OU: naming a class (known or not) in the check-in does not give it one.
    let nameless = env.device("dev-noclass", None);
    for named in [None, Some("gateway"), Some(CLASS), Some("toaster")] {
        let mut body = CheckinRequest::new("00".repeat(32), None, 0);
        if let Some(c) = named {
            body = body.with_class(c);
        }
        let (s, v) = post_json(&nameless, &url, &body).await;
        assert_eq!((s, code(&v)), (403, "device_class_required"), "{named:?}: {v}");
    }
    let d = store.device("dev-noclass").await.unwrap().unwrap();
    assert_eq!(d.class, None, "registered (an operator can see it) but of no class");
    // An OU naming a class this server does not serve: refused, and not even registered.
    let foreign = env.device("dev-foreign", Some("nonexistent-class"));
    let (s, v) = post_json(&foreign, &url, &checkin_body(&"00".repeat(32), 0).with_class(CLASS)).await;
    assert_eq!((s, code(&v)), (403, "unknown_device_class"), "{v}");
    assert!(store.device("dev-foreign").await.unwrap().is_none());
    // A device with a class cannot switch by naming another.
    let sensor = env.device("dev-sensor", Some(CLASS));
    let (s, v) = post_json(&sensor, &url, &checkin_body(&"00".repeat(32), 0).with_class("gateway")).await;
    assert_eq!((s, code(&v)), (403, "device_class_mismatch"), "{v}");
    let (s, _) = post_json(&sensor, &url, &checkin_body(&"00".repeat(32), 0).with_class(CLASS)).await;
    assert_eq!(s, 200, "repeating its own class is fine");
    // An operator assigns the class-less device one (release-manager, audited): it checks in.
    let client = env.client();
    let assign = |class: &str| ota_protocol::admin::DeviceClassAssignment { class: class.into() };
    let err = client
        .set_device_class("dev-noclass", &assign("toaster"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown_device_class"), "{err}");
    let view = client
        .set_device_class("dev-noclass", &assign("gateway"))
        .await
        .unwrap();
    assert_eq!(view.class.as_deref(), Some("gateway"));
    let (s, _) = post_json(&nameless, &url, &checkin_body(&"00".repeat(32), 0)).await;
    assert_eq!(s, 200);
    // ...or registers a device ahead of its first contact.
    client.set_device_class("dev-ahead", &assign(CLASS)).await.unwrap();
    let ahead = env.device("dev-ahead", None);
    let (s, _) = post_json(&ahead, &url, &checkin_body(&"00".repeat(32), 0)).await;
    assert_eq!(s, 200);
    let audit = client.audit().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "device.class" && a.target == "device:dev-noclass" && a.result == "ok"),
        "{audit:?}"
    );
    env.finish().await;
}

/// Attack: a device downloads another class's firmware (or patch, or envelope) by its SHA-256.
/// A device is served only the artifacts of its class's releases; any other digest is 404,
/// exactly as an unknown one.
pub async fn cross_class_download(backend: Backend) {
    let env = Env::new(backend).await;
    let sensor_image = bundles::signed_image(4096, 41, true);
    let sensor = bundles::release_with_patch(sensor_image.clone(), bundles::signed_image(4096, 40, true), 1);
    let (s, v) = env.upload(&Upload::of(&sensor)).await;
    assert_eq!(s, 201, "{v}");
    let gateway_image = bundles::signed_image(4096, 42, true);
    let gateway = bundles::release_with(gateway_image.clone(), 1, "gateway", vec![], &bundles::manifest_key());
    let (s, v) = env.upload(&Upload::of(&gateway)).await;
    assert_eq!(s, 201, "{v}");
    let artifact = |hex: &str| env.url(&format!("/api/v1/device/artifacts/{hex}"));
    let sensor_artifacts = [
        sha256_hex(&sensor_image),
        sha256_hex(&sensor.envelope),
        sha256_hex(&sensor.patches[0].1),
    ];
    let gw = env.device("dev-gw", Some("gateway"));
    for hex in &sensor_artifacts {
        let r = gw.get(artifact(hex)).send().await.unwrap();
        assert_eq!(r.status(), 404, "a gateway must not get sensor artifact {hex}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&v), "artifact_not_found");
    }
    let r = gw.get(artifact(&sha256_hex(&gateway_image))).send().await.unwrap();
    assert_eq!(r.status(), 200, "its own class's image");
    assert_eq!(r.bytes().await.unwrap().as_ref(), gateway_image.as_slice());
    let sn = env.device("dev-sn", Some(CLASS));
    for hex in &sensor_artifacts {
        assert_eq!(sn.get(artifact(hex)).send().await.unwrap().status(), 200, "{hex}");
    }
    assert_eq!(
        sn.get(artifact(&sha256_hex(&gateway_image)))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A device of no class gets nothing.
    let nameless = env.device("dev-nameless", None);
    assert_eq!(
        nameless
            .get(artifact(&sensor_artifacts[0]))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    env.finish().await;
}

/// Check-ins are written behind (README "Check-in durability"): not yet in the database when
/// the device has its answer, committed by a graceful shutdown, seen after the restart. A first
/// check-in that sets the class is durable before the answer.
pub async fn graceful_shutdown_flushes_written_behind_checkins(backend: Backend) {
    // A flush interval no test waits for: only shutdown (or an admin read) commits.
    let limits = Limits {
        checkin_flush_ms: 600_000,
        ..Limits::default()
    };
    let mut env = Env::with_limits(backend, limits).await;
    let url = env.url("/api/v1/device/checkin");
    let ids = ["dev-wb-0", "dev-wb-1", "dev-wb-2"];
    for (i, id) in ids.iter().enumerate() {
        let body = checkin_body(&format!("{:02x}", 0x11 + i).repeat(32), 3);
        assert_eq!(post_json(&env.device(id, Some(CLASS)), &url, &body).await.0, 200);
    }
    let store = env.server.as_ref().unwrap().store.clone();
    for id in ids {
        let d = store.device(id).await.unwrap().unwrap();
        assert_eq!(d.running_digest, None, "{id}: written behind, not yet committed");
    }
    // Registered without a class (its first certificate had no OU), then a certificate with
    // one: that class is committed at once (with everything pending before it).
    let body = CheckinRequest::new("44".repeat(32), None, 4);
    assert_eq!(post_json(&env.device("dev-nc", None), &url, &body).await.0, 403);
    assert_eq!(post_json(&env.device("dev-nc", Some(CLASS)), &url, &body).await.0, 200);
    let d = store.device("dev-nc").await.unwrap().unwrap();
    assert_eq!(d.class.as_deref(), Some(CLASS), "class is durable before the answer");
    assert_eq!(d.running_sequence, Some(4));

    // Report again: written behind once more, so only the graceful shutdown can commit these.
    for (i, id) in ids.iter().enumerate() {
        let body = checkin_body(&format!("{:02x}", 0x21 + i).repeat(32), 3);
        assert_eq!(post_json(&env.device(id, Some(CLASS)), &url, &body).await.0, 200);
        let d = store.device(id).await.unwrap().unwrap();
        assert_eq!(
            d.running_digest.map(|x| x.hex()),
            Some(format!("{:02x}", 0x11 + i).repeat(32)),
            "{id}: the second report is not yet committed"
        );
    }

    env.restart().await;

    let store = env.server.as_ref().unwrap().store.clone();
    for (i, id) in ids.iter().enumerate() {
        let d = store.device(id).await.unwrap().unwrap();
        assert_eq!(
            d.running_digest.map(|x| x.hex()),
            Some(format!("{:02x}", 0x21 + i).repeat(32)),
            "{id}: committed by the graceful shutdown"
        );
        assert_eq!(d.running_sequence, Some(3));
        assert!(d.last_seen_ms > 0);
    }

    // Admin reads see this replica's pending check-ins (they flush first).
    let body = checkin_body(&"55".repeat(32), 5);
    assert_eq!(
        post_json(&env.device("dev-wb-0", Some(CLASS)), &url, &body).await.0,
        200
    );
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-wb-0", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["device"]["running_sha256"], "55".repeat(32));
    assert_eq!(v["device"]["running_sequence"], 5);
    env.finish().await;
}

/// Attack: readers that stop reading. 50 stalled readers of a 150 MB artifact held 100
/// descriptors and 30 MB for at least 95 s, with no cap per device. Now a device streams at
/// most `downloads_per_device` at once (more get 429 with `Retry-After`), and a connection
/// whose peer reads nothing for `download_idle_timeout_s` is closed, freeing its slot.
pub async fn stalled_reader(backend: Backend) {
    let limits = Limits {
        download_idle_timeout_s: 1,
        downloads_per_device: 2,
        ..Limits::default()
    };
    let env = Env::with_limits(backend, limits).await;
    let image = bundles::signed_image(16 * 1024 * 1024, 5, true);
    assert_eq!(
        env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await.0,
        201
    );
    let url = env.url(&format!("/api/v1/device/artifacts/{}", sha256_hex(&image)));
    let dev = env.device("dev-stall", Some(CLASS));

    // Two downloads started and never read; a third at once is refused.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let r = dev.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        stalled.push(r);
    }
    let r = dev.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429, "a third concurrent download of one device");
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), "rate_limited", "{v}");
    // Another device is not held back by this one's cap.
    let other = env.device("dev-other", Some(CLASS));
    let r = other.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);

    // After the idle timeout the server has closed both: what they still read is what the
    // socket buffers held, never the whole artifact, and the stream ends in an error.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    for r in stalled {
        let mut body = r.bytes_stream();
        let (mut got, mut failed) = (0usize, false);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => got += c.len(),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            failed && got < image.len(),
            "a stalled reader was cut: got {got} bytes, error {failed}"
        );
    }
    // The slots are free again: a reader that reads gets everything.
    let r = dev.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sha256_hex(&r.bytes().await.unwrap()), sha256_hex(&image));
    env.finish().await;
}

/// Attack: a download that outlives its device's revocation (a response already streaming
/// went on to the last of 150 MB after the device was revoked). The revocation closes the
/// device's open connections at once, whatever they are sending (the server may be blocked on a
/// full socket buffer, so a check between chunks alone could come seconds late).
pub async fn revoked_mid_download(backend: Backend) {
    let env = Env::new(backend).await;
    let image = bundles::signed_image(16 * 1024 * 1024, 6, true);
    assert_eq!(
        env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await.0,
        201
    );
    let url = env.url(&format!("/api/v1/device/artifacts/{}", sha256_hex(&image)));
    let dev = env.device("dev-cut", Some(CLASS));
    let r = dev.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The device reads slowly (about 1.6 MB/s), so the download would take ten seconds.
    let reader = tokio::spawn(async move {
        let mut body = r.bytes_stream();
        let mut got = 0usize;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => got += c.len(),
                Err(_) => return (got, true),
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        (got, false)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let scraper = env.anon();
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/dev-cut/revoke", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let revoked_at = std::time::Instant::now();
    loop {
        if env
            .metrics_via(&scraper)
            .await
            .contains("ota_device_connections_closed_total{reason=\"inactive\"} 1")
        {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "the connection was not closed within a second of the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (got, failed) = reader.await.unwrap();
    assert!(
        failed && got < image.len(),
        "got {got} of {} bytes, error {failed}",
        image.len()
    );
    env.finish().await;
}
