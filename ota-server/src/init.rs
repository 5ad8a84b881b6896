//! `ota-server init`: a starter configuration, a development fleet CA and server certificate
//! (rcgen), and a first admin token printed once. Also issues development device certificates.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

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

    /// A device certificate: CN and URI SAN name the device, OU its class.
    pub fn issue_device(&self, id: &str, class: Option<&str>) -> Result<Issued> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name.push(DnType::CommonName, id);
        if let Some(c) = class {
            p.distinguished_name.push(DnType::OrganizationalUnitName, c);
        }
        p.subject_alt_names = vec![SanType::URI(
            format!("{}{id}", crate::tls::DEVICE_URI_PREFIX).try_into()?,
        )];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
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

/// Writes `ota-server.toml`, `tls/`, `keys/`, creates the database and returns the admin token
/// (the caller prints it once; only its hash is stored).
pub async fn init(opts: &InitOptions) -> Result<String> {
    let dir = &opts.dir;
    let config_path = dir.join("ota-server.toml");
    anyhow::ensure!(
        !config_path.exists(),
        "{} exists; refusing to overwrite",
        config_path.display()
    );
    std::fs::create_dir_all(dir.join("tls"))?;
    std::fs::create_dir_all(dir.join("keys"))?;
    let ca = DevCa::generate()?;
    write_new(&dir.join("tls/fleet-ca.pem"), &ca.cert_pem(), false)?;
    write_new(&dir.join("tls/fleet-ca.key"), &ca.key_pem(), true)?;
    let server = ca.issue_server(&["localhost", "127.0.0.1"])?;
    write_new(&dir.join("tls/server.pem"), &server.cert_pem, false)?;
    write_new(&dir.join("tls/server.key"), &server.key_pem, true)?;

    let copy_keys = |keys: &[PathBuf], prefix: &str| -> Result<Vec<PathBuf>> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                let rel = PathBuf::from(format!("keys/{prefix}-{i}.pub.pem"));
                let text = std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?;
                write_new(&dir.join(&rel), &text, false)?;
                Ok(rel)
            })
            .collect()
    };
    let config = Config {
        listen: opts.listen,
        database_url: "sqlite://data/ota.db".into(),
        data_dir: "data".into(),
        dev_insecure_http: false,
        log_format: "text".into(),
        tls: Some(TlsConfig {
            cert: "tls/server.pem".into(),
            key: "tls/server.key".into(),
            device_ca: vec!["tls/fleet-ca.pem".into()],
        }),
        trust: TrustConfig {
            image_keys: copy_keys(&opts.image_keys, "image")?,
            manifest_keys: copy_keys(&opts.manifest_keys, "manifest")?,
            manifest_threshold: 1,
        },
        classes: opts.classes.clone(),
        limits: Limits::default(),
        artifacts_url: None,
        offer_mode: Default::default(),
    };
    let text = format!(
        "# ota-server configuration (written by `ota-server init`).\n\
         # Environment overrides: OTA_LISTEN, OTA_DATABASE_URL, OTA_DATA_DIR, OTA_DEV_INSECURE_HTTP, OTA_LOG_FORMAT.\n\
         # database_url: sqlite://file (default) or postgres://user@host/db[?schema=name].\n{}",
        toml::to_string_pretty(&config)?
    );
    write_new(&config_path, &text, false)?;

    let url = format!("sqlite://{}", dir.join("data/ota.db").display());
    let store = crate::store::open(&url).await?;
    let token = create_token(store.as_ref(), "initial-admin", Role::Admin).await?;
    store.close().await;
    Ok(token)
}

/// How to make a browser trust the development fleet CA at `ca_pem`, so that the dashboard at
/// `url` opens without a certificate warning (the server certificate `init` writes names
/// `localhost` and `127.0.0.1`). Printed by `init` and by the demo.
pub fn browser_trust_hint(ca_pem: &Path, url: &str) -> String {
    let ca = ca_pem.display();
    format!(
        "The server's certificate is issued by the development fleet CA {ca}; a browser trusts it once you import that CA:\n\
         \x20 Chrome/Chromium on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n fwsign-dev-fleet-ca -i {ca}   (Debian: libnss3-tools)\n\
         \x20 Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import {ca}\n\
         \x20 macOS: security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {ca}\n\
         \x20 curl: curl --cacert {ca} {url}\n\
         Remove it again when you are done (it is a development CA; its key is on this disk).\n"
    )
}

/// Creates a token directly in the store (bootstrap / recovery); returns the secret.
pub async fn create_token(store: &dyn crate::store::Store, name: &str, role: Role) -> Result<String> {
    let (token, hash) = new_token();
    store.insert_token(name, role, &hash, SystemClock.now_ms()).await?;
    Ok(token)
}
