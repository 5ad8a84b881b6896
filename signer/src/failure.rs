//! How the signer fails: a message, an optional hint, and an exit code.
//! Exit codes: 0 ok, 1 verification failed, 2 usage or operational error.

use std::fmt;

/// Exit status classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// The input was checked and is not valid (exit 1).
    Invalid,
    /// Bad usage, unreadable input, I/O failure (exit 2).
    Operational,
}

/// An error shown to the user as `error: ...` and `hint: ...`.
#[derive(Debug)]
pub struct Failure {
    pub kind: ExitKind,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn operational(message: impl Into<String>) -> Self {
        Self {
            kind: ExitKind::Operational,
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ExitKind::Invalid,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ExitKind::Invalid => 1,
            ExitKind::Operational => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// `Failure` from an I/O error on a path, with a useful hint.
pub fn io_failure(action: &str, path: &std::path::Path, error: &std::io::Error) -> Failure {
    let failure = Failure::operational(format!("cannot {action} {}: {error}", path.display()));
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            failure.hint("check the path; relative paths are resolved from the current directory")
        }
        std::io::ErrorKind::PermissionDenied => failure.hint("check the file's permissions"),
        std::io::ErrorKind::AlreadyExists => failure.hint("pass --force to replace it"),
        _ => failure,
    }
}
