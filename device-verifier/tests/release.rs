//! Release-manifest attacks, named by the threat they defend against (RFC 9124 REQ.SEC.*, TUF).
//! Images are imgtool 2.5.0 samples; envelopes are built here with the manifest crate's
//! `EnvelopeBuilder`.

use device_verifier::{
    bind_image, verify_envelope, verify_image, ImagePolicy, ManifestPolicy, RollbackStore, SequenceCommit, SliceFlash,
    StoreError, TrustedKey, VerifyErrorKind as Kind,
};
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signer, SigningKey};
use manifest::suit::encode::{EnvelopeBuilder, ManifestFields, TextFields};
use manifest::suit::CoseAlg;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const VENDOR: [u8; 16] = [0xfa; 16];
const CLASS: [u8; 16] = [0x14; 16];

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/third-party/imgtool-2.5.0-samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn image_a() -> Vec<u8> {
    sample("signed-ed25519-basic.bin")
}

fn image_b() -> Vec<u8> {
    sample("signed-ed25519-seccnt42.bin")
}

fn image_spki() -> Vec<u8> {
    let pem = String::from_utf8(sample("ed25519-pub.pem")).unwrap();
    ed25519_dalek::VerifyingKey::from_public_key_pem_compat(&pem)
}

trait PemCompat {
    fn from_public_key_pem_compat(pem: &str) -> Vec<u8>;
}

impl PemCompat for ed25519_dalek::VerifyingKey {
    fn from_public_key_pem_compat(pem: &str) -> Vec<u8> {
        use ed25519_dalek::pkcs8::DecodePublicKey;
        Self::from_public_key_pem(pem)
            .unwrap()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }
}

