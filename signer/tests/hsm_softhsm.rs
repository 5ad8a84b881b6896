//! HSM signing against a real SoftHSM2 token (Debian's `softhsm2`; each test makes its own token
//! store in a temp dir through SOFTHSM2_CONF): keys generated in the token sign images imgtool
//! accepts, an imported key signs byte-identically to the same key file, private keys cannot be
//! read out, every failure names its cause with exit 2, and every signature is audited.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::softhsm::{SoftHsm, USER_PIN};
use common::*;

const TOKEN: &str = "fw-release";

fn input() -> PathBuf {
    samples().join("input-4k.bin")
}

fn sign_args(key: &str, out: &Path) -> Vec<String> {
    [
        "sign",
        "-k",
        key,
        "-v",
        "1.2.3+4",
        "-s",
        "auto",
        "-H",
        "0x200",
        "--pad-header",
        "-S",
        "0x20000",
        input().to_str().unwrap(),
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn uri(object: &str) -> String {
    format!("pkcs11:token={TOKEN};object={object}")
}

/// Runs the signer expecting failure with exit 2; returns stderr.
fn fails_with_2(cmd: &mut Command) -> String {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{cmd:?}: expected exit 2, got {}:\n{stderr}",
        out.status
    );
    assert!(stderr.contains("error: ") && stderr.contains("hint: "), "{stderr}");
    stderr
}

fn keygen_sign_verify(key_type: &str) {
    let hsm = SoftHsm::with_token(TOKEN);
    let work = hsm.dir.path();
    let label = format!("image-key-{key_type}");
    let keygen = ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", key_type, "-k", &uri(&label)]));
    let keygen = String::from_utf8(keygen).unwrap();
    assert!(keygen.contains("BEGIN PUBLIC KEY"), "{keygen}");

    // Refuses an existing label.
    let again = fails_with_2(
        hsm.env_pin(&mut signer())
            .args(["keygen", "-t", key_type, "-k", &uri(&label)]),
    );
    assert!(again.contains("already has an object"), "{again}");

    let signed = work.join("app.signed.bin");
    ok(hsm.env_pin(&mut signer()).args(sign_args(&uri(&label), &signed)));

    // The public key comes out of the token without a PIN.
    let pem = ok(hsm.env(&mut signer()).args(["getpub", "-e", "pem", "-k", &uri(&label)]));
    let pub_pem = work.join("pub.pem");
    std::fs::write(&pub_pem, &pem).unwrap();
    let hash = ok(hsm
        .env(&mut signer())
        .args(["getpubhash", "-e", "raw", "-k", &uri(&label)]));
    assert!(
        keygen.contains(&hex::encode(&hash)),
        "keygen printed another key hash:\n{keygen}"
    );

    let verified = ok(imgtool().args(["verify", "-k", pub_pem.to_str().unwrap(), signed.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&verified).contains("Image was correctly validated"));
    ok(hsm
        .env(&mut signer())
        .args(["verify", "-k", &uri(&label), signed.to_str().unwrap()]));
}

#[test]
fn keygen_in_token_sign_and_imgtool_verifies_ed25519() {
    keygen_sign_verify("ed25519");
}

#[test]
fn keygen_in_token_sign_and_imgtool_verifies_ecdsa_p256() {
    keygen_sign_verify("ecdsa-p256");
}

#[test]
fn imported_ed25519_key_signs_byte_identical_to_the_key_file() {
    let hsm = SoftHsm::with_token(TOKEN);
    let work = hsm.dir.path();
    let key = work.join("key.pem");
    ok(signer().args(["keygen", "-t", "ed25519", "-k", key.to_str().unwrap()]));
    // opensc 0.23's `pkcs11-tool --write-object` cannot import Ed25519 keys ("Unsupported key
    // type"); softhsm2-util imports the PKCS#8 file, public half included.
    hsm.import_pkcs8(TOKEN, &key, "imported", "01");

    for extra in [&[][..], &["--pure"][..], &["--sha", "512"][..]] {
        let from_file = work.join("file.bin");
        let from_hsm = work.join("hsm.bin");
        let _ = std::fs::remove_file(&from_file);
        let _ = std::fs::remove_file(&from_hsm);
        ok(signer().args(sign_args(key.to_str().unwrap(), &from_file)).args(extra));
        ok(hsm
            .env_pin(&mut signer())
            .args(sign_args("pkcs11:token=fw-release;id=%01", &from_hsm))
            .args(extra));
        assert_eq!(read(&from_file), read(&from_hsm), "options {extra:?}");
    }
    let file_hash = ok(signer().args(["getpubhash", "-e", "raw", "-k", key.to_str().unwrap()]));
    let hsm_hash = ok(hsm
        .env(&mut signer())
        .args(["getpubhash", "-e", "raw", "-k", &uri("imported")]));
    assert_eq!(file_hash, hsm_hash);
}

#[test]
fn private_key_value_cannot_be_read_out() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("sealed")]));
    // This is the only test that loads SoftHSM into the test process itself.
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    let ctx = Pkcs11::new(&hsm.module).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(USER_PIN.to_string())))
        .unwrap();
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"sealed".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let info = session.get_attribute_info(keys[0], &[AttributeType::Value]).unwrap();
    assert!(
        matches!(info[0], AttributeInfo::Sensitive),
        "CKA_VALUE is readable: {info:?}"
    );
    let attrs = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Value,
                AttributeType::Extractable,
                AttributeType::Sensitive,
                AttributeType::NeverExtractable,
                AttributeType::Sign,
                AttributeType::Derive,
            ],
        )
        .unwrap();
    assert!(!attrs.iter().any(|a| matches!(a, Attribute::Value(_))), "{attrs:?}");
    for expected in [
        Attribute::Extractable(false),
        Attribute::Sensitive(true),
        Attribute::NeverExtractable(true),
        Attribute::Sign(true),
        Attribute::Derive(false),
    ] {
        assert!(attrs.contains(&expected), "missing {expected:?} in {attrs:?}");
    }
}

