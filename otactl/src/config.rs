//! Where otactl finds the server, the CA that issued its certificate and the token: flags, then
//! the environment, then the config file (`--config FILE`, else
//! `$XDG_CONFIG_HOME/otactl/config.toml`, else `~/.config/otactl/config.toml`).
//!
//! The token never comes from the command line (it would show in `ps` and shell history): it is
//! read from `OTACTL_TOKEN`, from a file (`--token-file`, `OTACTL_TOKEN_FILE`, `token_file` in the
//! config file) or from `token` in the config file. A file that holds the token must be readable
//! by its owner only; otactl refuses it otherwise.

use std::path::{Path, PathBuf};

use ota_protocol::client::AdminClient;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const ENV_URL: &str = "OTACTL_URL";
pub const ENV_CA: &str = "OTACTL_CA";
pub const ENV_TOKEN: &str = "OTACTL_TOKEN";
pub const ENV_TOKEN_FILE: &str = "OTACTL_TOKEN_FILE";

/// The config file's contents. Relative paths are relative to the file's directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The server's base URL, e.g. `https://localhost:8443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PEM file of the CA that issued the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// File holding the bearer token (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The bearer token itself (then the config file must be mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// What the global flags say (each overrides the environment and the config file).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub url: Option<String>,
    pub ca: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
}

/// Where the token came from (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    File(PathBuf),
    Env,
    ConfigFile(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Env => write!(f, "${ENV_TOKEN}"),
            Self::ConfigFile(p) => write!(f, "`token` in {}", p.display()),
        }
    }
}

/// The settings in effect, and where each came from.
#[derive(Clone)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub url: Option<(String, &'static str)>,
    pub ca: Option<(PathBuf, &'static str)>,
    pub token: Option<(String, TokenSource)>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("config_file", &self.config_file)
            .field("url", &self.url)
            .field("ca", &self.ca)
            .field("token_source", &self.token.as_ref().map(|t| &t.1))
            .finish()
    }
}

/// The default config file: `$XDG_CONFIG_HOME/otactl/config.toml` (an absolute
/// `XDG_CONFIG_HOME` only, as the XDG Base Directory spec says), else
/// `$HOME/.config/otactl/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = match env("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(xdg) if xdg.is_absolute() => xdg,
        _ => PathBuf::from(env("HOME")?).join(".config"),
    };
    Some(base.join("otactl").join("config.toml"))
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The config file to use: `--config` (must exist), else the default one if it exists.
fn config_path(overrides: &Overrides) -> Result<Option<PathBuf>> {
    if let Some(path) = &overrides.config {
        if !path.is_file() {
            return Err(Error::config(format!("config file {} does not exist", path.display()))
                .with_hint("write one with `otactl config init --url URL --ca CA.pem --token-file FILE`"));
        }
        return Ok(Some(path.clone()));
    }
    Ok(default_path().filter(|p| p.is_file()))
}

/// Reads and checks a config file.
pub fn read_file(path: &Path) -> Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(format_args!("cannot read {}", path.display()), &e))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        Error::config(format!("{}: {}", path.display(), e.message()))
            .with_hint("the config file holds url, ca, and token_file or token (see `otactl config --help`)")
    })?;
    if file.token.is_some() {
        if file.token_file.is_some() {
            return Err(
                Error::config(format!("{} has both token and token_file", path.display()))
                    .with_hint("keep one of them"),
            );
        }
        check_private(path, "the config file holds the token")?;
    }
    Ok(file)
}

/// A file that holds a secret must be readable by its owner only.
pub fn check_private(path: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(format_args!("cannot read {}", path.display()), &e))?;
    if !meta.is_file() {
        return Err(Error::config(format!("{} is not a file", path.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::config(format!(
            "{} is readable by group or others (mode {mode:04o}) and {what}",
            path.display()
        ))
        .with_hint(format!(
            "restrict it to its owner: chmod 600 {} (and make a new token if others may have read it)",
            path.display()
        )));
    }
    Ok(())
}

/// Reads a token file: owner-only, one non-empty line.
pub fn read_token_file(path: &Path) -> Result<String> {
    check_private(path, "a token file must be private")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format_args!("cannot read token file {}", path.display()), &e))?;
    let token = text.trim();
    if token.is_empty() || token.lines().count() != 1 {
        return Err(Error::config(format!(
            "token file {} must hold one token (`ota_...`) on one line",
            path.display()
        ))
        .with_hint("`ota-server init` and `otactl token create` print a token on stdout: redirect it to the file"));
    }
    Ok(token.to_owned())
}

