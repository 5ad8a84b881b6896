//! What fleet-sim reads of the server's `ota-server.toml` (as `ota-server init` writes it): the
//! listen address, the fleet CA, the trusted keys and the device classes. Everything else in
//! the file is the server's business and ignored here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// The parts of `ota-server.toml` a simulated device needs. Relative paths are resolved
/// against the file's directory, and `OTA_LISTEN` overrides `listen`, as the server does.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    pub trust: TrustConfig,
    #[serde(default)]
    pub classes: Vec<DeviceClass>,
}

/// `[tls]`: the CA certificates that issue device certificates (the first also issued the
/// server's certificate when `init` made them).
#[derive(Debug, Clone, Deserialize)]
pub struct TlsConfig {
    pub device_ca: Vec<PathBuf>,
}

/// `[trust]`: what devices are provisioned to trust.
#[derive(Debug, Clone, Deserialize)]
pub struct TrustConfig {
    pub image_keys: Vec<PathBuf>,
    pub manifest_keys: Vec<PathBuf>,
}

/// `[[classes]]`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceClass {
    pub name: String,
    pub vendor_domain: String,
}

impl ServerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config = Self::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        if let Ok(listen) = std::env::var("OTA_LISTEN") {
            config.listen = listen.parse().context("OTA_LISTEN")?;
        }
        Ok(config)
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(toml::from_str(text)?)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(tls) = &mut self.tls {
            tls.device_ca.iter_mut().for_each(fix);
        }
        self.trust.image_keys.iter_mut().for_each(fix);
        self.trust.manifest_keys.iter_mut().for_each(fix);
    }

    /// The vendor domain of `class`, if the file configures it.
    pub fn vendor_domain(&self, class: &str) -> Option<&str> {
        self.classes
            .iter()
            .find(|c| c.name == class)
            .map(|c| c.vendor_domain.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as `ota-server init` writes it: fleet-sim takes what it needs, ignores the rest.
    #[test]
    fn reads_what_init_writes() {
        let text = r#"
listen = "0.0.0.0:8443"
database_url = "sqlite://data/ota.db"
data_dir = "data"
offer_mode = "rollout"

[tls]
cert = "tls/server.pem"
key = "tls/server.key"
device_ca = ["tls/fleet-ca.pem"]

[trust]
image_keys = ["keys/image.pub.pem"]
manifest_keys = ["/abs/manifest.pub.pem"]
manifest_threshold = 1

[[classes]]
name = "sensor-v2"
vendor_domain = "example.com"

[limits]
checkin_burst = 10
"#;
        let mut c = ServerConfig::parse(text).unwrap();
        c.resolve_paths(Path::new("/srv"));
        assert_eq!(c.listen.port(), 8443);
        assert_eq!(
            c.tls.as_ref().unwrap().device_ca,
            [PathBuf::from("/srv/tls/fleet-ca.pem")]
        );
        assert_eq!(c.trust.image_keys, [PathBuf::from("/srv/keys/image.pub.pem")]);
        assert_eq!(c.trust.manifest_keys, [PathBuf::from("/abs/manifest.pub.pem")]);
        assert_eq!(c.vendor_domain("sensor-v2"), Some("example.com"));
        assert_eq!(c.vendor_domain("other"), None);
    }
}