#[test]
fn wrong_pin_is_reported_once_with_exit_2() {
    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("k")]));
    let out = hsm.dir.path().join("out.bin");
    let stderr = fails_with_2(
        hsm.env(&mut signer())
            .env("PKCS11_PIN", "9999")
            .args(sign_args(&uri("k"), &out)),
    );
    assert!(
        stderr.contains("wrong PIN") && stderr.contains("CKR_PIN_INCORRECT"),
        "{stderr}"
    );
    assert!(stderr.contains("lockout") && stderr.contains("not retry"), "{stderr}");
    assert!(!stderr.contains("9999"), "the PIN leaked into the message: {stderr}");
    assert!(!out.exists());
}

#[test]
fn missing_token_lists_the_tokens_there_are() {
    let hsm = SoftHsm::with_token(TOKEN);
    hsm.init_token("other-token");
    let out = hsm.dir.path().join("out.bin");
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .args(sign_args("pkcs11:token=nope;object=k", &out)),
    );
    assert!(stderr.contains("token not found"), "{stderr}");
    assert!(
        stderr.contains("\"fw-release\"") && stderr.contains("\"other-token\""),
        "{stderr}"
    );
}

#[test]
fn missing_key_lists_the_key_labels() {
    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("alpha")]));
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ecdsa-p256", "-k", &uri("beta")]));
    let out = hsm.dir.path().join("out.bin");
    let stderr = fails_with_2(hsm.env_pin(&mut signer()).args(sign_args(&uri("gamma"), &out)));
    assert!(stderr.contains("key not found"), "{stderr}");
    assert!(stderr.contains("\"alpha\"") && stderr.contains("\"beta\""), "{stderr}");
}

#[test]
fn unloadable_module_names_the_path() {
    let hsm = SoftHsm::with_token(TOKEN);
    let out = hsm.dir.path().join("out.bin");
    let missing = hsm.dir.path().join("no-such-module.so");
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .env("PKCS11_MODULE", &missing)
            .args(sign_args(&uri("k"), &out)),
    );
    assert!(
        stderr.contains("cannot load PKCS#11 module") && stderr.contains("no-such-module.so"),
        "{stderr}"
    );
    // A file that exists but is no shared library; given with --pkcs11-module this time.
    let bogus = hsm.dir.path().join("bogus.so");
    std::fs::write(&bogus, "not a library").unwrap();
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .args(["--pkcs11-module", bogus.to_str().unwrap()])
            .env_remove("PKCS11_MODULE")
            .args(sign_args(&uri("k"), &out)),
    );
    assert!(
        stderr.contains("cannot load PKCS#11 module") && stderr.contains("bogus.so"),
        "{stderr}"
    );
    // No module anywhere.
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .env_remove("PKCS11_MODULE")
            .args(sign_args(&uri("k"), &out)),
    );
    assert!(stderr.contains("no PKCS#11 module"), "{stderr}");
}

