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
                expires_in_seconds: None,
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

/// Makes a token through the API.
async fn make_token(
    env: &Env,
    name: &str,
    role: Role,
    expires_in_seconds: Option<u64>,
) -> ota_protocol::admin::CreatedToken {
    let request = NewToken {
        name: name.into(),
        role,
        expires_in_seconds,
    };
    env.client().create_token(&request).await.unwrap()
}

/// A GET of the release list with `token`: (status, error code or "").
async fn use_token(env: &Env, token: &str) -> (u16, String) {
    let r = env
        .anon()
        .get(env.url("/api/v1/admin/releases"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

/// Attack: a leaked admin token stayed valid until someone edited the database. An admin lists
/// tokens (never their secrets) and revokes one: its very next request is refused, on an open
/// connection too; the revocation is audited and the token stays listed.
pub async fn token_revoked(backend: Backend) {
    let env = Env::new(backend).await;
    let leaked = make_token(&env, "leaked-ci", Role::RELEASE_MANAGER, None).await;
    let keep = make_token(&env, "kept", Role::VIEWER, None).await;
    let conn = env.anon();
    let get = |token: String| {
        let conn = conn.clone();
        let url = env.url("/api/v1/admin/releases");
        async move {
            let r = conn.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }
    };
    assert_eq!(get(leaked.token.clone()).await.0, 200, "works before");
    let listed = env.client().tokens().await.unwrap();
    let row = listed.iter().find(|t| t.id == leaked.id).unwrap();
    assert_eq!(row.name, "leaked-ci");
    assert!(row.last_used_ms.is_some(), "last use recorded: {row:?}");
    assert!(row.revoked_ms.is_none());
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&leaked.token), "a listing never shows a secret");

    let revoked = env.client().revoke_token(leaked.id).await.unwrap();
    assert!(revoked.revoked_ms.is_some());
    assert_eq!(
        get(leaked.token.clone()).await,
        (401, "token_revoked".into()),
        "same connection, next request"
    );
    assert_eq!(use_token(&env, &leaked.token).await, (401, "token_revoked".into()));
    assert_eq!(use_token(&env, &keep.token).await.0, 200, "other tokens unaffected");
    // Only an admin revokes; an unknown id is 404.
    let (s, v) = env
        .admin_as(
            &keep.token,
            Method::POST,
            &format!("/api/v1/admin/tokens/{}/revoke", keep.id),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (403, "insufficient_role"));
    let (s, v) = env
        .admin(Method::POST, "/api/v1/admin/tokens/999999/revoke", None)
        .await;
    assert_eq!((s, code(&v)), (404, "token_not_found"));
    let listed = env.client().tokens().await.unwrap();
    assert!(listed.iter().find(|t| t.id == leaked.id).unwrap().revoked_ms.is_some());
    let audit = env.client().audit().await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "token.revoke" && a.target == format!("token#{}", leaked.id) && a.result == "ok"),
        "{audit:?}"
    );
    env.finish().await;
}