fn sha256(d: &[u8]) -> [u8; 32] {
    Sha256::digest(d).into()
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn spki(k: &SigningKey) -> Vec<u8> {
    k.verifying_key().to_public_key_der().unwrap().as_bytes().to_vec()
}

struct Spec {
    sequence: u64,
    vendor: [u8; 16],
    class: [u8; 16],
    image: Vec<u8>,
}

fn spec(sequence: u64, image: Vec<u8>) -> Spec {
    Spec {
        sequence,
        vendor: VENDOR,
        class: CLASS,
        image,
    }
}

fn envelope(s: &Spec, signers: &[&SigningKey]) -> Vec<u8> {
    envelope_with_kids(s, signers, false)
}

/// The signer's kid: the first 8 bytes of SHA-256 over the key's SPKI (docs/FORMATS.md).
fn kid(k: &SigningKey) -> [u8; manifest::suit::KID_LEN] {
    manifest::suit::key_id(&sha256(&spki(k)))
}

fn envelope_with_kids(s: &Spec, signers: &[&SigningKey], with_kids: bool) -> Vec<u8> {
    let text = TextFields {
        language: "en",
        version: "1.0.0",
        notes: "test",
    };
    let fields = ManifestFields {
        sequence: s.sequence,
        vendor_id: s.vendor,
        class_id: s.class,
        image_digest: sha256(&s.image),
        image_size: s.image.len() as u64,
        install_uri: "image.bin",
        deltas: &[],
    };
    let mut builder = EnvelopeBuilder::new(&fields, &text);
    for k in signers {
        let kid = with_kids.then(|| kid(k));
        let signature = k.sign(&builder.to_be_signed(CoseAlg::ED25519, kid.as_ref()).unwrap());
        builder
            .add_signature(CoseAlg::ED25519, kid.as_ref(), &signature.to_bytes())
            .unwrap();
    }
    builder.finish().unwrap()
}

#[derive(Default)]
struct Store {
    seq: u64,
    commits: Vec<u64>,
}

impl RollbackStore for Store {
    fn sequence(&self) -> u64 {
        self.seq
    }
    fn commit(&mut self, c: SequenceCommit) -> Result<(), StoreError> {
        self.seq = c.sequence();
        self.commits.push(c.sequence());
        Ok(())
    }
}

fn check(env: &[u8], trusted: &[&SigningKey], threshold: usize, store: &Store) -> Result<u64, Kind> {
    let spkis: Vec<Vec<u8>> = trusted.iter().map(|k| spki(k)).collect();
    let keys: Vec<TrustedKey<'_>> = spkis.iter().map(|s| TrustedKey::from_spki(s).unwrap()).collect();
    let mut policy = ManifestPolicy::new(&keys, VENDOR, CLASS);
    policy.threshold = threshold;
    verify_envelope(env, &policy, store)
        .map(|r| r.sequence())
        .map_err(|e| e.kind)
}

#[test]
fn accepts_a_good_release_and_commits_only_after_boot() {
    let k = key(1);
    let image = image_a();
    let env = envelope(&spec(5, image.clone()), &[&k]);
    let spkis = [spki(&k)];
    let keys = [TrustedKey::from_spki(&spkis[0]).unwrap()];
    let mut store = Store {
        seq: 4,
        ..Store::default()
    };
    let release = verify_envelope(&env, &ManifestPolicy::new(&keys, VENDOR, CLASS), &store).unwrap();
    assert_eq!((release.sequence(), release.install_uri()), (5, Some("image.bin")));
    assert_eq!(release.text().unwrap().version, Some("1.0.0"));

    let image_key = image_spki();
    let image_keys = [TrustedKey::from_spki(&image_key).unwrap()];
    let policy = ImagePolicy {
        trusted_keys: &image_keys,
        security_counter_floor: None,
    };
    let mut buf = [0u8; 256];
    let bound = bind_image(&release, &mut SliceFlash::new(&image), &policy, &mut buf).unwrap();
    // Not the booted image: refused, nothing committed.
    let other = verify_image(&mut SliceFlash::new(&image_b()), &policy, &mut buf).unwrap();
    assert_eq!(
        bound.commit_after_boot(&mut store, &other).unwrap_err().kind,
        Kind::NotBootedImage
    );
    assert!(store.commits.is_empty());
    let running = verify_image(&mut SliceFlash::new(&image), &policy, &mut buf).unwrap();
    bound.commit_after_boot(&mut store, &running).unwrap();
    assert_eq!(store.commits, vec![5]);
    // Once committed, the same release cannot be committed (or installed) again.
    assert_eq!(
        bound.commit_after_boot(&mut store, &running).unwrap_err().kind,
        Kind::SequenceRollback
    );
    assert_eq!(check(&env, &[&k], 1, &store), Err(Kind::SequenceRollback));
}

#[test]
fn rollback() {
    let k = key(1);
    let store = Store {
        seq: 5,
        ..Store::default()
    };
    assert_eq!(
        check(&envelope(&spec(4, image_a()), &[&k]), &[&k], 1, &store),
        Err(Kind::SequenceRollback)
    );
    assert_eq!(
        check(&envelope(&spec(5, image_a()), &[&k]), &[&k], 1, &store),
        Err(Kind::SequenceRollback)
    );
    assert_eq!(check(&envelope(&spec(6, image_a()), &[&k]), &[&k], 1, &store), Ok(6));
}

#[test]
fn wrong_class() {
    let k = key(1);
    let s = Spec {
        class: [0x15; 16],
        ..spec(2, image_a())
    };
    assert_eq!(
        check(&envelope(&s, &[&k]), &[&k], 1, &Store::default()),
        Err(Kind::WrongClass)
    );
}

#[test]
fn wrong_vendor() {
    let k = key(1);
    let s = Spec {
        vendor: [0xfb; 16],
        ..spec(2, image_a())
    };
    assert_eq!(
        check(&envelope(&s, &[&k]), &[&k], 1, &Store::default()),
        Err(Kind::WrongVendor)
    );
}

fn bind(env: &[u8], k: &SigningKey, slot: &[u8]) -> Result<(), Kind> {
    let spkis = [spki(k)];
    let keys = [TrustedKey::from_spki(&spkis[0]).unwrap()];
    let release = verify_envelope(env, &ManifestPolicy::new(&keys, VENDOR, CLASS), &Store::default()).unwrap();
    let image_key = image_spki();
    let image_keys = [TrustedKey::from_spki(&image_key).unwrap()];
    let policy = ImagePolicy {
        trusted_keys: &image_keys,
        security_counter_floor: None,
    };
    let mut buf = [0u8; 256];
    bind_image(&release, &mut SliceFlash::new(slot), &policy, &mut buf)
        .map(drop)
        .map_err(|e| e.kind)
}

#[test]
fn mix_and_match() {
    // The manifest of release A with the (validly signed) image of release B.
    let k = key(1);
    let env_a = envelope(&spec(2, image_a()), &[&k]);
    assert_eq!(bind(&env_a, &k, &image_a()), Ok(()));
    assert_eq!(bind(&env_a, &k, &image_b()), Err(Kind::ImageDigestMismatch));
}

/// A flash that records the furthest byte read.
struct Watch<'a> {
    inner: SliceFlash<'a>,
    len: u32,
    max_end: u32,
}

