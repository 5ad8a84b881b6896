//! Who may register on first contact (issue 16, registration policy): per class `open` (any
//! device with a certificate from the fleet CA) or `allowlist` (only device ids an operator
//! registered ahead), and a deny list (recalls, stolen units) that refuses a device whatever the
//! policy, and revokes it if it is already registered.

use serde::{Deserialize, Serialize};

use super::Millis;

/// A class's registration policy (`[[classes]] registration = "open" | "allowlist"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationPolicy {
    /// Any device with a fleet certificate registers on first contact.
    #[default]
    Open,
    /// Only devices on the allow list register.
    Allowlist,
}

impl RegistrationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Allowlist => "allowlist",
        }
    }
}

/// The two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationList {
    Allow,
    Deny,
}

impl RegistrationList {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Self::Allow),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }
}

/// One device id on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationEntry {
    pub device_id: String,
    /// Allow list: the class the device registers in when its certificate names none (an
    /// operator's assignment, like `PUT .../class`). Unused on the deny list.
    pub class: Option<String>,
    pub note: String,
    pub created_ms: Millis,
    /// The token that added it (name and id, never the secret).
    pub created_by: String,
}

/// Why a first contact does not register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationRefusal {
    /// The device id is on the deny list.
    Denied,
    /// The class admits only allow-listed devices, and this one is not.
    NotAllowed { class: String },
}

/// The decision for a device's first contact: the class it registers in (`None`: no class, as
/// an open registration without OU did before), or why it may not register.
///
/// `class_policy` gives a class's policy; `cert_class` is the certificate's OU (already known
/// to be served); `allowed` the device's allow-list entry, `denied` whether it is on the deny
/// list. A device without a class in its certificate falls under the allow entry's class, if
/// any, and otherwise under the strictest policy any class has (an unclassed device must not
/// slip past an allow list by leaving its OU out).
pub fn decide_registration(
    class_policy: impl Fn(&str) -> RegistrationPolicy,
    any_allowlist: bool,
    cert_class: Option<&str>,
    allowed: Option<&RegistrationEntry>,
    denied: bool,
) -> Result<Option<String>, RegistrationRefusal> {
    if denied {
        return Err(RegistrationRefusal::Denied);
    }
    let class = cert_class
        .map(str::to_owned)
        .or_else(|| allowed.and_then(|a| a.class.clone()));
    let policy = match class.as_deref() {
        Some(c) => class_policy(c),
        None if any_allowlist => RegistrationPolicy::Allowlist,
        None => RegistrationPolicy::Open,
    };
    match policy {
        RegistrationPolicy::Open => Ok(class),
        RegistrationPolicy::Allowlist if allowed.is_some() => Ok(class),
        RegistrationPolicy::Allowlist => Err(RegistrationRefusal::NotAllowed {
            class: class.unwrap_or_else(|| "(none)".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(class: Option<&str>) -> RegistrationEntry {
        RegistrationEntry {
            device_id: "d".into(),
            class: class.map(str::to_owned),
            note: String::new(),
            created_ms: 0,
            created_by: "t".into(),
        }
    }

    fn policy(c: &str) -> RegistrationPolicy {
        if c == "locked" {
            RegistrationPolicy::Allowlist
        } else {
            RegistrationPolicy::Open
        }
    }

    #[test]
    fn open_class_registers_anyone_not_denied() {
        assert_eq!(
            decide_registration(policy, true, Some("free"), None, false),
            Ok(Some("free".into()))
        );
        assert_eq!(
            decide_registration(policy, true, Some("free"), None, true),
            Err(RegistrationRefusal::Denied)
        );
    }

    #[test]
    fn allowlist_class_needs_an_entry() {
        assert_eq!(
            decide_registration(policy, true, Some("locked"), None, false),
            Err(RegistrationRefusal::NotAllowed { class: "locked".into() })
        );
        let e = entry(None);
        assert_eq!(
            decide_registration(policy, true, Some("locked"), Some(&e), false),
            Ok(Some("locked".into()))
        );
        // Denied wins over allowed.
        assert_eq!(
            decide_registration(policy, true, Some("locked"), Some(&e), true),
            Err(RegistrationRefusal::Denied)
        );
    }

    #[test]
    fn a_device_without_ou_cannot_dodge_an_allowlist() {
        assert_eq!(
            decide_registration(policy, true, None, None, false),
            Err(RegistrationRefusal::NotAllowed { class: "(none)".into() })
        );
        assert_eq!(decide_registration(policy, false, None, None, false), Ok(None));
        // The allow entry's class is the operator's assignment.
        let e = entry(Some("locked"));
        assert_eq!(
            decide_registration(policy, true, None, Some(&e), false),
            Ok(Some("locked".into()))
        );
    }
}
