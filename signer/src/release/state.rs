//! The signer's local record of the last sequence number signed per device class, so that a
//! release engineer cannot accidentally sign a release devices would refuse (or, worse, a
//! sequence number that lets an old release be replayed after a newer one was signed).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// `{"classes": {"<class-uuid>": last_sequence}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SequenceState {
    pub classes: BTreeMap<String, u64>,
}

impl SequenceState {
    /// Loads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, Error> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::input(format!("parsing {}: {e}", path.display())).with_hint(
                    "the state file holds the last sequence signed per class ({\"classes\": {...}}); restore it from a backup",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io(format_args!("reading {}", path.display()), &e)),
        }
    }

    pub fn last(&self, class_id: &uuid::Uuid) -> Option<u64> {
        self.classes.get(&class_id.to_string()).copied()
    }

    /// Refuses a sequence number not above the last one signed for the class, unless `force`.
    pub fn check(&self, class_id: &uuid::Uuid, sequence: u64, force: bool) -> Result<(), Error> {
        if let Some(last) = self.last(class_id) {
            if sequence <= last && !force {
                return Err(Error::new(
                    ErrorKind::Rollback,
                    format!("sequence {sequence} is not above {last}, the last one signed for class {class_id}"),
                )
                .with_hint(format!(
                    "devices that installed {last} will refuse it; pass --force only to re-sign deliberately"
                )));
            }
        }
        Ok(())
    }

    /// Records a signed sequence number (keeps the maximum).
    pub fn record(&mut self, class_id: &uuid::Uuid, sequence: u64) {
        let entry = self.classes.entry(class_id.to_string()).or_insert(sequence);
        *entry = (*entry).max(sequence);
    }

    /// Writes the state atomically.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::internal(format!("cannot encode the sequence state: {e}")))?;
        json.push(b'\n');
        super::bundle::replace(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_lower_and_equal_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let class = uuid::Uuid::from_bytes([7; 16]);
        let mut state = SequenceState::load(&path).unwrap();
        state.check(&class, 1, false).unwrap();
        state.record(&class, 5);
        state.save(&path).unwrap();
        let state = SequenceState::load(&path).unwrap();
        assert!(state.check(&class, 5, false).is_err());
        assert!(state.check(&class, 4, false).is_err());
        state.check(&class, 4, true).unwrap();
        state.check(&class, 6, false).unwrap();
    }
}
