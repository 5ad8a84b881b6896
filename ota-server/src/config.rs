//! TOML configuration with environment overrides (`OTA_*`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The whole server configuration (`ota-server.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address for the HTTPS (mTLS) listener, e.g. `0.0.0.0:8443`.
    pub listen: SocketAddr,
    /// `sqlite://path/to/ota.db` (default, embedded) or `postgres://user@host/db[?schema=name]`.
    pub database_url: String,
    /// Directory for artifacts (content-addressed) and staging.
    pub data_dir: PathBuf,
    /// Serve plain HTTP and identify devices by the `X-Device-Id` header. Development only.
    #[serde(default)]
    pub dev_insecure_http: bool,
    /// `text` or `json` logs.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    pub trust: TrustConfig,
    #[serde(default)]
    pub classes: Vec<DeviceClass>,
    #[serde(default)]
    pub limits: Limits,
    /// Where artifacts live: unset = `<data_dir>/artifacts` on the local filesystem (one
    /// replica); `s3://bucket[/prefix]` = an S3 bucket that several replicas share (endpoint,
    /// region and credentials from the `AWS_*` environment); `file:///abs/dir` = through
    /// `object_store`'s local filesystem backend (a shared mount); `memory:` = in memory (tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts_url: Option<String>,
    /// Which releases devices are offered: `rollout` (default) = only through staged rollouts
    /// (`POST /api/v1/admin/rollouts`); `latest` = the newest release of the class to every
    /// device at once (labs and tests).
    #[serde(default)]
    pub offer_mode: OfferMode,
    /// Who may read `/metrics` (it shows rollout state and fleet counts): `public` (default
    /// for configurations without the key) or `token` (any admin token, viewer up, as
    /// `Authorization: Bearer`; `ota-server init` writes this).
    #[serde(default)]
    pub metrics_auth: MetricsAuth,
    /// Device enrolment over EST (RFC 7030) by the issuing CA; unset: no enrolment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<EnrollmentConfig>,
}

/// `[enrollment]`: the issuing CA for device certificates (separate from the fleet root and from
/// every firmware key) and the life of what it issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentConfig {
    /// The issuing CA certificate (PEM). Client certificates it issued are accepted at the
    /// TLS handshake alongside those of `tls.device_ca`.
    pub ca_cert: PathBuf,
    /// Its private key (PKCS#8 PEM, mode 0600).
    pub ca_key: PathBuf,
    /// Validity of an issued device certificate, in days.
    #[serde(default = "default_certificate_days")]
    pub certificate_days: u32,
    /// A check-in made with a certificate expiring within this many days is answered with
    /// `renew_certificate: true`.
    #[serde(default = "default_renew_before_days")]
    pub renew_before_days: u32,
    /// The CRL's nextUpdate, in seconds after it was made.
    #[serde(default = "default_crl_next_update_s")]
    pub crl_next_update_s: u64,
    /// After re-enrolment, the old certificate still works this many seconds after the new
    /// one was first used; then it is revoked (and listed in the CRL if the CA issued it).
    #[serde(default = "default_rotation_grace_s")]
    pub rotation_grace_s: u64,
}

fn default_rotation_grace_s() -> u64 {
    86_400
}

fn default_certificate_days() -> u32 {
    90
}

fn default_renew_before_days() -> u32 {
    30
}

fn default_crl_next_update_s() -> u64 {
    3600
}

/// See [`Config::metrics_auth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAuth {
    #[default]
    Public,
    Token,
}

/// See [`Config::offer_mode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferMode {
    #[default]
    Rollout,
    Latest,
}

/// Server certificate and the fleet CA(s) that issue device certificates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub device_ca: Vec<PathBuf>,
}

/// Public keys the device trusts, so the server re-verifies exactly as a device would.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// PEM SubjectPublicKeyInfo files of the MCUboot image keys.
    pub image_keys: Vec<PathBuf>,
    /// PEM SubjectPublicKeyInfo files of the SUIT manifest keys.
    pub manifest_keys: Vec<PathBuf>,
    #[serde(default = "one")]
    pub manifest_threshold: usize,
}

