//! `ota-server init` writes a configuration that starts as is: dev CA, server certificate,
//! trusted keys, SQLite database and an admin token that works.

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ota_server::config::{Config, DeviceClass};
use ota_server::init::{init, DevCa, InitOptions};

#[tokio::test]
async fn init_writes_a_config_that_serves() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mpub = dir.path().join("manifest.pub.pem");
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    std::fs::write(
        &mpub,
        key.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    let home = dir.path().join("server");
    let token = init(&InitOptions {
        dir: home.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        image_keys: vec![repo.join("fixtures/keys/test-only-ed25519-a.pub.pem")],
        manifest_keys: vec![mpub],
        classes: vec![DeviceClass {
            name: "sensor-v2".into(),
            vendor_domain: "example.com".into(),
            registration: Default::default(),
        }],
    })
    .await
    .unwrap();
    assert!(token.starts_with("ota_"));
    // Never overwrites.
    assert!(init(&InitOptions {
        dir: home.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        image_keys: vec![],
        manifest_keys: vec![],
        classes: vec![],
    })
    .await
    .is_err());
    let config = Config::load(&home.join("ota-server.toml")).unwrap();
    let server = ota_server::start(config).await.unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(home.join("tls/fleet-ca.pem")).unwrap()).unwrap();
    let device = DevCa::load(&std::fs::read_to_string(home.join("tls/fleet-ca.key")).unwrap())
        .unwrap()
        .issue_device("dev-init", Some("sensor-v2"))
        .unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(format!("{}{}", device.cert_pem, device.key_pem).as_bytes()).unwrap())
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    let r = client
        .get(format!("{base}/api/v1/admin/releases"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{base}/api/v1/device/checkin"))
        .json(&ota_protocol::device::CheckinRequest::new("00".repeat(32), None, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["update"],
        serde_json::Value::Null
    );
    server.shutdown().await;
}
