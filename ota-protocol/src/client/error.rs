//! What can go wrong talking to the admin API.

use std::path::PathBuf;

use crate::ErrorCode;

/// A failed admin call: the server's answer (its stable code, message and HTTP status), or why
/// there was no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server refused the request: `{"error": {"code", "message"}}` with a 4xx or 5xx.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// An answer that is not the API's JSON (another service, a proxy's error page).
    #[error("unexpected answer (HTTP {status}): {detail}")]
    UnexpectedResponse { status: u16, detail: String },
    /// No answer: connection, TLS handshake or timeout.
    #[error("cannot reach the server: {}", chain(.0))]
    Transport(#[source] reqwest::Error),
    /// A release bundle that cannot be read or is not a `signer release` output directory.
    #[error("{}: {message}", path.display())]
    Bundle { path: PathBuf, message: String },
    /// An argument the API cannot carry (e.g. an empty id).
    #[error("{0}")]
    InvalidArgument(String),
    /// The client's own settings: server URL, CA certificate.
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// The server's stable error code, if it answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its causes, `: `-separated (reqwest's own message omits the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
