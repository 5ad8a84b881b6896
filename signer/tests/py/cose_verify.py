#!/usr/bin/env python3
"""Independent check of a SUIT envelope's authentication wrapper with pycose (cbor2 < 6).

usage: cose_verify.py ENVELOPE PUBKEY.pem [PUBKEY.pem ...]

Checks that SHA-256 of the manifest bstr (CBOR header included) equals the SUIT_Digest, and that
every COSE_Sign1 verifies, with the detached payload = the encoded SUIT_Digest, under one of the
given keys. Prints "verified N" and exits 0, or prints the failure and exits 1.
"""
import hashlib
import sys

import cbor2
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pycose.algorithms import CoseAlgorithm, EdDSA, Es256
from pycose.keys import CoseKey
from pycose.messages import Sign1Message


# RFC 9864 fully specified algorithms, which pycose 1.1 does not know yet.
@CoseAlgorithm.register_attribute()
class Ed25519(EdDSA):
    identifier = -19
    fullname = "Ed25519"


@CoseAlgorithm.register_attribute()
class Esp256(Es256):
    identifier = -9
    fullname = "ESP256"


def main() -> int:
    envelope_path, key_paths = sys.argv[1], sys.argv[2:]
    keys = []
    for path in key_paths:
        with open(path, "rb") as f:
            pem = f.read()
        load_pem_public_key(pem)  # fail early on a bad key file
        keys.append(CoseKey.from_pem_public_key(pem.decode()))

    with open(envelope_path, "rb") as f:
        envelope = cbor2.loads(f.read())
    if not isinstance(envelope, cbor2.CBORTag) or envelope.tag != 107:
        print("not a SUIT_Envelope_Tagged")
        return 1
    auth = cbor2.loads(envelope.value[2])
    digest_encoded, blocks = auth[0], auth[1:]
    alg, digest = cbor2.loads(digest_encoded)
    manifest_bstr = cbor2.dumps(envelope.value[3])  # re-encode the bstr: header + contents
    if alg != -16 or hashlib.sha256(manifest_bstr).digest() != digest:
        print("manifest digest mismatch")
        return 1
    if not blocks:
        print("no signatures")
        return 1
    for i, block in enumerate(blocks):
        msg = Sign1Message.decode(block)
        msg.payload = digest_encoded  # detached payload (SUIT draft §8.3)
        ok = False
        for key in keys:
            msg.key = key
            try:
                ok = msg.verify_signature()
            except Exception:  # wrong key type for this algorithm
                ok = False
            if ok:
                break
        if not ok:
            print(f"signature {i} (alg {msg.phdr}) does not verify under any given key")
            return 1
    print(f"verified {len(blocks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
