//! Scenarios: the rollout and device-tag admin API (validation, roles, state conflicts, audit).
//! Offer decisions under rollouts are covered by `tests/rollout_store.rs` and, end to end with
//! a simulated fleet, by `demo/tests/rollout_e2e.rs`.

use ota_protocol::admin::DeviceTags;
use ota_protocol::rollouts::{NewRollout, PlanInput, StageInput};
use reqwest::Method;
use serde_json::json;

use super::code;
use crate::bundles::{self, Upload, CLASS};
use crate::harness::{body, checkin_body, post_json, Backend, Env};

pub async fn rollout_api_and_tags(backend: Backend) {
    let env = Env::new(backend).await;
    let (s, v) = env
        .upload(&Upload::of(&bundles::release(
            bundles::fixture_image("fw-v1.signed.bin"),
            1,
        )))
        .await;
    assert_eq!(s, 201, "{v}");
    let release = v["id"].as_i64().unwrap();
    let viewer = env.token("viewer").await;
    let post = |r: NewRollout| env.admin(Method::POST, "/api/v1/admin/rollouts", body(&r));
    let with_stages = |percents: &[f64]| NewRollout {
        plan: PlanInput {
            stages: Some(percents.iter().map(|p| StageInput::percent(*p)).collect()),
            ..PlanInput::default()
        },
        ..NewRollout::of(release)
    };

    // Validation: each mistake is a 4xx with its own code, and nothing is created.
    let (s, v) = post(with_stages(&[10.0, 5.0, 100.0])).await;
    assert_eq!((s, code(&v)), (400, "invalid_plan"), "{v}");
    let (s, v) = post(with_stages(&[50.0])).await;
    assert_eq!((s, code(&v)), (400, "invalid_plan"), "the last stage must be 100%: {v}");
    let (s, v) = post(with_stages(&[120.0])).await;
    assert_eq!((s, code(&v)), (400, "invalid_plan"));
    let (s, v) = post(NewRollout {
        tags: Some(vec!["Bad Tag".into()]),
        ..NewRollout::of(release)
    })
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_tags"));
    let (s, v) = post(NewRollout {
        cohort_salt: Some("xyz".into()),
        ..NewRollout::of(release)
    })
    .await;
    assert_eq!((s, code(&v)), (400, "invalid_cohort_salt"));
    let (s, v) = post(NewRollout::of(999_999)).await;
    assert_eq!((s, code(&v)), (404, "release_not_found"));
    // Deliberately not a protocol message: an unknown field.
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/rollouts",
            Some(json!({"release_id": release, "surprise": 1})),
        )
        .await;
    assert_eq!(s, 400, "unknown fields are refused: {v}");
    let (s, v) = env
        .admin_as(
            &viewer,
            Method::POST,
            "/api/v1/admin/rollouts",
            body(&NewRollout::of(release)),
        )
        .await;
    assert_eq!((s, code(&v)), (403, "insufficient_role"));
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/rollouts", None).await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 0), "{v}");

    // A draft limited to two tags, with the default plan.
    let (s, v) = post(NewRollout {
        name: Some("beta first".into()),
        tags: Some(vec!["beta".into(), "lab".into(), "beta".into()]),
        start: Some(false),
        ..NewRollout::of(release)
    })
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(
        (v["state"].as_str(), v["name"].as_str()),
        (Some("draft"), Some("beta first"))
    );
    assert_eq!(v["target_tags"], json!(["beta", "lab"]));
    let percents: Vec<f64> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["percent"].as_f64().unwrap())
        .collect();
    assert_eq!(percents, [1.0, 10.0, 50.0, 100.0]);
    // Default promotion: 95% of the cohort committed (switched-off devices must not stall it).
    assert_eq!(v["stages"][0]["min_committed_percent"], 95.0);
    let (s, v) = post(NewRollout::of(release)).await;
    assert_eq!((s, code(&v)), (409, "rollout_exists"), "{v}");

    // Actions follow the state machine.
    let act = |a: &str| {
        let path = format!("/api/v1/admin/rollouts/{id}/{a}");
        let env = &env;
        async move { env.admin(Method::POST, &path, None).await }
    };
    let (s, v) = act("resume").await;
    assert_eq!((s, code(&v)), (409, "invalid_action"));
    let (s, v) = act("start").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("running")), "{v}");
    let (s, v) = act("pause").await;
    assert_eq!(
        (s, v["state"].as_str(), v["pause_kind"].as_str()),
        (200, Some("paused"), Some("operator"))
    );
    assert_eq!(v["pause_reason"], "paused by an operator");
    let (s, _) = act("pause").await;
    assert_eq!(s, 409);
    let (s, v) = act("explode").await;
    assert_eq!((s, code(&v)), (404, "unknown_action"));
    let (s, v) = env
        .admin_as(
            &viewer,
            Method::POST,
            &format!("/api/v1/admin/rollouts/{id}/resume"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (403, "insufficient_role"));
    let (s, v) = act("abort").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("aborted")));
    let kinds: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["started", "paused", "aborted"]);
    let (s, v) = env
        .admin_as(&viewer, Method::GET, &format!("/api/v1/admin/rollouts/{id}"), None)
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("aborted")));
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/rollouts/12345", None).await;
    assert_eq!((s, code(&v)), (404, "rollout_not_found"));
    let (s, v) = env
        .admin(Method::GET, "/api/v1/admin/rollouts/not-a-number", None)
        .await;
    assert_eq!((s, code(&v)), (404, "rollout_not_found"));

    // Device tags.
    let dev = env.device("dev-tags", Some(CLASS));
    let (s, _) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"00".repeat(32), 0),
    )
    .await;
    assert_eq!(s, 200);
    let tags = |tags: &[&str]| {
        let t = DeviceTags {
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        env.admin(Method::PUT, "/api/v1/admin/devices/dev-tags/tags", body(&t))
    };
    let (s, v) = tags(&["lab", "beta", "lab"]).await;
    assert_eq!((s, &v["tags"]), (200, &json!(["beta", "lab"])), "{v}");
    let (s, v) = tags(&["UPPER"]).await;
    assert_eq!((s, code(&v)), (400, "invalid_tags"));
    let (s, v) = tags(&[&"x".repeat(33)]).await;
    assert_eq!((s, code(&v)), (400, "invalid_tags"));
    let (s, v) = env
        .admin(
            Method::PUT,
            "/api/v1/admin/devices/nobody/tags",
            body(&DeviceTags::default()),
        )
        .await;
    assert_eq!((s, code(&v)), (404, "device_not_found"));
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-tags", None).await;
    assert_eq!((s, &v["device"]["tags"]), (200, &json!(["beta", "lab"])), "{v}");

    // The fleet view counts the device; every change above is in the audit log.
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/fleet", None).await;
    assert_eq!((s, v["devices"].as_u64()), (200, Some(1)), "{v}");
    let (_, audit) = env.admin(Method::GET, "/api/v1/admin/audit", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for needed in [
        "rollout.create",
        "rollout.start",
        "rollout.pause",
        "rollout.abort",
        "device.tags",
    ] {
        assert!(actions.contains(&needed), "{needed} missing from {actions:?}");
    }
    env.finish().await;
}

/// Attack: a device forges success. An offered device that never downloaded a byte POSTed
/// `committed` (or checked in claiming the new digest and sequence) and was counted: one
/// forged report promoted a stage with `min_committed` 1. A commit now counts only once the
/// server has served the device the whole image (or a patch to it); claims without that are
/// kept as suspicious and shown in the rollout view and `/metrics`.
pub async fn forged_commit_not_counted(backend: Backend) {
    use futures_util::StreamExt as _;
    use ota_protocol::device::{CheckinResponse, StatusReport};

    let env = Env::with_rollouts(backend).await;
    let image = bundles::signed_image(3 * 1024 * 1024, 7, true);
    let new_digest = crate::harness::sha256_hex(&image);
    let (s, v) = env.upload(&Upload::of(&bundles::release(image.clone(), 2))).await;
    assert_eq!(s, 201, "{v}");
    let release = v["id"].as_i64().unwrap();
    // Both devices are known before the rollout starts (its cohort counts them).
    let forger = env.device("dev-forger", Some(CLASS));
    let honest = env.device("dev-honest", Some(CLASS));
    for d in [&forger, &honest] {
        let (s, v) = post_json(
            d,
            &env.url("/api/v1/device/checkin"),
            &checkin_body(&"00".repeat(32), 1),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    // One stage: complete as soon as one device has committed.
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/rollouts",
            body(&NewRollout {
                plan: PlanInput {
                    stages: Some(vec![StageInput {
                        min_committed: Some(1),
                        min_committed_percent: Some(0.01),
                        soak_ms: Some(0),
                        ..StageInput::percent(100.0)
                    }]),
                    ..PlanInput::default()
                },
                ..NewRollout::of(release)
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let rollout = v["id"].as_i64().unwrap();
    let checkin_url = env.url("/api/v1/device/checkin");
    let status_url = env.url("/api/v1/device/status");
    let committed = StatusReport::Committed {
        release_id: Some(release),
    };
    let offer = |client: reqwest::Client| {
        let url = checkin_url.clone();
        async move {
            let (s, v) = post_json(&client, &url, &checkin_body(&"00".repeat(32), 1)).await;
            assert_eq!(s, 200, "{v}");
            let r: CheckinResponse = serde_json::from_value(v).unwrap();
            r.update.expect("the rollout offers the release")
        }
    };
    let view = || async {
        let (s, v) = env
            .admin(Method::GET, &format!("/api/v1/admin/rollouts/{rollout}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    };

    tokio::time::sleep(std::time::Duration::from_millis(700)).await; // the cohort is counted
    assert_eq!(view().await["stages"][0]["cohort"], 2);

    // The forger: offered, downloads nothing, claims success three ways.
    let update = offer(forger.clone()).await;
    assert_eq!(update.image.sha256, new_digest);
    let (s, v) = post_json(&forger, &status_url, &committed).await;
    assert_eq!(s, 204, "a claim is taken, not believed: {v}");
    let (s, v) = post_json(&forger, &checkin_url, &checkin_body(&new_digest, 2)).await;
    assert_eq!(s, 200, "{v}");
    // A start of the image is not the image.
    let r = forger
        .get(env.url(&update.image.url))
        .header("range", "bytes=0-1023")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.bytes().await.unwrap().len()), (206, 1024));
    let (s, _) = post_json(&forger, &status_url, &committed).await;
    assert_eq!(s, 204);
    // Past a cohort recount (every 3 s): claiming the new sequence at check-in does not take
    // the forger out of the devices that still need the release.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let v = view().await;
    assert_eq!(v["totals"]["committed"], 0, "no forged claim is counted: {v}");
    assert_eq!(v["state"], "running", "{v}");
    assert_eq!(v["stages"][0]["cohort"], 2, "{v}");
    assert_eq!(
        v["suspicious"],
        json!([{"device_id": "dev-forger", "unproven_claims": 3}]),
        "the claims are shown: {v}"
    );
    let text = env.metrics().await;
    assert!(
        text.contains(&format!("ota_rollout_suspicious_devices{{rollout=\"{rollout}\"}} 1")),
        "{text}"
    );

    // An honest device downloads the image in two ranges (a resume), then commits: counted,
    // and the one-device stage completes the rollout.
    let update = offer(honest.clone()).await;
    let half = image.len() / 2;
    let mut got = Vec::new();
    for range in [format!("bytes=0-{}", half - 1), format!("bytes={half}-")] {
        let r = honest
            .get(env.url(&update.image.url))
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206);
        let mut body = r.bytes_stream();
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
    }
    assert_eq!(crate::harness::sha256_hex(&got), new_digest);
    let (s, _) = post_json(&honest, &status_url, &committed).await;
    assert_eq!(s, 204);
    let mut v = view().await;
    for _ in 0..50 {
        if v["state"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        v = view().await;
    }
    assert_eq!(v["totals"]["committed"], 1, "{v}");
    assert_eq!(v["state"], "completed", "{v}");
    assert_eq!(v["suspicious"][0]["device_id"], "dev-forger", "{v}");
    env.finish().await;
}
