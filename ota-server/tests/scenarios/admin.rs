//! Scenarios: admin.

use ota_protocol::admin::{NewToken, Role};
use reqwest::Method;
use serde_json::json;

use super::{code, download};
use crate::bundles::{self, Upload, CLASS};
use crate::harness::{body, checkin_body, post_json, stored_artifacts, Backend, Env};

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
    // Not multipart (deliberately JSON), and a bad query string: JSON errors with codes, not
    // plain text.
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
            body(&NewToken {
                name: "x".into(),
                role: Role::ADMIN,
            }),
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