#[test]
fn unsupported_mechanism_is_named() {
    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("k")]));
    // SoftHSM2 can withdraw mechanisms (softhsm2.conf `slots.mechanisms`, "-" = disable the list).
    // SoftHSM 2.6.1 ignores the first entry of a "-" list, hence the SHA-1 HMAC placeholder.
    hsm.add_conf("slots.mechanisms = -CKM_SHA_1_HMAC,CKM_EDDSA,CKM_EC_KEY_PAIR_GEN");
    let out = hsm.dir.path().join("out.bin");
    let stderr = fails_with_2(hsm.env_pin(&mut signer()).args(sign_args(&uri("k"), &out)));
    assert!(stderr.contains("does not support CKM_EDDSA"), "{stderr}");
    assert!(!out.exists());
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .args(["keygen", "-t", "ecdsa-p256", "-k", &uri("p")]),
    );
    assert!(stderr.contains("does not support CKM_EC_KEY_PAIR_GEN"), "{stderr}");
}

#[test]
fn pin_comes_from_a_file_never_from_the_uri() {
    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("k")]));
    let work = hsm.dir.path();
    let pin_file = work.join("pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
    // Module and PIN source as RFC 7512 query attributes, nothing in the environment.
    let full = format!(
        "pkcs11:token={TOKEN};object=k?module-path={}&pin-source=file:{}",
        hsm.module.display(),
        pin_file.display()
    );
    let out = work.join("out.bin");
    ok(hsm
        .env(&mut signer())
        .env_remove("PKCS11_MODULE")
        .args(sign_args(&full, &out)));
    // No PIN and no terminal: a clear error, not a hang.
    let stderr = fails_with_2(hsm.env(&mut signer()).args(sign_args(&uri("k"), &work.join("o2.bin"))));
    assert!(stderr.contains("needs a PIN"), "{stderr}");
    // pin-value would put the PIN on the command line.
    let stderr = fails_with_2(hsm.env(&mut signer()).args(sign_args(
        &format!("{}?pin-value={USER_PIN}", uri("k")),
        &work.join("o3.bin"),
    )));
    assert!(stderr.contains("pin-value"), "{stderr}");
}

#[test]
fn hsm_list_shows_keys_without_pin_and_private_keys_with_it() {
    let hsm = SoftHsm::with_token(TOKEN);
    let keygen = ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "--json", "-t", "ed25519", "-k", &uri("listed")]));
    let keygen: serde_json::Value = serde_json::from_slice(&keygen).unwrap();
    let listing = ok(hsm.env(&mut signer()).args(["hsm", "list", "--json"]));
    let listing: serde_json::Value = serde_json::from_slice(&listing).unwrap();
    let token = &listing["tokens"][0];
    assert_eq!(token["label"], TOKEN);
    let keys = token["keys"].as_array().unwrap();
    assert!(
        keys.iter().all(|k| k["class"] == "public"),
        "private key visible without PIN: {keys:?}"
    );
    assert_eq!(keys[0]["label"], "listed");
    assert_eq!(keys[0]["type"], "ed25519");
    assert_eq!(keys[0]["key_hash"], keygen["key_hash"]);
    let listing = ok(hsm.env_pin(&mut signer()).args(["hsm", "list", "--json"]));
    let listing: serde_json::Value = serde_json::from_slice(&listing).unwrap();
    let keys = listing["tokens"][0]["keys"].as_array().unwrap();
    let private = keys
        .iter()
        .find(|k| k["class"] == "private")
        .expect("private key listed");
    assert_eq!(private["key_hash"], keygen["key_hash"]);
    let text = String::from_utf8(ok(hsm.env(&mut signer()).args(["hsm", "list"]))).unwrap();
    assert!(text.contains("fw-release") && text.contains("listed"), "{text}");
}

