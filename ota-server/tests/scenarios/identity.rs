//! Device identity lifecycle (issue 16): EST enrolment checked with tools nobody here wrote
//! (`openssl req` makes the requests, `curl` speaks EST, `openssl pkcs7`, `verify` and `crl`
//! check the answers), proof of possession, revocation per certificate, the CRL.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use super::code;
use crate::bundles::CLASS;
use crate::harness::{checkin_body, post_json, Backend, Env};

/// Runs a command off the async workers (the server shares the runtime); panics with its
/// output unless it succeeds.
async fn run(mut cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{shown}: {e} (openssl and curl are installed by .ci/setup)"));
    assert!(
        out.status.success(),
        "{shown} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(args: &[&str]) -> Command {
    let mut c = Command::new("openssl");
    c.args(args);
    c
}

/// A P-256 key and a DER PKCS#10 request for it, made by `openssl req`: (key.pem, csr.der).
async fn openssl_csr(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (key, csr) = (dir.join(format!("{name}.key.pem")), dir.join(format!("{name}.csr.der")));
    run(openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={cn}"),
        "-keyout",
        key.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        csr.to_str().unwrap(),
    ]))
    .await;
    (key, csr)
}

/// A request for a key other than `key`'s (same subject), made by `openssl req`.
async fn openssl_csr_for_key(dir: &Path, key: &Path, name: &str, cn: &str) -> PathBuf {
    let csr = dir.join(format!("{name}.csr.der"));
    run(openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={cn}"),
        "-outform",
        "DER",
        "-out",
        csr.to_str().unwrap(),
    ]))
    .await;
    csr
}

/// EST as curl speaks it: `POST` the base64 request to `path`; the body written to `out`.
/// `auth`: `-H "Authorization: Bearer ..."`, or a client certificate and key. Returns the
/// HTTP status.
async fn curl_est(env: &Env, path: &str, csr_der: &Path, auth: CurlAuth<'_>, out: &Path) -> u16 {
    let b64 = csr_der.with_extension("b64");
    std::fs::write(&b64, base64_lines(&std::fs::read(csr_der).unwrap())).unwrap();
    let mut c = curl(env);
    c.args(["-o", out.to_str().unwrap(), "-w", "%{http_code}"]);
    c.args(["-H", "Content-Type: application/pkcs10", "--data-binary"]);
    c.arg(format!("@{}", b64.display()));
    match auth {
        CurlAuth::Token(t) => {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        CurlAuth::Certificate(cert, key) => {
            c.args(["--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
        }
    }
    c.arg(env.url(path));
    run(c).await.trim().parse().unwrap()
}

enum CurlAuth<'a> {
    Token(&'a str),
    Certificate(&'a Path, &'a Path),
}

fn curl(env: &Env) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--cacert"]);
    c.arg(env.dir().join("ca.pem"));
    c.args(["--resolve", &format!("localhost:{}:127.0.0.1", env.addr().port())]);
    c
}

/// Base64 in lines of 64, as a shell user's `base64 -w 64` writes it.
fn base64_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
        .collect()
}

/// An EST answer (base64 CMS certs-only) → PEM certificates, by `base64 -d` and
/// `openssl pkcs7 -print_certs`.
async fn certs_from_est(answer_b64: &Path, pem: &Path) {
    let der = answer_b64.with_extension("p7.der");
    let mut b = Command::new("base64");
    b.arg("-d").arg(answer_b64);
    let decoded = tokio::task::spawn_blocking(move || b.output()).await.unwrap().unwrap();
    assert!(
        decoded.status.success(),
        "base64 -d: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    std::fs::write(&der, decoded.stdout).unwrap();
    run(openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-print_certs",
        "-out",
        pem.to_str().unwrap(),
    ]))
    .await;
}