impl device_verifier::FlashRead for Watch<'_> {
    fn capacity(&self) -> u32 {
        self.len
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), device_verifier::FlashError> {
        self.max_end = self.max_end.max(offset + buf.len() as u32);
        self.inner.read(offset, buf)
    }
}

#[test]
fn endless_data() {
    let k = key(1);
    let image = image_a();
    let env = envelope(&spec(2, image.clone()), &[&k]);
    // The slot holds the image followed by a lot more data: nothing past image-size is read.
    let mut slot = image.clone();
    slot.extend(std::iter::repeat_n(0xa5u8, 1 << 20));
    let spkis = [spki(&k)];
    let keys = [TrustedKey::from_spki(&spkis[0]).unwrap()];
    let release = verify_envelope(&env, &ManifestPolicy::new(&keys, VENDOR, CLASS), &Store::default()).unwrap();
    let image_key = image_spki();
    let image_keys = [TrustedKey::from_spki(&image_key).unwrap()];
    let policy = ImagePolicy {
        trusted_keys: &image_keys,
        security_counter_floor: None,
    };
    let mut buf = [0u8; 256];
    let mut flash = Watch {
        inner: SliceFlash::new(&slot),
        len: slot.len() as u32,
        max_end: 0,
    };
    bind_image(&release, &mut flash, &policy, &mut buf).unwrap();
    assert_eq!(flash.max_end as usize, image.len());

    // A manifest claiming more bytes than the signed image: refused (size mismatch, not an unsigned tail).
    let mut longer = image.clone();
    longer.extend([0u8; 16]);
    let env = envelope(&spec(2, longer.clone()), &[&k]);
    assert_eq!(bind(&env, &k, &longer), Err(Kind::ImageSizeMismatch));
    // A manifest larger than the slot: refused before reading.
    let env = envelope(&spec(2, longer), &[&k]);
    assert_eq!(bind(&env, &k, &image), Err(Kind::ExceedsSlot));
}

#[test]
fn tamper() {
    let k = key(1);
    let env = envelope(&spec(2, image_a()), &[&k]);
    assert_eq!(check(&env, &[&k], 1, &Store::default()), Ok(2));
    for i in 0..env.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = env.clone();
            t[i] ^= bit;
            assert!(
                check(&t, &[&k], 1, &Store::default()).is_err(),
                "flip {bit:#x} at byte {i} accepted"
            );
        }
    }
}

