#!/usr/bin/env python3
"""Validate a CBOR file against a CDDL rule with zcbor (an independent CDDL implementation).

usage: cddl_validate.py SCHEMA.cddl RULE FILE.cbor

Exits 0 if valid, 1 if not (printing zcbor's reason).
"""
import os
import subprocess
import sys
import tempfile


def main() -> int:
    schema, rule, path = sys.argv[1:4]
    with open(path, "rb") as f:
        data = f.read()
    # zcbor 0.9's CLI cannot open binary CBOR input files; hand it hex instead.
    with tempfile.NamedTemporaryFile("w", suffix=".cborhex", delete=False) as tmp:
        tmp.write(data.hex())
    zcbor = os.path.join(os.path.dirname(sys.executable), "zcbor")
    try:
        result = subprocess.run(
            [zcbor, "validate", "-c", schema, "-t", rule, "-i", tmp.name, "--input-as", "cborhex"],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(tmp.name)
    if result.returncode != 0:
        lines = [l for l in result.stderr.splitlines() if l.strip() and not l.startswith(" elem")]
        print("invalid: " + " | ".join(lines[-3:]))
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