/// A token made with a lifetime stops working when it ends (`token_expired`); tokens below
/// admin get 90 days unless told otherwise, admin tokens none; a lifetime of 0 is refused.
pub async fn token_expired(backend: Backend) {
    let env = Env::new(backend).await;
    let short = make_token(&env, "short", Role::VIEWER, Some(1)).await;
    assert_eq!(use_token(&env, &short.token).await.0, 200);
    let default_viewer = make_token(&env, "default-viewer", Role::VIEWER, None).await;
    let created = short.expires_ms.unwrap() - 1000;
    let lifetime = default_viewer.expires_ms.unwrap() - created;
    assert!(
        (90 * 86_400_000 - 60_000..=90 * 86_400_000 + 60_000).contains(&lifetime),
        "90 days: {lifetime} ms"
    );
    assert_eq!(make_token(&env, "ops", Role::ADMIN, None).await.expires_ms, None);
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            body(&NewToken {
                name: "never".into(),
                role: Role::VIEWER,
                expires_in_seconds: Some(0),
            }),
        )
        .await;
    assert_eq!((s, code(&v)), (400, "invalid_expiry"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(use_token(&env, &short.token).await, (401, "token_expired".into()));
    assert_eq!(use_token(&env, &default_viewer.token).await.0, 200);
    env.finish().await;
}

/// Guessing admin tokens: every refused authentication is counted in
/// `ota_admin_auth_failures_total`, and audited (`auth.failed`, never the secret), up to a
/// rate, so a guessing attack cannot fill the audit log.
pub async fn failed_login_audited(backend: Backend) {
    let env = Env::new(backend).await;
    let guesses: Vec<String> = (0..100).map(|i| format!("ota_guess{i:04}")).collect();
    for g in &guesses {
        assert_eq!(use_token(&env, g).await, (401, "invalid_token".into()));
    }
    let metrics = &env.server.as_ref().unwrap().metrics;
    assert_eq!(metrics.total("ota_admin_auth_failures_total"), 100);
    let audit = env.client().audit().await.unwrap();
    let failed: Vec<_> = audit.iter().filter(|a| a.action == "auth.failed").collect();
    assert!(
        (20..=25).contains(&failed.len()),
        "audited up to the rate (20 at once): {}",
        failed.len()
    );
    for a in &failed {
        assert_eq!(a.actor, "unauthenticated");
        assert_eq!(a.result, "error:invalid_token");
        assert!(a.target.starts_with("token:sha256:"), "{a:?}");
        assert!(
            guesses.iter().all(|g| !a.target.contains(g.as_str())),
            "never the secret"
        );
    }
    // /metrics shows the counter by reason.
    let text = env.metrics().await;
    assert!(
        text.contains(r#"ota_admin_auth_failures_total{reason="invalid_token"} 100"#),
        "{text}"
    );
    env.finish().await;
}

/// `/metrics` showed rollout state and fleet counts to anyone. With `metrics_auth = "token"`
/// (what `ota-server init` writes) a scrape needs an admin token (viewer is enough).
pub async fn metrics_need_a_token_when_configured(backend: Backend) {
    let mut env = Env::new(backend).await;
    let url = env.url("/metrics");
    assert_eq!(
        env.anon().get(&url).send().await.unwrap().status(),
        200,
        "public by default"
    );
    env.config.metrics_auth = ota_server::config::MetricsAuth::Token;
    env.restart().await;
    let r = env.anon().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(code(&r.json().await.unwrap()), "missing_token");
    let r = env.anon().get(&url).bearer_auth("ota_wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let viewer = env.token("viewer").await;
    let r = env.anon().get(&url).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("ota_admin_auth_failures_total"));
    env.finish().await;
}

/// Registration policy (issue 16): a class with `registration = "allowlist"` registers only
/// device ids an operator listed ahead (an unlisted one is refused with a clear code and leaves
/// no row; a device without OU cannot dodge the list); the deny list refuses a recalled id at
/// first contact and revokes a stolen unit that is already registered. Every change is audited.
pub async fn registration_policy(backend: Backend) {
    use ota_protocol::admin::{NewRegistrationEntries, NewRegistrationEntry};
    let env = Env::configured(backend, |c| {
        let gateway = c.classes.iter_mut().find(|c| c.name == "gateway").unwrap();
        gateway.registration = ota_server::domain::registration::RegistrationPolicy::Allowlist;
    })
    .await;
    let store = env.server.as_ref().unwrap().store.clone();
    let checkin = |id: &str, class: Option<&str>| {
        let client = env.device(id, class);
        let url = env.url("/api/v1/device/checkin");
        async move { post_json(&client, &url, &checkin_body(&"00".repeat(32), 0)).await }
    };
    let entries = |list: &[(&str, Option<&str>)]| NewRegistrationEntries {
        entries: list
            .iter()
            .map(|(id, class)| NewRegistrationEntry {
                device_id: (*id).into(),
                class: class.map(str::to_owned),
                note: Some("batch 7".into()),
            })
            .collect(),
    };
    let add = |list: &'static str, entries: NewRegistrationEntries| {
        let env = &env;
        async move {
            env.admin(
                Method::POST,
                &format!("/api/v1/admin/registration/{list}"),
                body(&entries),
            )
            .await
        }
    };

    // Allow list: an unlisted gateway is refused and not registered.
    let (s, v) = checkin("gw-1", Some("gateway")).await;
    assert_eq!((s, code(&v)), (403, "device_not_allowed"), "{v}");
    assert!(store.device("gw-1").await.unwrap().is_none());
    // Only an admin lists devices; a bad entry stores nothing.
    let viewer = env.token("viewer").await;
    let (s, _) = env
        .admin_as(
            &viewer,
            Method::POST,
            "/api/v1/admin/registration/allow",
            body(&entries(&[("gw-1", None)])),
        )
        .await;
    assert_eq!(s, 403);
    for bad in [
        entries(&[("gw-1", None), ("bad id", None)]),
        entries(&[("gw-1", Some("toaster"))]),
        entries(&[]),
    ] {
        let (s, v) = add("allow", bad).await;
        assert_eq!((s, code(&v)), (400, "invalid_registration_entry"), "{v}");
    }
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/registration/allow", None).await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 0), "nothing stored: {v}");
    // Listed: it registers; an OU-less device listed with a class registers in that class.
    let (s, v) = add("allow", entries(&[("gw-1", None), ("gw-2", Some("gateway"))])).await;
    assert_eq!((s, v["added"].as_u64()), (200, Some(2)), "{v}");
    let (s, v) = checkin("gw-1", Some("gateway")).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = checkin("nameless", None).await;
    assert_eq!(
        (s, code(&v)),
        (403, "device_not_allowed"),
        "no OU does not dodge the allow list: {v}"
    );
    let (s, v) = checkin("gw-2", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        store.device("gw-2").await.unwrap().unwrap().class.as_deref(),
        Some("gateway")
    );
    // The open class is still open.
    let (s, _) = checkin("dev-stolen", Some(CLASS)).await;
    assert_eq!(s, 200);

    // Deny list: a registered unit is revoked at once, an unregistered one never registers.
    let (s, v) = add("deny", entries(&[("dev-stolen", None), ("dev-recalled", None)])).await;
    assert_eq!((s, v["added"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(v["revoked"], json!(["dev-stolen"]), "{v}");
    let (s, v) = checkin("dev-stolen", Some(CLASS)).await;
    assert_eq!((s, code(&v)), (403, "device_revoked"), "{v}");
    let (s, v) = checkin("dev-recalled", Some(CLASS)).await;
    assert_eq!((s, code(&v)), (403, "device_denied"), "{v}");
    assert!(store.device("dev-recalled").await.unwrap().is_none());
    // Denied wins over allowed.
    let (s, _) = add("allow", entries(&[("gw-3", None)])).await;
    assert_eq!(s, 200);
    let (s, _) = add("deny", entries(&[("gw-3", None)])).await;
    assert_eq!(s, 200);
    let (s, v) = checkin("gw-3", Some("gateway")).await;
    assert_eq!((s, code(&v)), (403, "device_denied"), "{v}");

    // Listing, removal, audit.
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/registration/deny", None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dev-recalled", "dev-stolen", "gw-3"]);
    assert_eq!(v[0]["note"], "batch 7");
    let (s, _) = env
        .admin(Method::DELETE, "/api/v1/admin/registration/deny/dev-recalled", None)
        .await;
    assert_eq!(s, 204);
    let (s, v) = env
        .admin(Method::DELETE, "/api/v1/admin/registration/deny/dev-recalled", None)
        .await;
    assert_eq!((s, code(&v)), (404, "registration_entry_not_found"));
    let (s, v) = env.admin(Method::GET, "/api/v1/admin/registration/neither", None).await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = checkin("dev-recalled", Some(CLASS)).await;
    assert_eq!(s, 200, "off the deny list, an open class registers it");
    let (_, log) = env.admin(Method::GET, "/api/v1/admin/audit", None).await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "registration.allow.add",
        "registration.deny.add",
        "device.revoke",
        "registration.deny.remove",
    ] {
        assert!(actions.contains(&a), "{a} audited: {actions:?}");
    }
    env.finish().await;
}