#[test]
fn untrusted_key() {
    let (trusted, attacker) = (key(1), key(2));
    let env = envelope(&spec(2, image_a()), &[&attacker]);
    assert_eq!(
        check(&env, &[&trusted], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
    // A valid trusted signature does not excuse an extra untrusted one.
    let env = envelope(&spec(2, image_a()), &[&trusted, &attacker]);
    assert_eq!(
        check(&env, &[&trusted], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
}

#[test]
fn key_rotation() {
    let (old, new) = (key(1), key(2));
    let by_old = envelope(&spec(2, image_a()), &[&old]);
    let by_new = envelope(&spec(3, image_a()), &[&new]);
    // During rotation both are trusted.
    assert_eq!(check(&by_old, &[&old, &new], 1, &Store::default()), Ok(2));
    assert_eq!(check(&by_new, &[&old, &new], 1, &Store::default()), Ok(3));
    // After the old key is removed, its releases are refused.
    assert_eq!(
        check(&by_old, &[&new], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
    assert_eq!(check(&by_new, &[&new], 1, &Store::default()), Ok(3));
}

#[test]
fn threshold() {
    let (a, b) = (key(1), key(2));
    let one = envelope(&spec(2, image_a()), &[&a]);
    let twice_same = envelope(&spec(2, image_a()), &[&a, &a]);
    let both = envelope(&spec(2, image_a()), &[&a, &b]);
    assert_eq!(check(&one, &[&a, &b], 2, &Store::default()), Err(Kind::ThresholdNotMet));
    assert_eq!(
        check(&twice_same, &[&a, &b], 2, &Store::default()),
        Err(Kind::ThresholdNotMet)
    );
    assert_eq!(check(&both, &[&a, &b], 2, &Store::default()), Ok(2));
    // Threshold 0 means 1: never unsigned.
    assert_eq!(check(&one, &[&a, &b], 0, &Store::default()), Ok(2));
}

#[test]
fn truncated() {
    let k = key(1);
    let env = envelope(&spec(2, image_a()), &[&k]);
    for len in 0..env.len() {
        assert!(
            check(&env[..len], &[&k], 1, &Store::default()).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
}

#[test]
fn garbage() {
    let k = key(1);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 2, 7, 64, 300, 4096] {
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            assert!(check(&bytes, &[&k], 1, &Store::default()).is_err());
        }
    }
    // A valid envelope's prefix spliced onto garbage.
    let env = envelope(&spec(2, image_a()), &[&k]);
    let mut spliced = env[..40].to_vec();
    spliced.extend([0xff; 100]);
    assert!(check(&spliced, &[&k], 1, &Store::default()).is_err());
}

#[test]
fn eddsa_minus_8_is_accepted_as_ed25519() {
    // RFC 9864 deprecates EdDSA (-8) in favour of Ed25519 (-19), but other tools still emit it.
    let k = key(1);
    let s = spec(2, image_a());
    let text = TextFields {
        language: "en",
        version: "1",
        notes: "",
    };
    let fields = ManifestFields {
        sequence: s.sequence,
        vendor_id: s.vendor,
        class_id: s.class,
        image_digest: sha256(&s.image),
        image_size: s.image.len() as u64,
        install_uri: "i",
        deltas: &[],
    };
    let builder = EnvelopeBuilder::new(&fields, &text);
    let signature = k.sign(&builder.to_be_signed(CoseAlg::EDDSA, None).unwrap()).to_bytes();
    let mut eddsa = builder.clone();
    eddsa.add_signature(CoseAlg::EDDSA, None, &signature).unwrap();
    let env = eddsa.finish().unwrap();
    assert_eq!(check(&env, &[&k], 1, &Store::default()), Ok(2));
    // The signature covers the protected header: relabelling the algorithm breaks it.
    let mut relabelled = builder;
    relabelled.add_signature(CoseAlg::ED25519, None, &signature).unwrap();
    let relabelled = relabelled.finish().unwrap();
    assert_eq!(
        check(&relabelled, &[&k], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
}

/// A corrupted signature whose kid names a trusted key is reported as a bad signature, not as
/// an untrusted key (issue 15: the two used to be indistinguishable); a kid naming no trusted
/// key is an untrusted key, and a valid signature with a kid verifies, also among other keys.
#[test]
fn corrupted_signature_named_by_kid_is_a_bad_signature() {
    let (a, b, rogue) = (key(1), key(2), key(9));
    let s = spec(2, vec![7; 100]);
    let good = envelope_with_kids(&s, &[&a], true);
    assert_eq!(check(&good, &[&b, &a], 1, &Store::default()), Ok(2));
    // Flip one bit of the signature (found by its bytes in the envelope).
    let env = manifest::suit::Envelope::decode(&good).unwrap();
    let sign1 = env.signatures().next().unwrap().unwrap();
    let at = good
        .windows(64)
        .position(|w| w == sign1.signature)
        .expect("signature bytes in the envelope");
    let mut corrupted = good.clone();
    corrupted[at + 10] ^= 0x01;
    assert_eq!(
        check(&corrupted, &[&b, &a], 1, &Store::default()),
        Err(Kind::BadSignature)
    );
    // Without kids the same corruption can only be "no trusted key verifies it".
    let legacy = envelope(&s, &[&a]);
    let sign1 = manifest::suit::Envelope::decode(&legacy)
        .unwrap()
        .signatures()
        .next()
        .unwrap()
        .unwrap();
    let at = legacy.windows(64).position(|w| w == sign1.signature).unwrap();
    let mut corrupted = legacy.clone();
    corrupted[at + 10] ^= 0x01;
    assert_eq!(
        check(&corrupted, &[&b, &a], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
    // A kid naming a key the device does not hold.
    let rogue_env = envelope_with_kids(&s, &[&rogue], true);
    assert_eq!(
        check(&rogue_env, &[&a, &b], 1, &Store::default()),
        Err(Kind::UntrustedManifestKey)
    );
}