#[test]
fn audit_log_records_file_and_hsm_signatures() {
    let hsm = SoftHsm::with_token(TOKEN);
    let work = hsm.dir.path();
    let log = work.join("audit/audit.jsonl");
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ecdsa-p256", "-k", &uri("k")]));
    let key = work.join("dev.pem");
    ok(signer().args(["keygen", "-t", "ed25519", "-k", key.to_str().unwrap()]));
    let out_hsm = work.join("hsm.bin");
    let out_file = work.join("file.bin");
    ok(hsm
        .env_pin(&mut signer())
        .args(sign_args(&uri("k"), &out_hsm))
        .args(["--audit-log", log.to_str().unwrap()]));
    ok(signer()
        .env("SIGNER_AUDIT_LOG", &log)
        .args(sign_args(key.to_str().unwrap(), &out_file)));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    let sha = |p: &Path| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(read(p)));
    for (entry, out, key_spec) in [
        (&lines[0], &out_hsm, uri("k")),
        (&lines[1], &out_file, key.to_str().unwrap().to_string()),
    ] {
        assert_eq!(entry["command"], "sign");
        assert_eq!(entry["input_sha256"], sha(&input()));
        assert_eq!(entry["output_sha256"], sha(out));
        assert_eq!(entry["version"], "1.2.3+4");
        assert_eq!(entry["security_counter"], 0x0102_0003);
        let key_hash = ok(hsm
            .env(&mut signer())
            .args(["getpubhash", "-e", "raw", "-k", &key_spec]));
        assert_eq!(entry["key_hash"], hex::encode(key_hash));
        let time = entry["time"].as_str().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
        for field in ["user", "host", "signed_digest", "key", "algorithm", "signer_version"] {
            assert!(
                entry[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} missing: {entry}"
            );
        }
    }
    assert!(lines[0]["key"]
        .as_str()
        .unwrap()
        .starts_with("pkcs11:token=fw-release;object=k"));
    assert_eq!(lines[0]["algorithm"], "ecdsa-p256");
    assert!(lines[1]["key"].as_str().unwrap().starts_with("file:"));
}

#[test]
fn unwritable_audit_log_stops_signing() {
    let hsm = SoftHsm::with_token(TOKEN);
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ed25519", "-k", &uri("k")]));
    let work = hsm.dir.path();
    let out = work.join("out.bin");
    // A directory cannot be appended to (and tests run as root, so permissions would not stop it).
    let stderr = fails_with_2(
        hsm.env_pin(&mut signer())
            .args(sign_args(&uri("k"), &out))
            .args(["--audit-log", work.to_str().unwrap()]),
    );
    assert!(stderr.contains("audit log"), "{stderr}");
    assert!(!out.exists(), "signed output written although the audit log failed");
    // Same through the environment, with a path below a regular file, and a file key.
    let blocker = work.join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let key = work.join("dev.pem");
    ok(signer().args(["keygen", "-t", "ed25519", "-k", key.to_str().unwrap()]));
    let stderr = fails_with_2(
        signer()
            .env("SIGNER_AUDIT_LOG", blocker.join("audit.jsonl"))
            .args(sign_args(key.to_str().unwrap(), &out)),
    );
    assert!(stderr.contains("audit log"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn release_signed_in_the_token_is_audited_and_verifies() {
    let hsm = SoftHsm::with_token(TOKEN);
    let work = hsm.dir.path();
    ok(hsm
        .env_pin(&mut signer())
        .args(["keygen", "-t", "ecdsa-p256", "-k", &uri("manifest-key")]));
    let manifest_pub = work.join("manifest.pub.pem");
    std::fs::write(
        &manifest_pub,
        ok(hsm
            .env(&mut signer())
            .args(["getpub", "-e", "pem", "-k", &uri("manifest-key")])),
    )
    .unwrap();
    let image = repo().join("fixtures/images/fw-v1.signed.bin");
    let cut = |out: &str, log: &Path| {
        run(hsm
            .env_pin(&mut signer())
            .args(["release", "-k", &uri("manifest-key"), "--image"])
            .arg(&image)
            .args(["--sequence", "3", "--vendor", "example.com", "--class", "sensor-v1"])
            .args(["--version", "1.0.0", "-o"])
            .arg(work.join(out))
            .arg("--state-file")
            .arg(work.join("state.json"))
            .arg("--audit-log")
            .arg(log))
    };
    // An unwritable log stops the release before any bundle is written.
    let out = cut("rel-blocked", work);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit log"));
    assert!(!work.join("rel-blocked/release.suit").exists());

    let log = work.join("release-audit.jsonl");
    let out = cut("rel", &log);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(signer()
        .args(["release", "verify", "-k"])
        .arg(&manifest_pub)
        .args(["--vendor", "example.com", "--class", "sensor-v1"])
        .arg(work.join("rel/release.suit")));
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 1, "{text}");
    assert_eq!(entries[0]["command"], "release");
    assert_eq!(entries[0]["sequence"], 3);
    assert_eq!(entries[0]["version"], "1.0.0");
    assert_eq!(entries[0]["algorithm"], "ecdsa-p256");
    assert!(entries[0]["key"]
        .as_str()
        .unwrap()
        .starts_with("pkcs11:token=fw-release;object=manifest-key"));
    assert!(entries[0]["signed_message_sha256"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
}
