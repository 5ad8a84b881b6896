//! `ota-server init`: a starter configuration, a development fleet CA and server certificate
//! (rcgen), and a first admin token printed once. Also issues development device certificates.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::SubjectPublicKeyInfoDer;

use crate::config::{Config, DeviceClass, Limits, TlsConfig, TrustConfig};
use crate::domain::auth::{new_token, Role};
use crate::domain::{Clock as _, SystemClock};

/// A development certificate authority (test and demo use only).
pub struct DevCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

/// A PEM certificate and its PKCS#8 private key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::CommonName, "ota-server development fleet CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

impl DevCa {
    pub fn generate() -> Result<Self> {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Self { key, cert })
    }

    /// Reloads a CA written by [`DevCa::write`] (the issuer name and key are what matter).
    pub fn load(key_pem: &str) -> Result<Self> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Self { key, cert })
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A server certificate for the given DNS names / IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> Result<Issued> {
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        p.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("ota-server"));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(p)
    }

    /// An issuing CA for device certificates under this root (EST enrolment): it may sign
    /// end-entity certificates and CRLs only (path length 0).
    pub fn issue_device_ca(&self) -> Result<Issued> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name
            .push(DnType::CommonName, "ota-server development device issuing CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.use_authority_key_identifier_extension = true;
        self.issue(p)
    }

    /// A device certificate: CN and URI SAN name the device, OU its class.
    pub fn issue_device(&self, id: &str, class: Option<&str>) -> Result<Issued> {
        self.issue_device_for(id, class, None)
    }

    /// [`DevCa::issue_device`], valid for `days` from now if given (one due for renewal).
    pub fn issue_device_for(&self, id: &str, class: Option<&str>, days: Option<u32>) -> Result<Issued> {
        // The server refuses every other id at the TLS handshake (`tls::valid_device_id`):
        // a certificate for one would be useless, and `../x` or `a b` have no place in a URI.
        anyhow::ensure!(
            crate::tls::valid_device_id(id),
            "device id {id:?} is not one the server accepts (1–128 characters of A-Z a-z 0-9 . _ : -)"
        );
        if let Some(c) = class {
            anyhow::ensure!(
                crate::tls::valid_device_id(c),
                "device class {c:?} is not a class name (1–128 characters of A-Z a-z 0-9 . _ : -)"
            );
        }
        let mut p = crate::ca::device_certificate_params(id, class)?;
        if let Some(days) = days {
            let now = std::time::SystemTime::now();
            p.not_before = (now - std::time::Duration::from_secs(60)).into();
            p.not_after = (now + std::time::Duration::from_secs(u64::from(days) * 86_400)).into();
        }
        self.issue(p)
    }

    fn issue(&self, params: CertificateParams) -> Result<Issued> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub listen: std::net::SocketAddr,
    pub image_keys: Vec<PathBuf>,
    pub manifest_keys: Vec<PathBuf>,
    pub classes: Vec<DeviceClass>,
}

/// Creates `path` with `contents` (mode 0600 if `secret`, else 0644) and syncs it; an existing
/// file is never replaced.
pub fn write_new(path: &Path, contents: &str, secret: bool) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("{} (refusing to overwrite)", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Replaces (or creates) `path` atomically: a temporary file in the same directory gets mode
/// 0600 if `secret` (else 0644) before any byte is written, is synced, then renamed over `path`.
/// Readers see the old file or the new one, never a mix, and a secret is never world-readable.
pub fn write_replace(path: &Path, contents: &str, secret: bool) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // tempfile creates the file 0600; public files are widened before they become visible.
    let mut tmp = tempfile::Builder::new()
        .prefix(".ota-server-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    std::fs::set_permissions(
        tmp.path(),
        std::fs::Permissions::from_mode(if secret { 0o600 } else { 0o644 }),
    )?;
    tmp.write_all(contents.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// One file `init` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// What it is, for the summary `init` prints.
    pub what: String,
    /// A private key: mode 0600.
    pub secret: bool,
}

/// What [`init_with_report`] did: the admin token (shown once) and the files it wrote.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub token: String,
    pub config: PathBuf,
    pub fleet_ca: PathBuf,
    pub written: Vec<Written>,
}

