#!/usr/bin/env python3
"""Validate a SUIT envelope against the draft's own CDDL (not our profile) with zcbor.

usage: draft_cddl_validate.py DRAFT.cddl FILE.cbor

The draft's CDDL is read from the shared fixture and adapted in a temporary copy, mechanically:
zcbor 0.9 cannot parse `.regexp` (the language tag becomes plain tstr), `SUIT_start` loses the
undefined `start`, and the RFC 9052 COSE rules the draft references are appended.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

COSE_RULES = """
; RFC 9052 §2, §3, §4.2 (what SUIT_Authentication_Block references)
COSE_Sign1_Tagged = #6.18(COSE_Sign1)
COSE_Sign1 = [ Headers, payload : bstr / nil, signature : bstr ]
Headers = ( protected : empty_or_serialized_map, unprotected : header_map )
empty_or_serialized_map = bstr .cbor header_map / bstr .size 0
header_map = { * label => any }
label = int / tstr
COSE_Sign_Tagged = #6.98([ Headers, payload : bstr / nil, signatures : [+ COSE_Signature] ])
COSE_Signature = [ Headers, signature : bstr ]
COSE_Mac_Tagged = #6.97([ Headers, payload : bstr / nil, tag : bstr, recipients : [+ any] ])
COSE_Mac0_Tagged = #6.17([ Headers, payload : bstr / nil, tag : bstr ])
"""


def main() -> int:
    draft, path = sys.argv[1:3]
    with open(draft) as f:
        text = f.read()
    text = re.sub(r"(?m)^SUIT_start = .*$", "SUIT_start = SUIT_Envelope_Tagged / SUIT_Manifest_Tagged", text)
    text = re.sub(r"(?m)^tag38-ltag = .*$", "tag38-ltag = tstr", text)
    with tempfile.NamedTemporaryFile("w", suffix=".cddl", delete=False) as tmp:
        tmp.write(text + COSE_RULES)
    try:
        return subprocess.call(
            [sys.executable, os.path.join(HERE, "cddl_validate.py"), tmp.name, "SUIT_Envelope_Tagged", path]
        )
    finally:
        os.unlink(tmp.name)


if __name__ == "__main__":
    sys.exit(main())
