//! Scenarios: ingest.

use base64::Engine as _;
use ota_server::config::Limits;
use reqwest::Method;
use serde_json::{json, Value};

use super::{code, device_accepts, download};
use crate::bundles::{self, Upload, CLASS};
use crate::harness::{checkin_body, post_json, sha256_hex, staging_files, stored_artifacts, Backend, Env};

pub async fn upload_checkin_download_and_verify_like_a_device(backend: Backend) {
    let env = Env::new(backend).await;
    let v1 = bundles::fixture_image("fw-v1.signed.bin");
    let b = bundles::release(v1.clone(), 1);
    let (s, v) = env.upload(&Upload::of(&b)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["sequence"], 1);
    assert_eq!(v["class"], CLASS);
    assert_eq!(v["image_sha256"], sha256_hex(&v1));

    // First contact registers the device just in time (class from the certificate's OU).
    let dev = env.device("dev-0001", Some(CLASS));
    let (s, v) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"00".repeat(32), 0),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("no_update_reason").is_none(),
        "an offer has no no-update reason: {v}"
    );
    let offer = &v["update"];
    assert_eq!(offer["sequence"], 1);
    assert!(offer["patch"].is_null());
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(offer["envelope"].as_str().unwrap())
        .unwrap();
    assert_eq!(envelope, b.envelope);
    let image = download(&dev, &env, offer["image"]["url"].as_str().unwrap()).await;
    assert_eq!(image, v1);
    device_accepts(&envelope, &image);

    // Running the release: nothing more to offer.
    let (s, v) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&sha256_hex(&v1), 1),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["update"].is_null(), "{v}");
    assert_eq!(v["no_update_reason"], "up_to_date", "{v}");

    // The check-in is the truth about what the device runs.
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-0001", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["device"]["running_sha256"], sha256_hex(&v1));
    assert_eq!(v["device"]["class"], CLASS);

    // OpenAPI and metrics are served.
    let doc: Value = env
        .anon()
        .get(env.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/device/checkin"].is_object());
    // The no-update reasons and both meanings of rollout counts are in the schema, documented.
    let schemas = &doc["components"]["schemas"];
    let reasons = schemas["NoUpdateReason"].to_string();
    for r in ["up_to_date", "rollout_paused", "not_in_cohort", "held_out"] {
        assert!(reasons.contains(r), "{r} missing: {reasons}");
    }
    assert!(schemas["CheckinResponse"]["properties"]["no_update_reason"].is_object());
    let stage = &schemas["StageView"]["properties"];
    for (field, words) in [
        ("counts", "This stage"),
        ("cumulative", "So far"),
        ("cohort", "cumulative"),
    ] {
        let d = stage[field]["description"].as_str().unwrap_or("");
        assert!(d.contains(words), "{field}: {d:?}");
    }
    assert!(schemas["RolloutView"]["properties"]["totals"].is_object());
    let metrics = env.metrics().await;
    assert!(
        metrics.contains("ota_checkins_total{result=\"offered\"} 1"),
        "{metrics}"
    );
    env.finish().await;
}

pub async fn patch_offered_only_when_base_matches(backend: Backend) {
    let env = Env::new(backend).await;
    let v1 = bundles::fixture_image("fw-v1.signed.bin");
    let v2 = bundles::fixture_image("fw-v2.signed.bin");
    let (s, v) = env.upload(&Upload::of(&bundles::release(v1.clone(), 1))).await;
    assert_eq!(s, 201, "{v}");
    let b2 = bundles::release_with_patch(v2.clone(), v1.clone(), 2);
    let (s, v) = env.upload(&Upload::of(&b2)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["patches"][0]["base_sha256"], sha256_hex(&v1));

    let dev = env.device("dev-patch", Some(CLASS));
    let (_, v) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&sha256_hex(&v1), 1),
    )
    .await;
    let patch = &v["update"]["patch"];
    assert_eq!(patch["base_sha256"], sha256_hex(&v1));
    let bytes = download(&dev, &env, patch["url"].as_str().unwrap()).await;
    assert_eq!(bytes, b2.patches[0].1);

    // Another base: full image only.
    let (_, v) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"ab".repeat(32), 0),
    )
    .await;
    assert_eq!(v["update"]["sequence"], 2);
    assert!(v["update"]["patch"].is_null());
    env.finish().await;
}

