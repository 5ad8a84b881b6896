#!/usr/bin/env python3
"""Composes the QEMU mps2-an386 flash image (layout in embedded/bootloader/memory.x):
bootloader at 0, the anti-rollback floor (u32 LE) in the NV page at 0x7F00, the signed image in
the primary slot at 0x8000. Optionally flips one byte of the slot (tamper case).

usage: compose-flash.py BOOT.bin SLOT.bin FLOOR OUT.bin [--flip SLOT_OFFSET]
"""
import argparse
import struct

NV_FLOOR = 0x7F00
SLOT = 0x8000
SLOT_SIZE = 0x80000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("boot")
    ap.add_argument("slot")
    ap.add_argument("floor", type=int)
    ap.add_argument("out")
    ap.add_argument("--flip", type=lambda v: int(v, 0))
    args = ap.parse_args()
    boot = open(args.boot, "rb").read()
    slot = bytearray(open(args.slot, "rb").read())
    if len(boot) > NV_FLOOR:
        raise SystemExit(f"bootloader is {len(boot)} B, overlaps the NV page at {NV_FLOOR:#x}")
    if len(slot) > SLOT_SIZE:
        raise SystemExit(f"image is {len(slot)} B, larger than the {SLOT_SIZE:#x} slot")
    if args.flip is not None:
        slot[args.flip] ^= 0x01
    flash = bytearray(b"\xff" * (SLOT + len(slot)))  # erased flash reads 0xff
    flash[: len(boot)] = boot
    flash[NV_FLOOR : NV_FLOOR + 4] = struct.pack("<I", args.floor)
    flash[SLOT : SLOT + len(slot)] = slot
    open(args.out, "wb").write(flash)


if __name__ == "__main__":
    main()
