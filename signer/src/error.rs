//! The signer's one error type: what went wrong ([`ErrorKind`]), a message, and the hint that
//! tells the user what to do about it. The hint is attached where the cause is known and travels
//! with the error; `cli` prints `error: <message>` and `hint: <hint>` and maps the kind to the
//! exit status (0 ok, 1 verification failed, 2 usage or operational error). Nothing classifies
//! an error by its text.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// What kind of failure an [`Error`] is: decides the exit status and lets library callers
/// branch without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An image, patch or release was checked and is not valid: tampered, signed by an untrusted
    /// key, made for another base or device class, below the rollback floor.
    Invalid,
    /// The command line asks for something that cannot be done (a bad version string,
    /// conflicting options, a malformed PKCS#11 URI).
    Usage,
    /// An input file is not what the command needs (not Intel HEX / ELF / an MCUboot image /
    /// a SUIT envelope, or a state file that does not parse).
    Input,
    /// A key file or trusted public key cannot be used.
    Key,
    /// The PKCS#11 module, token, PIN or key object cannot be used.
    Token,
    /// A file could not be read or written.
    Io,
    /// The output already exists and replacing it was not asked for.
    OutputExists,
    /// The signing audit log cannot be written; nothing signed was output.
    Audit,
    /// A release's sequence number is not above the last one signed for its class.
    Rollback,
    /// A check of the signer's own output failed (a faulty key or token, or a bug).
    Internal,
}

/// An error shown to the user as `error: <message>` and, when there is one, `hint: <hint>`.
///
/// `Display` shows the message only; [`Error::hint`] gives the hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<Cow<'static, str>>,
}

/// `Result` with the signer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// [`ErrorKind::Invalid`]: checked and not valid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// [`ErrorKind::Usage`].
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// [`ErrorKind::Input`].
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    /// [`ErrorKind::Key`].
    pub fn key(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Key, message)
    }

    /// [`ErrorKind::Token`].
    pub fn token(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Token, message)
    }

    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// An I/O error while doing `what` (`cannot read input app.bin`, `reading state.json`):
    /// the message is `<what>: <error>`, with a hint for the common causes.
    pub fn io(what: impl fmt::Display, error: &std::io::Error) -> Self {
        let message = format!("{what}: {error}");
        match error.kind() {
            std::io::ErrorKind::NotFound => Self::new(ErrorKind::Io, message)
                .with_hint("check the path; relative paths are resolved from the current directory"),
            std::io::ErrorKind::PermissionDenied => {
                Self::new(ErrorKind::Io, message).with_hint("check the file's permissions")
            }
            std::io::ErrorKind::AlreadyExists => {
                Self::new(ErrorKind::OutputExists, message).with_hint("pass --force to replace it")
            }
            _ => Self::new(ErrorKind::Io, message),
        }
    }

    /// `<path> already exists`: an output that is never replaced without `--force`.
    pub fn output_exists(path: &Path) -> Self {
        Self::new(ErrorKind::OutputExists, format!("{} already exists", path.display()))
            .with_hint("choose another output path, or pass --force to replace it")
    }

    /// Sets the hint (replacing any the error had).
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with what was being done (`diffing app.bin: ...`); kind and hint stay.
    #[must_use]
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The same error as another kind (a failure that means something else where it happened).
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<crate::delta::DeltaError> for Error {
    /// A patch that does not parse or apply is invalid input for this base (exit 1); an image
    /// too large for the patch format is a usage error.
    fn from(error: crate::delta::DeltaError) -> Self {
        match error {
            crate::delta::DeltaError::TooLarge => Self::usage(error.to_string())
                .with_hint("the patch format covers bases below 2 GiB and results below 4 GiB (docs/FORMATS.md)"),
            crate::delta::DeltaError::Header(_) | crate::delta::DeltaError::Apply(_) => {
                Self::invalid(error.to_string())
                    .with_hint("is the patch made for this base image? `signer dumpinfo` shows each image's version")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_carry_a_hint_for_their_cause() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = Error::io("cannot read key k.pem", &missing);
        assert_eq!(error.kind(), ErrorKind::Io);
        assert!(error.message().starts_with("cannot read key k.pem: "));
        assert!(error.hint().is_some_and(|h| h.contains("check the path")));
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        assert_eq!(Error::io("cannot write o.bin", &exists).kind(), ErrorKind::OutputExists);
    }

    #[test]
    fn context_keeps_kind_and_hint() {
        let error = Error::output_exists(Path::new("o.bin")).context("writing the patch");
        assert_eq!(error.to_string(), "writing the patch: o.bin already exists");
        assert_eq!(error.kind(), ErrorKind::OutputExists);
        assert!(error.hint().is_some_and(|h| h.contains("--force")));
    }
}