pub async fn rejects_each_kind_of_bad_bundle_and_stores_nothing(backend: Backend) {
    let env = Env::with_limits(
        backend,
        Limits {
            max_bundle_bytes: 1024 * 1024,
            ..Limits::default()
        },
    )
    .await;
    let v1 = bundles::fixture_image("fw-v1.signed.bin");
    let v2 = bundles::fixture_image("fw-v2.signed.bin");
    let good = Upload::of(&bundles::release(v1.clone(), 1));

    let mut cases: Vec<(&str, u16, Upload)> = Vec::new();
    cases.push((
        "bundle_incomplete",
        400,
        Upload {
            image: None,
            ..good.clone()
        },
    ));
    cases.push((
        "bundle_incomplete",
        400,
        Upload {
            envelope: None,
            ..good.clone()
        },
    ));
    cases.push((
        "envelope_malformed",
        400,
        Upload {
            envelope: Some(b"\xd8\x6b garbage".to_vec()),
            ..good.clone()
        },
    ));
    let mut truncated = good.envelope.clone().unwrap();
    truncated.truncate(truncated.len() / 2);
    cases.push((
        "envelope_malformed",
        400,
        Upload {
            envelope: Some(truncated),
            ..good.clone()
        },
    ));
    // tamper: one flipped bit in the signature. Its kid names the trusted key, so this is a
    // bad signature, not an unknown key.
    let envelope = good.envelope.clone().unwrap();
    let signature = manifest::suit::Envelope::decode(&envelope)
        .unwrap()
        .signatures()
        .next()
        .unwrap()
        .unwrap()
        .signature
        .to_vec();
    let at = envelope.windows(signature.len()).position(|w| w == signature).unwrap();
    let mut flipped = envelope.clone();
    flipped[at + 3] ^= 0x04;
    cases.push((
        "manifest_signature_invalid",
        422,
        Upload {
            envelope: Some(flipped),
            ..good.clone()
        },
    ));
    // A key the server does not trust.
    let rogue = bundles::release_with(v1.clone(), 1, CLASS, vec![], &bundles::rogue_manifest_key());
    cases.push(("manifest_untrusted_key", 422, Upload::of(&rogue)));
    let other_class = bundles::release_with(v1.clone(), 1, "toaster", vec![], &bundles::manifest_key());
    cases.push(("unknown_device_class", 422, Upload::of(&other_class)));
    // mix_and_match: the manifest of v1 with the image of v2.
    cases.push((
        "image_digest_mismatch",
        422,
        Upload {
            image: Some(v2.clone()),
            summary: None,
            ..good.clone()
        },
    ));
    let mut tampered = v1.clone();
    tampered[0x300] ^= 1;
    cases.push((
        "image_digest_mismatch",
        422,
        Upload {
            image: Some(tampered),
            summary: None,
            ..good.clone()
        },
    ));
    // A correctly described image whose MCUboot signature is by an untrusted key.
    let untrusted = bundles::signed_image(4000, 7, false);
    cases.push((
        "image_signature_invalid",
        422,
        Upload::of(&bundles::release(untrusted, 1)),
    ));
    let with_patch = Upload::of(&bundles::release_with_patch(v2.clone(), v1.clone(), 1));
    cases.push((
        "patch_missing",
        422,
        Upload {
            patches: vec![],
            ..with_patch.clone()
        },
    ));
    cases.push((
        "patch_missing",
        422,
        Upload {
            patches: vec![b"other bytes".to_vec()],
            ..with_patch
        },
    ));
    cases.push((
        "unexpected_artifact",
        422,
        Upload {
            patches: vec![b"stray".to_vec()],
            ..good.clone()
        },
    ));
    let mut summary: Value = serde_json::from_slice(good.summary.as_ref().unwrap()).unwrap();
    summary["image"]["size"] = json!(1);
    cases.push((
        "summary_mismatch",
        422,
        Upload {
            summary: Some(serde_json::to_vec(&summary).unwrap()),
            ..good.clone()
        },
    ));
    cases.push((
        "summary_malformed",
        400,
        Upload {
            summary: Some(b"{".to_vec()),
            ..good.clone()
        },
    ));
    // endless_data: over the body limit.
    cases.push((
        "bundle_too_large",
        413,
        Upload {
            image: Some(vec![0u8; 2 * 1024 * 1024]),
            ..good.clone()
        },
    ));

    for (want, status, upload) in &cases {
        let (s, v) = env.upload(upload).await;
        assert_eq!((s, code(&v)), (*status, *want), "{v}");
        assert!(v["error"]["message"].as_str().is_some());
    }
    let (_, releases) = env.admin(Method::GET, "/api/v1/admin/releases", None).await;
    assert_eq!(releases.as_array().unwrap().len(), 0, "nothing stored");
    assert_eq!(stored_artifacts(&env), 0, "no artifact stored");
    assert_eq!(staging_files(&env), 0, "staging cleaned");

    // Every rejected upload is audited with its code.
    let (_, audit) = env.admin(Method::GET, "/api/v1/admin/audit", None).await;
    let rejected = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "release.upload" && a["result"].as_str().unwrap().starts_with("error:"))
        .count();
    assert_eq!(rejected, cases.len());

    // And the good bundle still goes in afterwards.
    let (s, v) = env.upload(&good).await;
    assert_eq!(s, 201, "{v}");
    env.finish().await;
}

