//! otactl's one error type, as the signer's (signer/src/error.rs): a kind that decides the exit
//! status, a message and the hint that tells the operator what to do. The binary prints
//! `error: <message>` and `hint: <hint>` on stderr.
//!
//! Exit status: 0 ok, 1 the server refused the request (a 4xx with its stable code), 2 usage,
//! configuration or transport error (and 5xx: the server failed, the request may be retried).

use std::borrow::Cow;
use std::fmt;

use ota_protocol::client::ClientError;
use ota_protocol::ErrorCode;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered and refused: a 4xx with a stable code (exit 1).
    Refused,
    /// The command line asks for something that cannot be done (exit 2).
    Usage,
    /// Server URL, CA certificate or token cannot be used, or the config file is wrong (exit 2).
    Config,
    /// No usable answer: connection, TLS, timeout, a 5xx, or not the API's JSON (exit 2).
    Transport,
    /// A local file could not be read or written (exit 2).
    Io,
    /// Stopped with Ctrl-C while watching (exit 130, as a shell reports SIGINT; nothing printed).
    Interrupted,
}

/// An error shown as `error: <message>` and, when there is one, `hint: <hint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<Cow<'static, str>>,
    code: Option<ErrorCode>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
            code: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// An I/O error while doing `what`: `<what>: <error>`, with a hint for the common causes.
    pub fn io(what: impl fmt::Display, error: &std::io::Error) -> Self {
        let e = Self::new(ErrorKind::Io, format!("{what}: {error}"));
        match error.kind() {
            std::io::ErrorKind::NotFound => {
                e.with_hint("check the path; relative paths are resolved from the current directory")
            }
            std::io::ErrorKind::PermissionDenied => e.with_hint("check the file's permissions"),
            _ => e,
        }
    }

    /// Sets the hint (replacing any the error had).
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
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

    /// The server's stable error code, when the server refused.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.code.as_ref()
    }

    /// The exit status: 1 when the server refused, 130 after Ctrl-C, 2 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ErrorKind::Refused => 1,
            ErrorKind::Interrupted => 130,
            _ => 2,
        }
    }

    /// What the binary prints on stderr (nothing after Ctrl-C).
    pub fn render(&self) -> String {
        if self.kind == ErrorKind::Interrupted {
            return String::new();
        }
        match &self.hint {
            Some(hint) => format!("error: {}\nhint: {hint}", self.message),
            None => format!("error: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<ClientError> for Error {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api { status, code, message } if (400..500).contains(&status) => {
                let hint = hint_for(&code, status);
                Self {
                    kind: ErrorKind::Refused,
                    message: format!("{code}: {message}"),
                    hint: Some(hint),
                    code: Some(code),
                }
            }
            ClientError::Api { status, code, message } => Self::new(
                ErrorKind::Transport,
                format!("the server failed: {message} ({code}, HTTP {status})"),
            )
            .with_hint("the cause is in the server's log; try again once it is fixed"),
            ClientError::UnexpectedResponse { status, detail } => Self::new(
                ErrorKind::Transport,
                format!("unexpected answer (HTTP {status}), not the admin API's: {detail}"),
            )
            .with_hint("check that --url (OTACTL_URL, `url` in the config file) is the ota-server's address"),
            e @ ClientError::Transport(_) => Self::new(ErrorKind::Transport, e.to_string()).with_hint(
                "check --url (OTACTL_URL, `url` in the config file) and that the server is running; after a \
                 certificate error, --ca (OTACTL_CA, `ca`) must be the CA that issued the server's certificate \
                 (`ota-server init` wrote srv/tls/fleet-ca.pem) and the URL's host a name in it",
            ),
            e @ ClientError::Bundle { .. } => Self::new(ErrorKind::Usage, e.to_string())
                .with_hint("pass the directory `signer release -o DIR` wrote (release.suit, the image, release.json)"),
            ClientError::InvalidArgument(m) => Self::usage(m),
            ClientError::Config(m) => Self::config(m).with_hint(
                "set the server URL and CA certificate with --url/--ca, OTACTL_URL/OTACTL_CA or \
                 `otactl config init`",
            ),
            other => Self::new(ErrorKind::Transport, other.to_string()),
        }
    }
}