/// Writes `ota-server.toml`, `tls/`, `keys/`, creates the database and returns the admin token
/// (the caller prints it once; only its hash is stored).
pub async fn init(opts: &InitOptions) -> Result<String> {
    Ok(init_with_report(opts).await?.token)
}

/// [`init`], also saying which files were written. Nothing is written unless every input reads
/// and no output exists (a failed run leaves the directory as it was, so it can simply be rerun).
pub async fn init_with_report(opts: &InitOptions) -> Result<InitReport> {
    let dir = &opts.dir;
    let config_path = dir.join("ota-server.toml");
    anyhow::ensure!(
        !config_path.exists(),
        "{} exists; refusing to overwrite",
        config_path.display()
    );
    // Inputs first: a wrong key path must not leave half an installation behind.
    let read_keys = |keys: &[PathBuf], prefix: &str| -> Result<Vec<(PathBuf, String)>> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                let text = std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?;
                // The same check `serve` makes when it loads the trusted keys.
                let spki = SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes()).ok();
                anyhow::ensure!(
                    spki.is_some_and(|der| device_verifier::TrustedKey::from_spki(der.as_ref()).is_some()),
                    "{} is not an Ed25519 or P-256 public key in PEM (-----BEGIN PUBLIC KEY-----)",
                    k.display()
                );
                Ok((PathBuf::from(format!("keys/{prefix}-{i}.pub.pem")), text))
            })
            .collect()
    };
    let image_keys = read_keys(&opts.image_keys, "image")?;
    let manifest_keys = read_keys(&opts.manifest_keys, "manifest")?;
    let ca_pem = PathBuf::from("tls/fleet-ca.pem");
    let outputs: Vec<PathBuf> = [
        ca_pem.clone(),
        "tls/fleet-ca.key".into(),
        "tls/server.pem".into(),
        "tls/server.key".into(),
        "tls/device-issuing-ca.pem".into(),
        "tls/device-issuing-ca.key".into(),
        "data/ota.db".into(),
    ]
    .into_iter()
    .chain(image_keys.iter().chain(&manifest_keys).map(|(rel, _)| rel.clone()))
    .collect();
    if let Some(existing) = outputs.iter().map(|rel| dir.join(rel)).find(|p| p.exists()) {
        anyhow::bail!(
            "{} exists (left by an earlier init?); refusing to overwrite",
            existing.display()
        );
    }

    let mut written = Vec::new();
    let mut write = |rel: &Path, contents: &str, secret: bool, what: &str| -> Result<()> {
        let path = dir.join(rel);
        write_new(&path, contents, secret)?;
        written.push(Written {
            path,
            what: what.to_owned(),
            secret,
        });
        Ok(())
    };
    std::fs::create_dir_all(dir.join("tls")).with_context(|| format!("creating {}", dir.join("tls").display()))?;
    std::fs::create_dir_all(dir.join("keys")).with_context(|| format!("creating {}", dir.join("keys").display()))?;
    let ca = DevCa::generate()?;
    write(
        ca_pem.as_path(),
        &ca.cert_pem(),
        false,
        "development fleet CA certificate",
    )?;
    write(
        Path::new("tls/fleet-ca.key"),
        &ca.key_pem(),
        true,
        "development fleet CA private key, signs device certificates",
    )?;
    let server = ca.issue_server(&["localhost", "127.0.0.1"])?;
    write(
        Path::new("tls/server.pem"),
        &server.cert_pem,
        false,
        "server certificate (localhost, 127.0.0.1)",
    )?;
    write(Path::new("tls/server.key"), &server.key_pem, true, "server private key")?;
    let issuing = ca.issue_device_ca()?;
    write(
        Path::new("tls/device-issuing-ca.pem"),
        &issuing.cert_pem,
        false,
        "development device issuing CA certificate (EST enrolment, under the fleet CA)",
    )?;
    write(
        Path::new("tls/device-issuing-ca.key"),
        &issuing.key_pem,
        true,
        "development device issuing CA private key, signs enrolled device certificates and the CRL",
    )?;
    for (rel, text) in &image_keys {
        write(rel.as_path(), text.as_str(), false, "trusted MCUboot image public key")?;
    }
    for (rel, text) in &manifest_keys {
        write(rel.as_path(), text.as_str(), false, "trusted SUIT manifest public key")?;
    }

    let config = Config {
        listen: opts.listen,
        database_url: "sqlite://data/ota.db".into(),
        data_dir: "data".into(),
        dev_insecure_http: false,
        log_format: "text".into(),
        tls: Some(TlsConfig {
            cert: "tls/server.pem".into(),
            key: "tls/server.key".into(),
            device_ca: vec![ca_pem.clone()],
        }),
        trust: TrustConfig {
            image_keys: image_keys.into_iter().map(|(rel, _)| rel).collect(),
            manifest_keys: manifest_keys.into_iter().map(|(rel, _)| rel).collect(),
            manifest_threshold: 1,
        },
        classes: opts.classes.clone(),
        limits: Limits::default(),
        artifacts_url: None,
        offer_mode: Default::default(),
        metrics_auth: crate::config::MetricsAuth::Token,
        enrollment: Some(crate::config::EnrollmentConfig {
            ca_cert: "tls/device-issuing-ca.pem".into(),
            ca_key: "tls/device-issuing-ca.key".into(),
            certificate_days: 90,
            renew_before_days: 30,
            crl_next_update_s: 3600,
            rotation_grace_s: 86_400,
        }),
    };
    let text = format!(
        "# ota-server configuration (written by `ota-server init`).\n\
         # Environment overrides: OTA_LISTEN, OTA_DATABASE_URL, OTA_DATA_DIR, OTA_DEV_INSECURE_HTTP, OTA_LOG_FORMAT.\n\
         # database_url: sqlite://file (default) or postgres://user@host/db[?schema=name].\n{}",
        toml::to_string_pretty(&config)?
    );
    write(Path::new("ota-server.toml"), &text, false, "configuration")?;

    let db = dir.join("data/ota.db");
    let url = format!("sqlite://{}", db.display());
    let store = crate::store::open(&url).await?;
    let token = create_token(store.as_ref(), "initial-admin", Role::Admin).await?;
    store.close().await;
    written.push(Written {
        path: db,
        what: "SQLite database (token hashes, devices, releases)".into(),
        secret: false,
    });
    Ok(InitReport {
        token,
        config: config_path,
        fleet_ca: dir.join(ca_pem),
        written,
    })
}