pub async fn rollback_sequence_refused(backend: Backend) {
    let env = Env::new(backend).await;
    let v1 = bundles::fixture_image("fw-v1.signed.bin");
    let v2 = bundles::fixture_image("fw-v2.signed.bin");
    assert_eq!(env.upload(&Upload::of(&bundles::release(v2.clone(), 5))).await.0, 201);
    for seq in [5, 4, 1] {
        let (s, v) = env.upload(&Upload::of(&bundles::release(v1.clone(), seq))).await;
        assert_eq!((s, code(&v)), (409, "sequence_not_above_previous"), "seq {seq}: {v}");
    }
    // The other class has its own sequence.
    let other = bundles::release_with(v1.clone(), 1, "gateway", vec![], &bundles::manifest_key());
    assert_eq!(env.upload(&Upload::of(&other)).await.0, 201);
    assert_eq!(env.upload(&Upload::of(&bundles::release(v1, 6))).await.0, 201);
    env.finish().await;
}

/// Where the backend keeps the artifact with this digest (hex).
fn artifact_file(env: &Env, backend: Backend, hex: &str) -> std::path::PathBuf {
    if backend == Backend::SqliteObjectStore {
        env.data_dir().join("../objects/sha256").join(hex)
    } else {
        env.data_dir().join("artifacts/sha256").join(&hex[..2]).join(hex)
    }
}

/// Attack: a file planted at the digest path of a release's image before it is uploaded (by
/// whoever can write the artifact directory) was adopted and served. Ingest now re-hashes a
/// file it finds there and replaces it with the verified upload unless it matches.
pub async fn planted_artifact(backend: Backend) {
    let env = Env::new(backend).await;
    let image = bundles::signed_image(8192, 51, true);
    let hex = sha256_hex(&image);
    let planted = artifact_file(&env, backend, &hex);
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, b"planted: not the signed image").unwrap();
    let (s, v) = env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(std::fs::read(&planted).unwrap(), image, "the planted file was replaced");
    let dev = env.device("dev-planted", Some(CLASS));
    let r = dev
        .get(env.url(&format!("/api/v1/device/artifacts/{hex}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        image.as_slice(),
        "the device gets the signed image"
    );
    // A genuine file already there (the same artifact in another release) is adopted as is.
    let (s, v) = env.upload(&Upload::of(&bundles::release(image.clone(), 2))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(std::fs::read(&planted).unwrap(), image);
    env.finish().await;
}

/// A crash between moving an upload's artifacts into the store and recording its release
/// leaves artifacts no release references (here: such files, last modified two hours ago).
/// The next start removes them and keeps every referenced artifact and every recent one (an
/// ingest in flight on another replica).
pub async fn orphans_after_crash(backend: Backend) {
    let mut env = Env::new(backend).await;
    let image = bundles::signed_image(4096, 61, true);
    let (s, v) = env.upload(&Upload::of(&bundles::release(image.clone(), 1))).await;
    assert_eq!(s, 201, "{v}");
    let kept = artifact_file(&env, backend, &sha256_hex(&image));
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    let plant = |bytes: &[u8], modified: std::time::SystemTime| {
        let path = artifact_file(&env, backend, &sha256_hex(bytes));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        path
    };
    let orphan = plant(b"image of a release whose insert never happened", two_hours_ago);
    let in_flight = plant(
        b"image of an ingest still running elsewhere",
        std::time::SystemTime::now(),
    );
    std::fs::File::options()
        .write(true)
        .open(&kept)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    env.restart().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while orphan.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!orphan.exists(), "the orphan is removed at start");
    assert!(in_flight.exists(), "a recent unreferenced artifact is kept");
    assert_eq!(std::fs::read(&kept).unwrap(), image, "a referenced artifact is kept");
    let dev = env.device("dev-orphans", Some(CLASS));
    let (s, offer) = post_json(
        &dev,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"00".repeat(32), 0),
    )
    .await;
    assert_eq!(s, 200);
    let r = dev
        .get(env.url(offer["update"]["image"]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.finish().await;
}