/// `openssl verify` of `cert` up to the fleet CA through the issuing CA: its last line.
async fn openssl_verify(env: &Env, cert: &Path, extra: &[&str]) -> (bool, String) {
    let dir = env.dir();
    let mut c = openssl(&["verify", "-CAfile", dir.join("ca.pem").to_str().unwrap()]);
    c.args(["-untrusted", dir.join("issuing-ca.pem").to_str().unwrap()]);
    c.args(extra);
    c.arg(cert);
    let out = tokio::task::spawn_blocking(move || c.output()).await.unwrap().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn enrollment_token(env: &Env, device: &str) -> String {
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/enrollment-tokens",
            Some(json!({"device_id": device, "class": CLASS})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// A device client from an EST-issued certificate and its openssl key.
fn device_client(env: &Env, cert: &Path, key: &Path) -> reqwest::Client {
    env.client_with(&ota_server::init::Issued {
        cert_pem: std::fs::read_to_string(cert).unwrap(),
        key_pem: std::fs::read_to_string(key).unwrap(),
    })
}

async fn checkin(client: &reqwest::Client, env: &Env) -> (u16, Value) {
    post_json(
        client,
        &env.url("/api/v1/device/checkin"),
        &checkin_body(&"ab".repeat(32), 0),
    )
    .await
}

/// What one device enrolled with a token and then re-enrolled holds: two certificates.
struct Enrolled {
    first: (PathBuf, PathBuf),
    second: (PathBuf, PathBuf),
}

/// Enrols `device` with a token, then re-enrols it with the first certificate, all with
/// openssl and curl; checks every answer with openssl.
async fn enrol_twice(env: &Env, device: &str) -> Enrolled {
    let tmp = env.dir();
    let token = enrollment_token(env, device).await;

    // cacerts: the issuing CA, which chains to the fleet CA.
    let cacerts = tmp.join("cacerts.b64");
    let mut c = curl(env);
    c.args(["-o", cacerts.to_str().unwrap(), "--fail-with-body"]);
    c.arg(env.url("/.well-known/est/cacerts"));
    run(c).await;
    let served_ca = tmp.join("served-ca.pem");
    certs_from_est(&cacerts, &served_ca).await;
    let served = run(openssl(&[
        "x509",
        "-in",
        served_ca.to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]))
    .await;
    let configured = run(openssl(&[
        "x509",
        "-in",
        tmp.join("issuing-ca.pem").to_str().unwrap(),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]))
    .await;
    assert_eq!(served, configured, "cacerts serves the issuing CA");

    // simpleenroll with the one-time token; the request's subject does not matter.
    let (key1, csr1) = openssl_csr(&tmp, &format!("{device}-1"), "whatever-the-device-says").await;
    let answer = tmp.join(format!("{device}-1.p7.b64"));
    assert_eq!(
        curl_est(
            env,
            "/.well-known/est/simpleenroll",
            &csr1,
            CurlAuth::Token(&token),
            &answer
        )
        .await,
        200,
        "{}",
        std::fs::read_to_string(&answer).unwrap_or_default()
    );
    let cert1 = tmp.join(format!("{device}-1.cert.pem"));
    certs_from_est(&answer, &cert1).await;
    let (ok, text) = openssl_verify(env, &cert1, &[]).await;
    assert!(ok, "openssl verify: {text}");
    let subject = run(openssl(&[
        "x509",
        "-in",
        cert1.to_str().unwrap(),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
    ]))
    .await;
    assert!(subject.contains(&format!("CN = {device}")), "{subject}");
    assert!(subject.contains(&format!("OU = {CLASS}")), "{subject}");
    assert!(
        subject.contains(&format!("URI:urn:fwsign:device:{device}")),
        "{subject}"
    );

    // The token was used once: a second enrolment with it is refused.
    let again = tmp.join(format!("{device}-again.json"));
    assert_eq!(
        curl_est(
            env,
            "/.well-known/est/simpleenroll",
            &csr1,
            CurlAuth::Token(&token),
            &again
        )
        .await,
        401
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(code(&v), "enrollment_token_invalid");

    // simplereenroll with the first certificate (curl's own TLS client) and a new key.
    let (key2, csr2) = openssl_csr(&tmp, &format!("{device}-2"), device).await;
    let answer = tmp.join(format!("{device}-2.p7.b64"));
    let status = curl_est(
        env,
        "/.well-known/est/simplereenroll",
        &csr2,
        CurlAuth::Certificate(&cert1, &key1),
        &answer,
    )
    .await;
    assert_eq!(status, 200, "{}", std::fs::read_to_string(&answer).unwrap_or_default());
    let cert2 = tmp.join(format!("{device}-2.cert.pem"));
    certs_from_est(&answer, &cert2).await;
    let (ok, text) = openssl_verify(env, &cert2, &[]).await;
    assert!(ok, "openssl verify: {text}");

    // Re-enrolling with the current key is refused: a rotation brings a new key.
    let same_key = openssl_csr_for_key(&tmp, &key2, &format!("{device}-same"), device).await;
    let refused = tmp.join(format!("{device}-same.json"));
    let status = curl_est(
        env,
        "/.well-known/est/simplereenroll",
        &same_key,
        CurlAuth::Certificate(&cert2, &key2),
        &refused,
    )
    .await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&std::fs::read(&refused).unwrap()).unwrap();
    assert_eq!(code(&v), "csr_subject_mismatch", "{v}");

    Enrolled {
        first: (cert1, key1),
        second: (cert2, key2),
    }
}

/// EST interop: openssl makes the requests, curl enrols and re-enrols, openssl checks the
/// answers; the issued certificates work as device certificates and are listed per device.
pub async fn est_openssl_client(backend: Backend) {
    let env = Env::with_enrollment(backend).await;
    let enrolled = enrol_twice(&env, "est-dev-1").await;
    for (cert, key) in [&enrolled.first, &enrolled.second] {
        let (s, v) = checkin(&device_client(&env, cert, key), &env).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = env
        .admin(Method::GET, "/api/v1/admin/devices/est-dev-1/certificates", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let certs = v.as_array().unwrap();
    assert_eq!(certs.len(), 2, "{v}");
    assert!(certs.iter().all(|c| c["issued_ms"].is_i64()), "{v}");
    // Both were used: the first is superseded by the second, refused after the grace window.
    let superseded: Vec<_> = certs.iter().filter(|c| !c["revoked_ms"].is_null()).collect();
    assert_eq!(superseded.len(), 1, "{v}");
    let first = openssl_serial(&enrolled.first.0).await.to_ascii_lowercase();
    assert_eq!(superseded[0]["serial"], first.as_str(), "{v}");
    let reason = superseded[0]["revoked_reason"].as_str().unwrap();
    assert!(reason.starts_with("superseded by "), "{v}");
    let metrics = env.metrics().await;
    for line in [
        // 90-day certificates with 30 days' notice: none is due yet.
        "ota_certificates_due_for_renewal 0",
        "ota_est_requests_total{operation=\"simpleenroll\",result=\"issued\"} 1",
        "ota_est_requests_total{operation=\"simplereenroll\",result=\"issued\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }
    // Enrolment is audited, with the certificate's serial.
    let (_, audit) = env.admin(Method::GET, "/api/v1/admin/audit", None).await;
    let issued = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["action"] == "certificate.issue" && a["target"].as_str().unwrap().starts_with("device:est-dev-1/")
        })
        .count();
    assert_eq!(issued, 2, "{audit}");
    env.finish().await;
}

/// Attack: a request for a key the client does not hold (its signature made with another key).
/// Refused with `csr_proof_of_possession`; the token is not used up by a refused request.
pub async fn est_proof_of_possession(backend: Backend) {
    let env = Env::with_enrollment(backend).await;
    let tmp = env.dir();
    let token = enrollment_token(&env, "pop-dev").await;
    // Request B (key B), with key A's public key spliced in: it claims A, signed by B.
    let (key_a, csr_a) = openssl_csr(&tmp, "pop-a", "pop-dev").await;
    let (_, csr_b) = openssl_csr(&tmp, "pop-b", "pop-dev").await;
    let spki = |key: &Path| {
        let mut c = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout", "-outform", "DER"]);
        c.output().unwrap().stdout
    };
    let spki_a = spki(&key_a);
    let spki_b = spki(&tmp.join("pop-b.key.pem"));
    let mut forged = std::fs::read(&csr_b).unwrap();
    let at = forged
        .windows(spki_b.len())
        .position(|w| w == spki_b.as_slice())
        .expect("the request carries its SPKI");
    forged[at..at + spki_a.len()].copy_from_slice(&spki_a);
    let forged_path = tmp.join("pop-forged.csr.der");
    std::fs::write(&forged_path, &forged).unwrap();
    // openssl agrees the forgery's signature does not verify (OpenSSL 3.0 says so, exit 0).
    let mut check = openssl(&[
        "req",
        "-inform",
        "DER",
        "-in",
        forged_path.to_str().unwrap(),
        "-noout",
        "-verify",
    ]);
    let out = check.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("verify failure"),
        "openssl accepted the forged request: {said}"
    );

    let out = tmp.join("pop.json");
    let status = curl_est(
        &env,
        "/.well-known/est/simpleenroll",
        &forged_path,
        CurlAuth::Token(&token),
        &out,
    )
    .await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(code(&v), "csr_proof_of_possession", "{v}");
    // Not a request at all.
    let junk = tmp.join("junk.der");
    std::fs::write(&junk, b"not a certification request").unwrap();
    assert_eq!(
        curl_est(
            &env,
            "/.well-known/est/simpleenroll",
            &junk,
            CurlAuth::Token(&token),
            &out
        )
        .await,
        400
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(code(&v), "csr_malformed", "{v}");
    // Nothing was issued, and the token still works for an honest request.
    let (s, v) = env
        .admin(Method::GET, "/api/v1/admin/devices/pop-dev/certificates", None)
        .await;
    assert_eq!((s, code(&v)), (404, "device_not_found"), "{v}");
    let answer = tmp.join("pop-good.p7.b64");
    assert_eq!(
        curl_est(
            &env,
            "/.well-known/est/simpleenroll",
            &csr_a,
            CurlAuth::Token(&token),
            &answer
        )
        .await,
        200
    );
    let metrics = env.metrics().await;
    let line = "ota_est_requests_total{operation=\"simpleenroll\",result=\"no_proof_of_possession\"} 1";
    assert!(metrics.contains(line), "{line} missing from /metrics");
    env.finish().await;
}

/// `openssl x509 -serial` of a PEM certificate: the upper-case hex after `serial=`.
async fn openssl_serial(cert: &Path) -> String {
    let out = run(openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-serial"])).await;
    out.trim().strip_prefix("serial=").unwrap().to_owned()
}

/// Revoking one of a device's two certificates (by the serial openssl prints) refuses that one,
/// closes its open connection, and leaves the other working.
pub async fn revoke_serial(backend: Backend) {
    let env = Env::with_enrollment(backend).await;
    let enrolled = enrol_twice(&env, "two-certs").await;
    let first = device_client(&env, &enrolled.first.0, &enrolled.first.1);
    let second = device_client(&env, &enrolled.second.0, &enrolled.second.1);
    assert_eq!(checkin(&first, &env).await.0, 200);
    assert_eq!(checkin(&second, &env).await.0, 200);
    let serial = openssl_serial(&enrolled.first.0).await;
    let (s, v) = env
        .admin(
            Method::POST,
            &format!("/api/v1/admin/devices/two-certs/certificates/{serial}/revoke"),
            None,
        )
        .await;
    let revoked_at = std::time::Instant::now();
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["serial"].as_str().unwrap(),
        serial.to_ascii_lowercase().trim_start_matches("00")
    );
    assert!(v["revoked_ms"].is_i64(), "{v}");
    // The first certificate's keep-alive connection is closed at once...
    let scraper = env.anon();
    while !env
        .metrics_via(&scraper)
        .await
        .contains("ota_device_connections_closed_total{reason=\"inactive\"} 1")
    {
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "the revoked certificate's open connection was not closed within a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eprintln!(
        "revoke_serial: the certificate's open connection closed {} ms after the revocation returned",
        revoked_at.elapsed().as_millis()
    );
    // ... and a new one is refused.
    let (s, v) = checkin(&first, &env).await;
    assert_eq!((s, code(&v)), (403, "certificate_revoked"), "{v}");
    let (s, v) = checkin(&second, &env).await;
    assert_eq!(s, 200, "the device's other certificate keeps working: {v}");
    // Not a serial at all: refused with a clear code.
    let (s, v) = env
        .admin(
            Method::POST,
            "/api/v1/admin/devices/two-certs/certificates/xyz/revoke",
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (400, "invalid_serial"), "{v}");
    let other = env.device("other", Some(CLASS));
    assert_eq!(checkin(&other, &env).await.0, 200);
    let (s, v) = env
        .admin(
            Method::POST,
            &format!("/api/v1/admin/devices/other/certificates/{serial}/revoke"),
            None,
        )
        .await;
    // Serials are unique per issuer only: revoking that serial for another device records it
    // for that device (a certificate of another issuer may carry it) and touches nothing else.
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["device_id"].as_str(), v["issued_ms"].is_null()),
        (Some("other"), true),
        "{v}"
    );
    assert_eq!(checkin(&other, &env).await.0, 200);
    assert_eq!(checkin(&second, &env).await.0, 200);
    env.finish().await;
}

/// The CRL: DER, signed by the issuing CA (openssl verifies it), listing the revoked serial
/// and only it; `openssl verify -crl_check` then refuses that certificate and accepts the other.
pub async fn crl_openssl(backend: Backend) {
    let env = Env::with_enrollment(backend).await;
    let tmp = env.dir();
    let enrolled = enrol_twice(&env, "crl-dev").await;
    let serial = openssl_serial(&enrolled.first.0).await;
    let (s, v) = env
        .admin(
            Method::POST,
            &format!("/api/v1/admin/devices/crl-dev/certificates/{serial}/revoke"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let crl = tmp.join("fleet.crl");
    let mut c = curl(&env);
    c.args(["--fail-with-body", "-o", crl.to_str().unwrap()]);
    c.arg(env.url("/crl"));
    run(c).await;
    let issuing = tmp.join("issuing-ca.pem");
    let mut verify = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-noout",
        "-verify",
        "-CAfile",
    ]);
    verify.arg(&issuing);
    let out = tokio::task::spawn_blocking(move || verify.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("verify OK"),
        "openssl crl -verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = run(openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-noout",
        "-text",
    ]))
    .await;
    assert!(
        text.contains(&format!("Serial Number: {serial}")),
        "{serial} not in the CRL:\n{text}"
    );
    assert_eq!(text.matches("Serial Number:").count(), 1, "{text}");
    assert!(text.contains("Next Update:"), "{text}");
    // openssl as a relying party with the CRL: the revoked certificate fails, the other passes.
    let crl_pem = tmp.join("fleet.crl.pem");
    run(openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-out",
        crl_pem.to_str().unwrap(),
    ]))
    .await;
    let with_crl = ["-crl_check", "-CRLfile", crl_pem.to_str().unwrap()];
    let (ok, text) = openssl_verify(&env, &enrolled.first.0, &with_crl).await;
    assert!(!ok && text.contains("revoked"), "{text}");
    let (ok, text) = openssl_verify(&env, &enrolled.second.0, &with_crl).await;
    assert!(ok, "{text}");
    env.finish().await;
}

