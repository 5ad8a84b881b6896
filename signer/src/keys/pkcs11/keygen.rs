//! Generating a key pair inside the token: the private key is created sensitive and
//! never-extractable, usable only to sign; the public key is exportable.

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use rand_core::RngCore;

use super::encoding::{ec_params_for, ed25519_curve_name};
use super::objects::{public_key_of, KeyObject};
use super::token::ck_error;
use super::uri::{encode_id, Pkcs11Uri};
use super::TokenSession;
use crate::error::Error;
use crate::keys::KeyAlgorithm;

/// A key generated in a token.
#[derive(Debug, Clone)]
pub struct GeneratedTokenKey {
    pub algorithm: KeyAlgorithm,
    /// DER SubjectPublicKeyInfo of the new public key.
    pub spki: Vec<u8>,
    /// `pkcs11:token=...;object=...;id=...` naming the new key.
    pub uri: String,
}

/// Generates `algorithm` in the token `spec` names, labelled with its `object=`.
/// Refuses a label (or id) that is already in use.
pub fn generate_token_key(spec: &str, algorithm: KeyAlgorithm) -> Result<GeneratedTokenKey, Error> {
    let uri = Pkcs11Uri::parse(spec)?;
    let label = uri.object.clone().ok_or_else(|| {
        Error::token(format!("{} has no object= label for the new key", uri.describe()))
            .with_hint("add object=NAME to the URI, e.g. 'pkcs11:token=fw-release;object=image-key-2026'")
    })?;
    let mut ts = TokenSession::open(&uri, true)?;
    ts.login(&uri, true)?;
    let (mechanism, mech_type, mech_name, key_type) = match algorithm {
        KeyAlgorithm::Ed25519 => (
            Mechanism::EccEdwardsKeyPairGen,
            MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
            "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            KeyType::EC_EDWARDS,
        ),
        KeyAlgorithm::EcdsaP256 => (
            Mechanism::EccKeyPairGen,
            MechanismType::ECC_KEY_PAIR_GEN,
            "CKM_EC_KEY_PAIR_GEN",
            KeyType::EC,
        ),
    };
    ts.require_mechanism(
        mech_type,
        mech_name,
        &format!("generate an {} key", algorithm.imgtool_name()),
    )?;
    refuse_existing(
        &ts,
        &[Attribute::Label(label.as_bytes().to_vec())],
        &format!("label {label:?}"),
    )?;
    let id = match &uri.id {
        Some(id) => {
            refuse_existing(&ts, &[Attribute::Id(id.clone())], &format!("id {}", encode_id(id)))?;
            id.clone()
        }
        None => {
            let mut id = vec![0u8; 8];
            rand_core::OsRng.fill_bytes(&mut id);
            id
        }
    };
    let common = [
        Attribute::Token(true),
        Attribute::KeyType(key_type),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ];
    let mut public = common.to_vec();
    public.extend([
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(ec_params_for(algorithm)),
    ]);
    let mut private = common.to_vec();
    private.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Derive(false),
    ]);
    let mut result = ts.session.generate_key_pair(&mechanism, &public, &private);
    if algorithm == KeyAlgorithm::Ed25519 && curve_refused(&result) {
        // PKCS#11 3.0 §2.3.10 lets tokens name the curve instead of the RFC 8410 OID.
        for attr in public.iter_mut() {
            if let Attribute::EcParams(params) = attr {
                *params = ed25519_curve_name();
            }
        }
        result = ts.session.generate_key_pair(&mechanism, &public, &private);
    }
    let (public_handle, _private_handle) = result.map_err(|e| {
        ck_error(
            &format!(
                "generating an {} key in token {:?}",
                algorithm.imgtool_name(),
                ts.label()
            ),
            e,
        )
        .with_hint("check that the token is writable and has room; the PIN must be the user PIN")
    })?;
    let object = KeyObject {
        handle: public_handle,
        class: ObjectClass::PUBLIC_KEY,
        label,
        id,
        key_type: Some(key_type),
    };
    let (_, spki) = public_key_of(&ts, &object)?;
    Ok(GeneratedTokenKey {
        algorithm,
        spki,
        uri: format!("pkcs11:token={};{}", ts.label(), object.describe_uri_part()),
    })
}

fn curve_refused<T>(result: &cryptoki::error::Result<T>) -> bool {
    use cryptoki::error::{Error, RvError};
    matches!(
        result,
        Err(Error::Pkcs11(
            RvError::CurveNotSupported | RvError::DomainParamsInvalid | RvError::AttributeValueInvalid,
            _
        ))
    )
}

fn refuse_existing(ts: &TokenSession, template: &[Attribute], what: &str) -> Result<(), Error> {
    let found = ts
        .session
        .find_objects(template)
        .map_err(|e| ck_error("searching the token", e))?;
    if found.is_empty() {
        return Ok(());
    }
    Err(
        Error::token(format!("token {:?} already has an object with {what}", ts.label()))
            .with_hint("choose another object= label (and id=); the signer never replaces or deletes keys in a token"),
    )
}
