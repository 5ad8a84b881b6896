//! Device status reports.

use serde::Deserialize;
use utoipa::ToSchema;

/// What a device reports about an update in progress.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StatusReport {
    Downloading { release_id: Option<i64> },
    Downloaded { release_id: Option<i64> },
    Verified { release_id: Option<i64> },
    Installing { release_id: Option<i64> },
    Rebooted { release_id: Option<i64> },
    Committed { release_id: Option<i64> },
    Failed { release_id: Option<i64>, reason: String },
    RolledBack { release_id: Option<i64> },
}

/// Longest failure reason kept.
pub const MAX_REASON: usize = 512;

impl StatusReport {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Downloading { .. } => "downloading",
            Self::Downloaded { .. } => "downloaded",
            Self::Verified { .. } => "verified",
            Self::Installing { .. } => "installing",
            Self::Rebooted { .. } => "rebooted",
            Self::Committed { .. } => "committed",
            Self::Failed { .. } => "failed",
            Self::RolledBack { .. } => "rolled-back",
        }
    }

    pub fn release_id(&self) -> Option<i64> {
        match self {
            Self::Downloading { release_id }
            | Self::Downloaded { release_id }
            | Self::Verified { release_id }
            | Self::Installing { release_id }
            | Self::Rebooted { release_id }
            | Self::Committed { release_id }
            | Self::Failed { release_id, .. }
            | Self::RolledBack { release_id } => *release_id,
        }
    }

    /// The failure reason, truncated to [`MAX_REASON`] bytes on a char boundary.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Failed { reason, .. } => {
                let mut end = reason.len().min(MAX_REASON);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.get(..end)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_status() {
        for s in [
            "downloading",
            "downloaded",
            "verified",
            "installing",
            "rebooted",
            "committed",
            "rolled-back",
        ] {
            let r: StatusReport = serde_json::from_str(&format!(r#"{{"status":"{s}"}}"#)).unwrap();
            assert_eq!(r.name(), s);
        }
        let r: StatusReport = serde_json::from_str(r#"{"status":"failed","reason":"boot loop"}"#).unwrap();
        assert_eq!(r.reason(), Some("boot loop"));
        assert!(serde_json::from_str::<StatusReport>(r#"{"status":"failed"}"#).is_err());
        assert!(serde_json::from_str::<StatusReport>(r#"{"status":"exploded"}"#).is_err());
    }
}