/// What to do about a refusal, by its stable code (ota-server/README.md, "API").
fn hint_for(code: &ErrorCode, status: u16) -> Cow<'static, str> {
    let hint: &'static str = if *code == ErrorCode::MISSING_TOKEN || *code == ErrorCode::INVALID_TOKEN {
        "check the token (--token-file, OTACTL_TOKEN_FILE, OTACTL_TOKEN or the config file); \
         `otactl config show` says which one is used"
    } else if *code == ErrorCode::TOKEN_REVOKED || *code == ErrorCode::TOKEN_EXPIRED {
        "this token can no longer be used: an admin makes a new one with `otactl token create` \
         (`otactl token list` shows which are revoked or expired)"
    } else if *code == ErrorCode::INSUFFICIENT_ROLE {
        "this needs a token with a higher role (viewer < release-manager < admin); an admin makes one \
         with `otactl token create`"
    } else if *code == ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS {
        "cut a new release with a higher --sequence (`signer release`); `otactl release list` shows the stored ones"
    } else if [
        ErrorCode::MANIFEST_UNTRUSTED_KEY,
        ErrorCode::MANIFEST_SIGNATURE_INVALID,
        ErrorCode::MANIFEST_THRESHOLD_NOT_MET,
        ErrorCode::MANIFEST_DIGEST_MISMATCH,
        ErrorCode::IMAGE_DIGEST_MISMATCH,
        ErrorCode::IMAGE_SIZE_MISMATCH,
        ErrorCode::IMAGE_SIGNATURE_INVALID,
        ErrorCode::IMAGE_MALFORMED,
        ErrorCode::PATCH_MISSING,
        ErrorCode::PATCH_SIZE_MISMATCH,
        ErrorCode::PATCH_DIGEST_MISMATCH,
        ErrorCode::UNEXPECTED_ARTIFACT,
        ErrorCode::SUMMARY_MISMATCH,
        ErrorCode::ENVELOPE_MALFORMED,
    ]
    .contains(code)
    {
        "the bundle is not what was signed for this server: copy it again from the signing machine \
         (`signer release verify` checks it offline); nothing of it was stored"
    } else if *code == ErrorCode::UNKNOWN_DEVICE_CLASS {
        "the class (of the release, or the one assigned to a device) is not one the server is configured \
         for: `[[classes]]` in its config lists them"
    } else if *code == ErrorCode::ROLLOUT_EXISTS {
        "the release already has an unfinished rollout: `otactl rollout list` shows it"
    } else if *code == ErrorCode::RELEASE_SUPERSEDED {
        "a newer release of the class already has a rollout: roll that one out instead"
    } else if *code == ErrorCode::INVALID_ACTION {
        "the action does not apply in the rollout's state: `otactl rollout status ID` shows it"
    } else if *code == ErrorCode::INVALID_PLAN {
        "stages are cumulative percentages, increasing, the last one 100 (e.g. --stages 1,10,50,100)"
    } else if *code == ErrorCode::INVALID_TAGS {
        "tags are at most 32, each 1-32 of a-z 0-9 . _ -"
    } else if *code == ErrorCode::RELEASE_NOT_FOUND {
        "`otactl release list` shows the stored releases"
    } else if *code == ErrorCode::ROLLOUT_NOT_FOUND {
        "`otactl rollout list` shows the rollouts"
    } else if *code == ErrorCode::DEVICE_NOT_FOUND {
        "`otactl device list` shows the registered devices (a device registers at its first check-in)"
    } else if *code == ErrorCode::INVALID_ROLE {
        "roles are viewer, release-manager and admin"
    } else if *code == ErrorCode::NOT_FOUND || *code == ErrorCode::METHOD_NOT_ALLOWED {
        "the server does not have this endpoint: is it an older ota-server, or is --url not its address?"
    } else {
        return Cow::Owned(format!(
            "the server refused the request (HTTP {status}); ota-server/README.md, \"API\", lists the codes"
        ));
    };
    Cow::Borrowed(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_exit_1_with_the_code_and_a_hint() {
        let e = Error::from(ClientError::Api {
            status: 409,
            code: ErrorCode::ROLLOUT_EXISTS,
            message: "release 1 has an unfinished rollout".into(),
        });
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.code(), Some(&ErrorCode::ROLLOUT_EXISTS));
        assert!(
            e.render().starts_with("error: rollout_exists: release 1"),
            "{}",
            e.render()
        );
        assert!(e.render().contains("\nhint: "), "{}", e.render());
    }

    #[test]
    fn server_failures_and_local_errors_exit_2() {
        let e = Error::from(ClientError::Api {
            status: 500,
            code: ErrorCode::INTERNAL,
            message: "internal error".into(),
        });
        assert_eq!(e.exit_code(), 2);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::from(ClientError::Config("bad".into())).exit_code(), 2);
        let unknown = Error::from(ClientError::Api {
            status: 400,
            code: ErrorCode::from("from_the_future"),
            message: "m".into(),
        });
        assert_eq!(unknown.exit_code(), 1);
        assert!(unknown.hint().unwrap().contains("HTTP 400"));
    }
}
