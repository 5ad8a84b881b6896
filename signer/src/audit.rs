//! The signing audit log: one JSON line per signature the signer makes, appended to a file
//! that is only ever opened with `O_APPEND` and fsynced before the signed output is written.
//!
//! Every signature the commands make goes through [`AuditedKey`], which appends the line before
//! it hands the signature (or the output built from it) out. Order in `sign`: build and sign in
//! memory → append the audit line (fsync) → atomically write the output. If the log cannot be
//! written, nothing is output and the command fails (exit 2), so no signed artifact exists that
//! the log does not know about. (A crash between the log and the output leaves a logged
//! signature with no file: the safe side.)
//!
//! Path: `--audit-log PATH`, else `$SIGNER_AUDIT_LOG`, else `$XDG_STATE_HOME/signer/audit.jsonl`,
//! else `~/.local/state/signer/audit.jsonl`.

mod audited_key;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use audited_key::AuditedKey;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// One audit record. Never holds secret material (no PINs, no key bytes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// RFC 3339, UTC, millisecond precision.
    pub time: String,
    pub user: String,
    pub uid: Option<u32>,
    pub host: String,
    /// The subcommand (`sign`, ...).
    pub command: String,
    /// The full command line (PINs are never on it: the signer refuses them there).
    pub argv: Vec<String>,
    pub input: Option<String>,
    /// SHA-256 of the input file's bytes.
    pub input_sha256: Option<String>,
    pub output: Option<String>,
    /// SHA-256 of the exact bytes written to the output.
    pub output_sha256: Option<String>,
    /// The digest that was signed (the image hash TLV value), for image signatures.
    pub signed_digest: Option<String>,
    /// SHA-256 of the exact message handed to the key (e.g. a COSE Sig_structure), for
    /// signatures made through [`AuditedKey`].
    #[serde(default)]
    pub signed_message_sha256: Option<String>,
    /// SHA-256 of the signing key's DER SPKI (MCUboot KEYHASH).
    pub key_hash: String,
    /// Where the key lives (`file:...` or `pkcs11:token=...;object=...`).
    pub key: String,
    pub algorithm: String,
    /// Image version (maj.min.rev+build).
    pub version: Option<String>,
    pub security_counter: Option<u32>,
    /// SUIT manifest sequence number, for releases.
    #[serde(default)]
    pub sequence: Option<u64>,
    pub signer_version: String,
}

impl AuditEntry {
    /// An entry for `command` with time, user, host and argv filled in.
    pub fn new(command: &str, key: &str, key_hash: &[u8], algorithm: &str) -> Self {
        Self {
            time: rfc3339_utc(std::time::SystemTime::now()),
            user: current_user(),
            uid: current_uid(),
            host: hostname(),
            command: command.into(),
            argv: std::env::args().collect(),
            input: None,
            input_sha256: None,
            output: None,
            output_sha256: None,
            signed_digest: None,
            signed_message_sha256: None,
            key_hash: hex::encode(key_hash),
            key: key.into(),
            algorithm: algorithm.into(),
            version: None,
            security_counter: None,
            sequence: None,
            signer_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// A template for `command`'s records, for [`AuditedKey`], which fills in the key.
    pub fn for_command(command: &str) -> Self {
        Self::new(command, "", &[], "")
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the log lives: `explicit` (`--audit-log`), `SIGNER_AUDIT_LOG`, XDG state dir, home.
pub fn log_path(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let env_path = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = env_path("SIGNER_AUDIT_LOG") {
        return Ok(path);
    }
    if let Some(state) = env_path("XDG_STATE_HOME") {
        return Ok(state.join("signer/audit.jsonl"));
    }
    if let Some(home) = env_path("HOME") {
        return Ok(home.join(".local/state/signer/audit.jsonl"));
    }
    Err(
        Error::new(ErrorKind::Audit, "no place for the signing audit log (HOME is not set)")
            .with_hint("pass --audit-log PATH or set SIGNER_AUDIT_LOG"),
    )
}

/// Appends `entry` as one line and fsyncs. The file is created 0600; it is never truncated.
pub fn append(path: &Path, entry: &AuditEntry) -> Result<(), Error> {
    let fail = |action: &str, e: &std::io::Error| {
        Error::new(ErrorKind::Audit, format!("cannot {action} the audit log {}: {e}", path.display())).with_hint(
            "signing stops when the audit log cannot be written; fix the path or its permissions, or pass --audit-log PATH / set SIGNER_AUDIT_LOG",
        )
    };
    let mut line = serde_json::to_vec(entry).map_err(|e| Error::internal(format!("cannot encode audit entry: {e}")))?;
    line.push(b'\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| fail("create the directory of", &e))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| fail("open", &e))?;
    // One write of the whole line: with O_APPEND it lands at the end, not interleaved.
    file.write_all(&line).map_err(|e| fail("write", &e))?;
    file.sync_all().map_err(|e| fail("fsync", &e))?;
    Ok(())
}

/// Reads all entries of a log (for tests and audits).
pub fn read_log(path: &Path) -> Result<Vec<AuditEntry>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format_args!("cannot read the audit log {}", path.display()), &e))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::input(format!("{} line {}: not an audit entry: {e}", path.display(), i + 1)))
        })
        .collect()
}

fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| current_uid().and_then(user_name_of))
        .unwrap_or_else(|| "unknown".into())
}

/// The account name of `uid` from /etc/passwd (cron jobs and CI often have no USER).
fn user_name_of(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").ok().map(|m| m.uid())
    }
    #[cfg(not(unix))]
    None
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// RFC 3339 UTC timestamp (`2026-11-21T05:06:07.123Z`).
pub fn rfc3339_utc(time: std::time::SystemTime) -> String {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (leap day) 12:34:56.789
        let t = UNIX_EPOCH + Duration::from_millis(951_827_696_789);
        assert_eq!(rfc3339_utc(t), "2000-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(rfc3339_utc(t), "2026-11-18T11:06:40.000Z");
    }

    #[test]
    fn append_only_adds_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/audit.jsonl");
        let mut entry = AuditEntry::new("sign", "file:k.pem", &[1; 32], "ed25519");
        append(&path, &entry).unwrap();
        entry.security_counter = Some(7);
        append(&path, &entry).unwrap();
        let entries = read_log(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].security_counter, Some(7));
        assert_eq!(entries[0].key_hash, hex::encode([1u8; 32]));
    }

    #[test]
    fn unwritable_log_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let entry = AuditEntry::new("sign", "file:k.pem", &[1; 32], "ed25519");
        // A directory cannot be opened for appending.
        let err = append(dir.path(), &entry).unwrap_err();
        assert!(err.message().contains("audit log"), "{err}");
        assert_eq!(err.kind(), ErrorKind::Audit);
    }
}