/// The dashboard's address for a server listening on `listen` (the certificate `init` writes
/// names `localhost`).
pub fn dashboard_url(listen: std::net::SocketAddr) -> String {
    format!("https://localhost:{}/dashboard", listen.port())
}

/// What to do after `init`: start the server, make a viewer token, open the dashboard with it
/// (the token travels in the URL fragment, which never reaches the server; ota-server/README.md).
pub fn next_steps(config: &Path, listen: std::net::SocketAddr) -> String {
    let config = config.display();
    let url = dashboard_url(listen);
    format!(
        "Next:\n\
         \x20 start the server:     ota-server serve --config {config}\n\
         \x20 a dashboard token:    ota-server token --config {config} --name dashboard --role viewer\n\
         \x20 open the dashboard:   {url}#token=<viewer token>\n"
    )
}

/// How to make a browser trust the development fleet CA at `ca_pem`, so that the dashboard at
/// `url` opens without a certificate warning (the server certificate `init` writes names
/// `localhost` and `127.0.0.1`). Printed by `init` and by the demo.
pub fn browser_trust_hint(ca_pem: &Path, url: &str) -> String {
    let ca = ca_pem.display();
    format!(
        "To open {url} without a certificate warning, import the development fleet CA\n\
         {ca} (it issued the server's certificate) into the browser's trusted authorities:\n\
         \x20 Chrome/Chromium on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n fwsign-dev-fleet-ca -i {ca}   (Debian: libnss3-tools)\n\
         \x20 Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import {ca}\n\
         \x20 macOS: security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {ca}\n\
         \x20 Windows (Chrome, Edge): certutil -user -addstore Root {ca}\n\
         \x20 curl: curl --cacert {ca} {url}\n\
         Remove it again when you are done: it is a development CA and its private key is on this disk.\n"
    )
}

/// Creates a token directly in the store (bootstrap / recovery); returns the secret.
pub async fn create_token(store: &dyn crate::store::Store, name: &str, role: Role) -> Result<String> {
    let (token, hash) = new_token();
    let now = SystemClock.now_ms();
    let expires_ms = crate::domain::auth::token_expiry(role, None, now);
    store.insert_token(name, role, &hash, now, expires_ms).await?;
    Ok(token)
}
