//! `signer hsm list`: the tokens a module offers and the key objects in them.
//!
//! Without a PIN only public objects are visible (that is all most tokens show before login);
//! with one (pin-source in the URI, PKCS11_PIN, or `--login` at a terminal) private keys too.

use cryptoki::object::{KeyType, ObjectClass};

use super::objects::{all_of_class, class_name, public_key_of};
use super::token::{module_path, Module};
use super::uri::Pkcs11Uri;
use super::TokenSession;
use crate::error::Error;
use crate::keys::{key_hash, KeyAlgorithm};

/// One key object in a token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyObjectListing {
    /// `private` or `public`.
    pub class: &'static str,
    pub label: String,
    /// CKA_ID, hex.
    pub id: String,
    /// `ed25519`, `ecdsa-p256`, or the PKCS#11 key type for others.
    #[serde(rename = "type")]
    pub key_type: String,
    /// SHA-256 of the DER SPKI (what MCUboot's KEYHASH holds), when the public half is readable.
    pub key_hash: Option<String>,
    /// A URI that selects this key.
    pub uri: String,
}

/// One token and its visible keys.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenListing {
    pub slot: u64,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub login_required: bool,
    pub user_pin_locked: bool,
    /// Whether the listing was made logged in (private objects included).
    pub logged_in: bool,
    pub keys: Vec<KeyObjectListing>,
}

/// Lists the tokens of the module `spec` (a `pkcs11:` URI, possibly just `pkcs11:`) names.
/// `prompt`: ask for a PIN on the terminal if none is configured.
pub fn list_tokens(spec: &str, prompt: bool) -> Result<Vec<TokenListing>, Error> {
    let uri = Pkcs11Uri::parse(spec)?;
    let module = Module::load(&module_path(&uri)?)?;
    let mut out = Vec::new();
    for (slot, info) in module.tokens()? {
        if !info.token_initialized() {
            continue;
        }
        if uri.token.as_deref().is_some_and(|t| t != info.label().trim_end()) {
            continue;
        }
        let session = module
            .ctx
            .open_ro_session(slot)
            .map_err(|e| super::token::ck_error("opening a session", e))?;
        let mut ts = TokenSession {
            module: module.clone(),
            slot,
            info: info.clone(),
            session,
            logged_in: false,
        };
        if info.login_required() && !info.user_pin_locked() {
            ts.login(&uri, prompt)?;
        }
        let mut keys = Vec::new();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            for object in all_of_class(&ts, class)? {
                let public = public_key_of(&ts, &object).ok();
                let key_type = match (&public, object.key_type) {
                    (Some((alg, _)), _) => alg.imgtool_name().to_string(),
                    (None, Some(t)) if t == KeyType::EC_EDWARDS => KeyAlgorithm::Ed25519.imgtool_name().to_string(),
                    (None, Some(t)) => t.to_string(),
                    (None, None) => "unknown".into(),
                };
                keys.push(KeyObjectListing {
                    class: class_name(class),
                    label: object.label.clone(),
                    id: hex::encode(&object.id),
                    key_type,
                    key_hash: public.map(|(_, spki)| hex::encode(key_hash(&spki))),
                    uri: format!("pkcs11:token={};{}", ts.label(), object.describe_uri_part()),
                });
            }
        }
        keys.sort_by(|a, b| (&a.label, &a.id, a.class).cmp(&(&b.label, &b.id, b.class)));
        out.push(TokenListing {
            slot: slot.id(),
            label: ts.label().to_string(),
            manufacturer: info.manufacturer_id().trim_end().to_string(),
            model: info.model().trim_end().to_string(),
            serial: info.serial_number().trim_end().to_string(),
            login_required: info.login_required(),
            user_pin_locked: info.user_pin_locked(),
            logged_in: ts.logged_in,
            keys,
        });
    }
    Ok(out)
}
