//! Finding key objects in a token and reading their public halves.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};

use super::encoding::{check_spki, spki_from_ec};
use super::token::ck_error;
use super::uri::{encode_id, Pkcs11Uri};
use super::TokenSession;
use crate::error::Error;
use crate::keys::KeyAlgorithm;

/// A key object's handle and the attributes that name it.
#[derive(Debug, Clone)]
pub struct KeyObject {
    pub handle: ObjectHandle,
    pub class: ObjectClass,
    pub label: String,
    pub id: Vec<u8>,
    pub key_type: Option<KeyType>,
}

impl KeyObject {
    /// `object=...;id=...` for descriptions and the audit log.
    pub fn describe_uri_part(&self) -> String {
        let mut out = format!("object={}", self.label);
        if !self.id.is_empty() {
            out.push_str(&format!(";id={}", encode_id(&self.id)));
        }
        out
    }
}

pub fn class_name(class: ObjectClass) -> &'static str {
    match class {
        ObjectClass::PRIVATE_KEY => "private",
        ObjectClass::PUBLIC_KEY => "public",
        ObjectClass::SECRET_KEY => "secret-key",
        ObjectClass::CERTIFICATE => "cert",
        ObjectClass::DATA => "data",
        _ => "other",
    }
}

/// Reads label, id and key type of an object.
pub fn describe_object(ts: &TokenSession, handle: ObjectHandle, class: ObjectClass) -> Result<KeyObject, Error> {
    let attrs = ts
        .session
        .get_attributes(
            handle,
            &[AttributeType::Label, AttributeType::Id, AttributeType::KeyType],
        )
        .map_err(|e| ck_error("reading a key object's attributes", e))?;
    let mut object = KeyObject {
        handle,
        class,
        label: String::new(),
        id: Vec::new(),
        key_type: None,
    };
    for attr in attrs {
        match attr {
            Attribute::Label(l) => object.label = String::from_utf8_lossy(&l).into_owned(),
            Attribute::Id(id) => object.id = id,
            Attribute::KeyType(t) => object.key_type = Some(t),
            _ => {}
        }
    }
    Ok(object)
}

/// All objects of `class` visible in this session (public ones, plus private ones after login).
pub fn all_of_class(ts: &TokenSession, class: ObjectClass) -> Result<Vec<KeyObject>, Error> {
    let handles = ts
        .session
        .find_objects(&[Attribute::Class(class)])
        .map_err(|e| ck_error("searching the token", e))?;
    handles.into_iter().map(|h| describe_object(ts, h, class)).collect()
}

/// The one object of `class` the URI's `object=` and `id=` select.
pub fn find_one(ts: &TokenSession, uri: &Pkcs11Uri, class: ObjectClass) -> Result<KeyObject, Error> {
    if let Some(wanted) = uri.object_type.as_deref() {
        if wanted != class_name(class) && !(class == ObjectClass::PUBLIC_KEY && wanted == "private") {
            return Err(Error::token(format!(
                "{} names a {wanted} object, but this needs a {} key",
                uri.describe(),
                class_name(class)
            ))
            .with_hint("use type=private (or leave type= out)"));
        }
    }
    if uri.object.is_none() && uri.id.is_none() {
        return Err(Error::token(format!("{} does not name a key", uri.describe()))
            .with_hint("add object=LABEL (or id=%..) to the URI; `signer hsm list` shows the keys"));
    }
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let handles = ts
        .session
        .find_objects(&template)
        .map_err(|e| ck_error("searching the token", e))?;
    match handles.as_slice() {
        [one] => describe_object(ts, *one, class),
        [] => Err(key_not_found(ts, uri, class)),
        many => Err(Error::token(format!(
            "{} matches {} {} keys in token {:?}",
            uri.describe(),
            many.len(),
            class_name(class),
            ts.label()
        ))
        .with_hint("add id= to the URI to pick one; `signer hsm list` shows the ids")),
    }
}

fn key_not_found(ts: &TokenSession, uri: &Pkcs11Uri, class: ObjectClass) -> Error {
    let mut labels: Vec<String> = [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY]
        .into_iter()
        .filter_map(|c| all_of_class(ts, c).ok())
        .flatten()
        .map(|o| format!("{:?}", o.label))
        .collect();
    labels.sort();
    labels.dedup();
    let seen = if labels.is_empty() {
        "none".to_string()
    } else {
        labels.join(", ")
    };
    let visibility = if ts.logged_in {
        ""
    } else {
        " (without login only public objects are visible)"
    };
    Error::token(format!(
        "key not found: no {} key matches {} in token {:?}; key labels there{visibility}: {seen}",
        class_name(class),
        uri.describe(),
        ts.label()
    ))
    .with_hint("fix object= (labels are case-sensitive) or id= in the URI, or create the key with `signer keygen -t ed25519 -k 'pkcs11:...'`")
}

/// Reads CKA_EC_PARAMS and CKA_EC_POINT (or CKA_PUBLIC_KEY_INFO) of one object.
fn read_public(ts: &TokenSession, handle: ObjectHandle) -> Result<Option<(KeyAlgorithm, Vec<u8>)>, Error> {
    let attrs = ts
        .session
        .get_attributes(
            handle,
            &[
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::PublicKeyInfo,
            ],
        )
        .map_err(|e| ck_error("reading the public key", e))?;
    let (mut params, mut point, mut info) = (None, None, None);
    for attr in attrs {
        match attr {
            Attribute::EcParams(p) if !p.is_empty() => params = Some(p),
            Attribute::EcPoint(p) if !p.is_empty() => point = Some(p),
            Attribute::PublicKeyInfo(i) if !i.is_empty() => info = Some(i),
            _ => {}
        }
    }
    if let (Some(params), Some(point)) = (params, point) {
        return spki_from_ec(&params, &point).map(Some);
    }
    if let Some(info) = info {
        return Ok(Some((check_spki(&info)?, info)));
    }
    Ok(None)
}

/// The public half of `key`: the key itself if public, else the public key object with the same
/// id (or label), else the private key's own CKA_EC_POINT / CKA_PUBLIC_KEY_INFO.
pub fn public_key_of(ts: &TokenSession, key: &KeyObject) -> Result<(KeyAlgorithm, Vec<u8>), Error> {
    check_key_type(key)?;
    if key.class == ObjectClass::PUBLIC_KEY {
        if let Some(found) = read_public(ts, key.handle)? {
            return Ok(found);
        }
    }
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    if key.id.is_empty() {
        template.push(Attribute::Label(key.label.as_bytes().to_vec()));
    } else {
        template.push(Attribute::Id(key.id.clone()));
    }
    let handles = ts
        .session
        .find_objects(&template)
        .map_err(|e| ck_error("searching the token", e))?;
    for handle in handles {
        if let Some(found) = read_public(ts, handle)? {
            return Ok(found);
        }
    }
    if let Some(found) = read_public(ts, key.handle)? {
        return Ok(found);
    }
    Err(Error::token(format!(
        "token {:?} has no public key for {}",
        ts.label(),
        key.describe_uri_part()
    ))
    .with_hint("store the public key in the token with the same CKA_ID as the private key (signer keygen does this)"))
}

fn check_key_type(key: &KeyObject) -> Result<(), Error> {
    match key.key_type {
        None | Some(KeyType::EC) | Some(KeyType::EC_EDWARDS) => Ok(()),
        Some(other) => Err(Error::token(format!(
            "{} is a {other} key; the signer signs images with ed25519 or ecdsa-p256 keys",
            key.describe_uri_part()
        ))
        .with_hint("generate a supported key with `signer keygen -t ed25519 -k 'pkcs11:...'`")),
    }
}