/// Rotation: a certificate inside `renew_before_days` of its expiry is told to renew; the
/// device re-enrols with it (curl) and gets a certificate that is not due; the old certificate
/// keeps working until the grace window after the new one's first use has passed, then it is
/// refused.
pub async fn rotation_grace_window(backend: Backend) {
    let env = Env::with_enrollment_as(backend, |e| e.rotation_grace_s = 2).await;
    let tmp = env.dir();
    // A fleet-CA certificate with 10 days left (renewal is due 30 days ahead).
    let short = env.ca.issue_device_for("rotating", Some(CLASS), Some(10)).unwrap();
    let (old_cert, old_key) = (tmp.join("rotating-0.pem"), tmp.join("rotating-0.key"));
    std::fs::write(&old_cert, &short.cert_pem).unwrap();
    std::fs::write(&old_key, &short.key_pem).unwrap();
    let old = env.client_with(&short);
    let (s, v) = checkin(&old, &env).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["renew_certificate"], true, "{v}");
    let (new_key, csr) = openssl_csr(&tmp, "rotating-1", "rotating").await;
    let answer = tmp.join("rotating-1.p7.b64");
    let status = curl_est(
        &env,
        "/.well-known/est/simplereenroll",
        &csr,
        CurlAuth::Certificate(&old_cert, &old_key),
        &answer,
    )
    .await;
    assert_eq!(status, 200, "{}", std::fs::read_to_string(&answer).unwrap_or_default());
    let new_cert = tmp.join("rotating-1.pem");
    certs_from_est(&answer, &new_cert).await;
    let new = device_client(&env, &new_cert, &new_key);
    // The new certificate (90 days) is not due; its first use starts the grace window.
    let first_use = std::time::Instant::now();
    let (s, v) = checkin(&new, &env).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("renew_certificate").is_none(), "{v}");
    let (s, v) = checkin(&old, &env).await;
    if first_use.elapsed() < std::time::Duration::from_millis(1500) {
        assert_eq!(s, 200, "the old certificate works inside the grace window: {v}");
    }
    // But it may not renew any more: its holder could mint certificates that outlive it.
    let (_, csr2) = openssl_csr(&tmp, "rotating-2", "rotating").await;
    let refused = tmp.join("rotating-2.json");
    let status = curl_est(
        &env,
        "/.well-known/est/simplereenroll",
        &csr2,
        CurlAuth::Certificate(&old_cert, &old_key),
        &refused,
    )
    .await;
    let v: Value = serde_json::from_slice(&std::fs::read(&refused).unwrap()).unwrap();
    assert_eq!((status, code(&v)), (403, "certificate_revoked"), "{v}");
    let (s, v) = env
        .admin(Method::GET, "/api/v1/admin/devices/rotating/certificates", None)
        .await;
    assert_eq!(s, 200);
    let serial = openssl_serial(&old_cert).await.to_ascii_lowercase();
    let old_row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .unwrap_or_else(|| panic!("{serial} not listed: {v}"))
        .clone();
    assert!(
        old_row["revoked_reason"]
            .as_str()
            .unwrap()
            .starts_with("superseded by "),
        "{old_row}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, v) = checkin(&old, &env).await;
    assert_eq!((s, code(&v)), (403, "certificate_revoked"), "{v}");
    assert_eq!(checkin(&new, &env).await.0, 200);
    env.finish().await;
}
