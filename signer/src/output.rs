//! Atomic output: write to a temporary file in the destination directory, fsync, rename.
//! An interrupted run never leaves a half-written file, and nothing is replaced unless asked.

use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Whether an existing destination may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Writes `bytes` to `path` atomically. With [`Overwrite::Refuse`], an existing file is an error.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<(), Error> {
    // Temporary files are created 0600; ordinary outputs are world-readable like `cp` would make them.
    write_atomic_with_mode(path, bytes, overwrite, Some(0o644))
}

/// As [`write_atomic`], setting Unix permissions `mode` (e.g. 0o600 for private keys) before the
/// file becomes visible.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], overwrite: Overwrite, mode: Option<u32>) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if overwrite == Overwrite::Refuse && path.exists() {
        return Err(Error::output_exists(path));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".signer-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(format_args!("cannot create a temporary file in {}", dir.display()), &e))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format_args!("cannot set permissions on {}", tmp.path().display()), &e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes)
        .map_err(|e| Error::io(format_args!("cannot write {}", tmp.path().display()), &e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(format_args!("cannot sync {}", tmp.path().display()), &e))?;
    let persisted = match overwrite {
        Overwrite::Replace => tmp.persist(path).map(|_| ()),
        Overwrite::Refuse => tmp.persist_noclobber(path).map(|_| ()),
    };
    persisted.map_err(|e| Error::io(format_args!("cannot write {}", path.display()), &e.error))?;
    // Make the rename itself durable.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
