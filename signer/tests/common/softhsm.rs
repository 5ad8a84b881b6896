//! A private SoftHSM2 token per test (and per benchmark run): a softhsm2.conf in a temp dir,
//! selected through SOFTHSM2_CONF, so nothing touches the machine's own tokens.
//! Self-contained (the bench includes this file with `#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER_PIN: &str = "1234";
pub const SO_PIN: &str = "12345678";

const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// A tool from PATH; a missing one fails the test with the fix.
pub fn require_tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run `.ci/setup` (installs Debian's softhsm2 and opensc)"))
}

/// SoftHSM2's PKCS#11 module; missing fails the test.
pub fn softhsm_module() -> PathBuf {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("libsofthsm2.so not found in {MODULE_CANDIDATES:?}: run `.ci/setup` (apt package softhsm2)")
        })
}

/// A SoftHSM2 configuration with its own token directory.
pub struct SoftHsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub module: PathBuf,
}

impl SoftHsm {
    /// A fresh token store with one initialized token `label` (user PIN [`USER_PIN`]).
    pub fn with_token(label: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let hsm = Self {
            dir,
            conf,
            module: softhsm_module(),
        };
        hsm.init_token(label);
        hsm
    }

    /// Initializes another token in the first free slot.
    pub fn init_token(&self, label: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
        ]);
    }

    /// Imports a PKCS#8 PEM key pair (Ed25519 works with SoftHSM 2.6) into `token`.
    pub fn import_pkcs8(&self, token: &str, key: &Path, label: &str, id_hex: &str) {
        self.util(&[
            "--import",
            key.to_str().expect("utf-8 path"),
            "--token",
            token,
            "--label",
            label,
            "--id",
            id_hex,
            "--pin",
            USER_PIN,
        ]);
    }

    fn util(&self, args: &[&str]) {
        let out = Command::new(require_tool("softhsm2-util"))
            .env("SOFTHSM2_CONF", &self.conf)
            .args(args)
            .output()
            .expect("run softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Appends a line to softhsm2.conf (read again by every process that loads the module).
    pub fn add_conf(&self, line: &str) {
        let mut conf = std::fs::read_to_string(&self.conf).expect("read softhsm2.conf");
        conf.push_str(line);
        conf.push('\n');
        std::fs::write(&self.conf, conf).expect("write softhsm2.conf");
    }

    /// Points `cmd` at this token store and module, with no PIN configured.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("SOFTHSM2_CONF", &self.conf)
            .env("PKCS11_MODULE", &self.module)
            .env_remove("PKCS11_PIN")
    }

    /// As [`SoftHsm::env`], with the user PIN in PKCS11_PIN.
    pub fn env_pin<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        self.env(cmd).env("PKCS11_PIN", USER_PIN)
    }
}