/// A path from the config file: relative to the file's directory.
fn relative_to(config: &Path, path: &Path) -> PathBuf {
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

impl Settings {
    /// Flags, then the environment, then the config file. Reads the token (checking the
    /// permissions of the file it comes from) but does not require any setting: see
    /// [`Settings::client`].
    pub fn resolve(overrides: &Overrides) -> Result<Self> {
        let config_file = config_path(overrides)?;
        let file = match &config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let from_file = |p: &Path| match &config_file {
            Some(c) => relative_to(c, p),
            None => p.to_path_buf(),
        };
        let url = overrides
            .url
            .clone()
            .map(|u| (u, "--url"))
            .or_else(|| env(ENV_URL).map(|u| (u, ENV_URL)))
            .or_else(|| file.url.clone().map(|u| (u, "config file")));
        let ca = overrides
            .ca
            .clone()
            .map(|c| (c, "--ca"))
            .or_else(|| env(ENV_CA).map(|c| (PathBuf::from(c), ENV_CA)))
            .or_else(|| file.ca.as_deref().map(|c| (from_file(c), "config file")));
        let token = if let Some(path) = &overrides.token_file {
            Some((read_token_file(path)?, TokenSource::File(path.clone())))
        } else if let Some(token) = env(ENV_TOKEN) {
            Some((token.trim().to_owned(), TokenSource::Env))
        } else if let Some(path) = env(ENV_TOKEN_FILE).map(PathBuf::from) {
            Some((read_token_file(&path)?, TokenSource::File(path)))
        } else if let Some(path) = file.token_file.as_deref().map(from_file) {
            Some((read_token_file(&path)?, TokenSource::File(path)))
        } else {
            file.token
                .clone()
                .zip(config_file.clone())
                .map(|(t, c)| (t.trim().to_owned(), TokenSource::ConfigFile(c)))
        };
        Ok(Self {
            config_file,
            url,
            ca,
            token,
        })
    }

    /// The admin client; every setting is required (the CA only for `https`).
    pub fn client(&self) -> Result<AdminClient> {
        let setup = "`otactl config init --url URL --ca CA.pem --token-file FILE` writes a config file";
        let Some((url, _)) = &self.url else {
            return Err(Error::config("no server URL").with_hint(format!("pass --url, set {ENV_URL}, or {setup}")));
        };
        let Some((token, _)) = &self.token else {
            return Err(Error::config("no token").with_hint(format!(
                "pass --token-file FILE, set {ENV_TOKEN_FILE} or {ENV_TOKEN}, or {setup} \
                 (the token is never taken from the command line)"
            )));
        };
        let mut builder = AdminClient::builder(url.clone()).token(token.clone());
        match &self.ca {
            Some((path, _)) => builder = builder.ca_pem(read_ca(path)?),
            None if url.starts_with("https:") => {
                return Err(
                    Error::config("no CA certificate for an https server").with_hint(format!(
                        "pass --ca (the CA that issued the server's certificate; `ota-server init` wrote \
                     srv/tls/fleet-ca.pem), set {ENV_CA}, or {setup}"
                    )),
                )
            }
            None => {}
        }
        Ok(builder.build()?)
    }
}

/// Reads a CA certificate file (PEM).
pub fn read_ca(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::io(format_args!("cannot read CA certificate {}", path.display()), &e))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::config(format!("{} holds no PEM certificate", path.display()))
            .with_hint("--ca takes the CA certificate in PEM (srv/tls/fleet-ca.pem), not a key"));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn token_files_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("admin.token");
        std::fs::write(&path, "ota_secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_token_file(&path).unwrap_err();
        assert!(e.message().contains("mode 0644"), "{e}");
        assert!(e.hint().unwrap().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token_file(&path).unwrap(), "ota_secret");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token_file(&path).is_err());
    }

    #[test]
    fn config_files_with_a_token_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("config.toml");
        std::fs::write(&path, "url = \"https://h:1\"\ntoken = \"ota_x\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_file(&path).unwrap_err().message().contains("readable by group"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_file(&path).unwrap().token.as_deref(), Some("ota_x"));
        std::fs::write(&path, "url = \"https://h:1\"\nsurprise = 1\n").unwrap();
        assert!(read_file(&path).is_err(), "unknown keys are refused");
    }

    #[test]
    fn config_file_paths_are_relative_to_the_file() {
        assert_eq!(
            relative_to(Path::new("/etc/otactl/config.toml"), Path::new("ca.pem")),
            PathBuf::from("/etc/otactl/ca.pem")
        );
        assert_eq!(
            relative_to(Path::new("/etc/otactl/config.toml"), Path::new("/x/ca.pem")),
            PathBuf::from("/x/ca.pem")
        );
    }
}
