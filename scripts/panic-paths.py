#!/usr/bin/env python3
"""Prints who calls into core::panicking in a Cortex-M ELF, as a reverse call tree.

Used when the no-panic link check fails: relink with the panic symbol defined
(.ci/steps/embedded.sh does this), then point this script at the ELF. Reads
`llvm-objdump -d -C` output; follows direct branches only, which is what LTO leaves.
"""
import re
import subprocess
import sys

ROOTS = ("core::panicking::panic_fmt", "core::panicking::panic")


def call_graph(elf):
    listing = subprocess.run(
        ["llvm-objdump", "-d", "--no-show-raw-insn", "-C", elf],
        check=True, capture_output=True, text=True,
    ).stdout
    callers, current = {}, None
    for line in listing.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.*)>:", line)
        if head:
            name = head.group(1)
            # Thumb mapping symbols ($t, $d) are not functions.
            if not name.startswith("$"):
                current = name
            continue
        branch = re.search(r"\sb\S*\s+0x[0-9a-f]+ <([^>+]*)(\+0x[0-9a-f]+)?>", line)
        if branch and current and branch.group(1) != current and not branch.group(1).startswith("$"):
            callers.setdefault(branch.group(1), set()).add(current)
    return callers


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: panic-paths.py ELF")
    callers = call_graph(sys.argv[1])
    seen = set()

    def walk(fn, depth):
        for caller in sorted(callers.get(fn, ())):
            print("  " * depth + "<- " + caller[:160])
            if caller not in seen and depth < 14:
                seen.add(caller)
                walk(caller, depth + 1)

    found = False
    for root in ROOTS:
        if root in callers:
            found = True
            print(root)
            walk(root, 1)
    if not found:
        print("no calls into core::panicking")


if __name__ == "__main__":
    main()