/// A device class the server distributes to: ids as `signer release` derives them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceClass {
    pub name: String,
    pub vendor_domain: String,
    /// Who registers on first contact: `open` (default; any device with a fleet certificate)
    /// or `allowlist` (only ids on `POST /api/v1/admin/registration/allow`).
    #[serde(default)]
    pub registration: crate::domain::registration::RegistrationPolicy,
}

/// Request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest release bundle upload, in bytes.
    pub max_bundle_bytes: u64,
    /// Largest JSON body, in bytes.
    pub max_json_bytes: usize,
    /// Check-ins a device may burst before being rate limited.
    pub checkin_burst: u32,
    /// Sustained check-ins per second per device.
    pub checkin_per_second: f64,
    /// Check-ins are written behind: pending "last seen / running image" updates are committed
    /// at least this often (milliseconds). A crash loses at most this window of them.
    pub checkin_flush_ms: u64,
    /// Status reports a device may burst before being rate limited (an update sends about 7).
    pub report_burst: u32,
    /// Sustained status reports per second per device.
    pub report_per_second: f64,
    /// Status history kept per device: the newest this many events.
    pub history_per_device: u32,
    /// Status history older than this many days is deleted.
    pub history_retention_days: u32,
    /// How often history is pruned in the background (milliseconds).
    pub history_prune_ms: u64,
    /// A connection whose peer stops reading (a write makes no progress) is closed after this
    /// many seconds: a stalled download holds no descriptor or buffer longer.
    pub download_idle_timeout_s: u64,
    /// Downloads one device may have streaming at once (on each replica); more get 429.
    pub downloads_per_device: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bundle_bytes: 256 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            checkin_burst: 10,
            checkin_per_second: 1.0,
            checkin_flush_ms: 10,
            report_burst: 30,
            report_per_second: 1.0,
            history_per_device: 1000,
            history_retention_days: 90,
            history_prune_ms: 60_000,
            download_idle_timeout_s: 30,
            downloads_per_device: 2,
        }
    }
}

fn default_log_format() -> String {
    "text".into()
}

fn one() -> usize {
    1
}

impl Config {
    /// Reads `path`, resolves relative paths against its directory, then applies `OTA_*` overrides.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(tls) = &mut self.tls {
            fix(&mut tls.cert);
            fix(&mut tls.key);
            tls.device_ca.iter_mut().for_each(fix);
        }
        if let Some(e) = &mut self.enrollment {
            fix(&mut e.ca_cert);
            fix(&mut e.ca_key);
        }
        self.trust.image_keys.iter_mut().for_each(fix);
        self.trust.manifest_keys.iter_mut().for_each(fix);
        if let Some(rest) = self.database_url.strip_prefix("sqlite://") {
            if !rest.starts_with('/') && !rest.starts_with(":memory:") {
                self.database_url = format!("sqlite://{}", base.join(rest).display());
            }
        }
    }

    /// `OTA_LISTEN`, `OTA_DATABASE_URL`, `OTA_DATA_DIR`, `OTA_DEV_INSECURE_HTTP`, `OTA_LOG_FORMAT`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("OTA_LISTEN") {
            self.listen = v.parse().context("OTA_LISTEN")?;
        }
        if let Some(v) = get("OTA_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("OTA_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("OTA_DEV_INSECURE_HTTP") {
            self.dev_insecure_http = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = get("OTA_LOG_FORMAT") {
            self.log_format = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let text = r#"
listen = "127.0.0.1:8443"
database_url = "sqlite://ota.db"
data_dir = "data"
[trust]
image_keys = ["k.pem"]
manifest_keys = ["m.pem"]
"#;
        let mut c: Config = toml::from_str(text).unwrap();
        c.resolve_paths(Path::new("/etc/ota"));
        assert_eq!(c.database_url, "sqlite:///etc/ota/ota.db");
        c.apply_env(|k| (k == "OTA_LISTEN").then(|| "127.0.0.1:9000".to_string()))
            .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.limits.checkin_burst, 10);
    }
}
