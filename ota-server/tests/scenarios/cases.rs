//! The scenarios (each takes the backend; see `both_backends!`).

use base64::Engine as _;
use device_verifier::release::{
    bind_image, verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError,
};
use device_verifier::{ImagePolicy, SliceFlash, TrustedKey};
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use futures_util::StreamExt as _;
use ota_server::config::Limits;
use ota_server::domain::ingest::ClassRef;
use reqwest::Method;
use serde_json::{json, Value};

use super::bundles::{self, Upload, CLASS, VENDOR};
use super::harness::{checkin_body, post_json, sha256_hex, staging_files, stored_artifacts, Backend, Env};

struct Fresh;

impl RollbackStore for Fresh {
    fn sequence(&self) -> u64 {
        0
    }
    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What a device does with an offer: verify the envelope, then bind the downloaded image.
fn device_accepts(envelope: &[u8], image: &[u8]) {
    let mspki = bundles::manifest_key().verifying_key().to_public_key_der().unwrap();
    let ispki = signer::keys::load_public_spki(&bundles::image_pub_pem_path()).unwrap();
    let mkeys = [TrustedKey::from_spki(mspki.as_bytes()).unwrap()];
    let ikeys = [TrustedKey::from_spki(&ispki).unwrap()];
    let class = ClassRef::derive(CLASS, VENDOR);
    let policy = ManifestPolicy::new(&mkeys, class.vendor_id, class.class_id);
    let release = verify_envelope(envelope, &policy, &Fresh).expect("device verifies the envelope");
    let mut buf = [0u8; 4096];
    bind_image(
        &release,
        &mut SliceFlash::new(image),
        &ImagePolicy {
            trusted_keys: &ikeys,
            security_counter_floor: None,
        },
        &mut buf,
    )
    .expect("device binds the image");
}

async fn download(client: &reqwest::Client, env: &Env, url: &str) -> Vec<u8> {
    let r = client.get(env.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

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
    let metrics = env
        .anon()
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    // tamper: one flipped bit in the signature (last bytes of the auth wrapper are covered).
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
    let (s, _) = post_json(&dev, &env.url("/api/v1/device/status"), &json!({"status": "committed"})).await;
    assert_eq!(s, 204);
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/dev-retire/decommission", None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "decommissioned");
    let (s, v) = post_json(&dev, &checkin, &checkin_body(&"11".repeat(32), 3)).await;
    assert_eq!((s, code(&v)), (403, "device_decommissioned"));
    let (_, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-retire", None).await;
    assert_eq!(v["device"]["running_sha256"], "11".repeat(32));
    let statuses: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["decommissioned", "committed"]);
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/devices/nope/decommission", None)
        .await;
    assert_eq!((s, code(&v)), (404, "device_not_found"));
    env.finish().await;
}

pub async fn auth_and_roles(backend: Backend) {
    let env = Env::new(backend).await;
    let upload = Upload::of(&bundles::release(bundles::fixture_image("fw-v1.signed.bin"), 1));
    let viewer = env.token("viewer").await;
    let manager = env.token("release-manager").await;

    // No token / a wrong token.
    let r = env.anon().get(env.url("/api/v1/admin/releases")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(code(&r.json().await.unwrap()), "missing_token");
    let (s, v) = env
        .admin_as("ota_wrong", Method::GET, "/api/v1/admin/releases", None)
        .await;
    assert_eq!((s, code(&v)), (401, "invalid_token"));

    // viewer: read only.
    assert_eq!(
        env.admin_as(&viewer, Method::GET, "/api/v1/admin/releases", None)
            .await
            .0,
        200
    );
    let (s, v) = env.upload_as(&viewer, &upload).await;
    assert_eq!((s, code(&v)), (403, "insufficient_role"));
    // Not multipart, and a bad query string: JSON errors with codes, not plain text.
    let r = env
        .anon()
        .post(env.url("/api/v1/admin/releases"))
        .bearer_auth(&manager)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(code(&r.json().await.unwrap()), "bundle_malformed");
    let (s, v) = env
        .admin_as(&viewer, Method::GET, "/api/v1/admin/devices?limit=lots", None)
        .await;
    assert_eq!((s, code(&v)), (400, "invalid_query"));
    // release-manager: uploads, but cannot revoke or mint tokens.
    let (s, v) = env.upload_as(&manager, &upload).await;
    assert_eq!(s, 201, "{v}");
    let dev = env.device("dev-auth", Some(CLASS));
    assert_eq!(
        post_json(
            &dev,
            &env.url("/api/v1/device/checkin"),
            &checkin_body(&"00".repeat(32), 0)
        )
        .await
        .0,
        200
    );
    let (s, v) = env
        .admin_as(&manager, Method::POST, "/api/v1/admin/devices/dev-auth/revoke", None)
        .await;
    assert_eq!((s, code(&v)), (403, "insufficient_role"));
    let (s, _) = env
        .admin_as(
            &manager,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "x", "role": "admin"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = env.admin_as(&viewer, Method::GET, "/api/v1/admin/audit", None).await;
    assert_eq!(s, 403);

    // Devices: no certificate → 401; a certificate from another CA fails the handshake.
    let (s, v) = post_json(
        &env.anon(),
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"00".repeat(32), 0),
    )
    .await;
    assert_eq!((s, code(&v)), (401, "client_certificate_required"));
    let foreign = ota_server::init::DevCa::generate()
        .unwrap()
        .issue_device("dev-evil", Some(CLASS))
        .unwrap();
    let evil = env.client_with(&foreign);
    assert!(evil
        .post(env.url("/api/v1/device/checkin"))
        .json(&checkin_body(&"00".repeat(32), 0))
        .send()
        .await
        .is_err());
    // Device certificates do not open the admin API.
    let r = dev.get(env.url("/api/v1/admin/releases")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Audit: who, what, result — for every mutating call, refused ones included.
    let (_, audit) = env.admin(Method::GET, "/api/v1/admin/audit", None).await;
    let entries: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["actor"].as_str().unwrap().to_owned(),
                a["action"].as_str().unwrap().to_owned(),
                a["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(entries
        .iter()
        .any(|(who, what, res)| who.starts_with("token:release-manager") && what == "release.upload" && res == "ok"));
    assert!(entries
        .iter()
        .any(|(who, what, res)| who.starts_with("token:release-manager")
            && what == "device.revoke"
            && res == "error:insufficient_role"));
    assert!(entries.iter().any(|(_, what, _)| what == "token.create"));
    assert!(entries.iter().any(|(who, what, res)| who.starts_with("token:viewer")
        && what == "release.upload"
        && res == "error:insufficient_role"));
    assert!(!audit.to_string().contains(&manager), "secrets never in the audit log");
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
    // Oversized JSON body.
    let big = format!(
        r#"{{"class": "{}", "running": {{"digest": "00", "sequence": 0}}}}"#,
        "a".repeat(200_000)
    );
    let r = dev
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A device without a class anywhere must name one.
    let nameless = env.device("dev-noclass", None);
    let (s, v) = post_json(&nameless, &url, &checkin_body(&"00".repeat(32), 0)).await;
    assert_eq!((s, code(&v)), (400, "device_class_required"));
    let (s, v) = post_json(
        &nameless,
        &url,
        &json!({"class": "toaster", "running": {"digest": "00".repeat(32), "sequence": 0}}),
    )
    .await;
    assert_eq!((s, code(&v)), (400, "unknown_device_class"));
    let (s, _) = post_json(
        &nameless,
        &url,
        &json!({"class": "gateway", "running": {"digest": "00".repeat(32), "sequence": 0}}),
    )
    .await;
    assert_eq!(s, 200);
    // Unknown routes and bad status reports.
    let r = dev.get(env.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(code(&r.json().await.unwrap()), "not_found");
    let (s, v) = post_json(&dev, &env.url("/api/v1/device/status"), &json!({"status": "exploded"})).await;
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

pub async fn restart_keeps_state(backend: Backend) {
    let mut env = Env::new(backend).await;
    let v1 = bundles::fixture_image("fw-v1.signed.bin");
    assert_eq!(env.upload(&Upload::of(&bundles::release(v1.clone(), 1))).await.0, 201);
    let url = env.url("/api/v1/device/checkin");
    let body = checkin_body(&"00".repeat(32), 0);
    assert_eq!(post_json(&env.device("dev-a", Some(CLASS)), &url, &body).await.0, 200);
    assert_eq!(post_json(&env.device("dev-b", Some(CLASS)), &url, &body).await.0, 200);
    assert_eq!(
        env.admin(Method::POST, "/api/v1/admin/devices/dev-b/revoke", None)
            .await
            .0,
        200
    );

    // The artifacts are where the configured backend keeps them.
    let objects = env.data_dir().join("../objects/sha256");
    if backend == Backend::SqliteObjectStore {
        assert_eq!(
            std::fs::read_dir(&objects).unwrap().count(),
            2,
            "envelope + image in the object store"
        );
        assert_eq!(stored_artifacts(&env), 0);
    } else {
        assert!(!objects.exists());
        assert_eq!(stored_artifacts(&env), 2);
    }

    env.restart().await;

    let (s, v) = post_json(&env.device("dev-a", Some(CLASS)), &url, &body).await;
    assert_eq!(s, 200);
    assert_eq!(v["update"]["sequence"], 1);
    let image = download(
        &env.device("dev-a", Some(CLASS)),
        &env,
        v["update"]["image"]["url"].as_str().unwrap(),
    )
    .await;
    assert_eq!(image, v1);
    let (s, v) = post_json(&env.device("dev-b", Some(CLASS)), &url, &body).await;
    assert_eq!((s, code(&v)), (403, "device_revoked"));
    // The sequence floor survived too.
    let (s, _) = env.upload(&Upload::of(&bundles::release(v1, 1))).await;
    assert_eq!(s, 409);
    let (_, devices) = env.admin(Method::GET, "/api/v1/admin/devices", None).await;
    assert_eq!(devices.as_array().unwrap().len(), 2);
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
    let reports = [
        json!({"status": "downloading", "release_id": release_id}),
        json!({"status": "downloaded", "release_id": release_id}),
        json!({"status": "verified", "release_id": release_id}),
        json!({"status": "installing", "release_id": release_id}),
        json!({"status": "rebooted", "release_id": release_id}),
        json!({"status": "failed", "release_id": release_id, "reason": "watchdog"}),
        json!({"status": "rolled-back", "release_id": release_id}),
        json!({"status": "committed", "release_id": release_id}),
    ];
    for r in &reports {
        let (s, v) = post_json(&dev, &url, r).await;
        assert_eq!(s, 204, "{r} {v}");
    }
    let (_, v) = env.admin(Method::GET, "/api/v1/admin/devices/dev-status", None).await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), reports.len());
    assert_eq!(events[0]["status"], "committed");
    assert_eq!(events[2]["reason"], "watchdog");
    assert_eq!(v["device"]["last_status"], "committed");
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
