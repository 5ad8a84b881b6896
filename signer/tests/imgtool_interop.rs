//! Interop both ways with imgtool 2.5.0 (the oracle, from the project virtualenv):
//! `signer sign` output is byte-identical to `imgtool sign` for the same key, input and options,
//! and `imgtool verify` accepts it; images signed by imgtool verify with `signer verify`.

mod common;

use common::*;
use std::path::Path;

const ED25519: &str = "ed25519.pem";

/// (name, input file relative to the samples dir or fixtures, sign options)
fn matrix() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let base = ["--pad-header", "-H", "0x200", "-v", "1.2.3+4"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { base.iter().chain(extra).copied().collect() };
    vec![
        ("basic", "input-4k.bin", with(&["-S", "0x20000"])),
        ("seccnt_explicit", "input-4k.bin", with(&["-S", "0x20000", "-s", "42"])),
        ("seccnt_hex", "input-4k.bin", with(&["-S", "0x20000", "-s", "0x10000"])),
        ("seccnt_auto", "input-4k.bin", with(&["-S", "0x20000", "-s", "auto"])),
        (
            "pad_confirm",
            "input-4k.bin",
            with(&["-S", "0x2000", "-s", "auto", "--pad", "--confirm"]),
        ),
        ("pad_only", "input-4k.bin", with(&["-S", "0x2000", "--pad"])),
        (
            "align8",
            "input-4k.bin",
            with(&["-S", "0x4000", "--align", "8", "--pad"]),
        ),
        (
            "align16_confirm",
            "input-4k.bin",
            with(&["-S", "0x4000", "--align", "16", "--pad", "--confirm"]),
        ),
        (
            "max_align32",
            "input-4k.bin",
            with(&[
                "-S",
                "0x4000",
                "--align",
                "4",
                "--max-align",
                "32",
                "--pad",
                "--confirm",
            ]),
        ),
        (
            "overwrite_only",
            "input-4k.bin",
            with(&["-S", "0x2000", "--overwrite-only", "--pad", "--confirm"]),
        ),
        ("sha512", "input-4k.bin", with(&["-S", "0x20000", "--sha", "512"])),
        ("pure", "input-4k.bin", with(&["-S", "0x20000", "--pure"])),
        (
            "full_pubkey",
            "input-4k.bin",
            with(&["-S", "0x20000", "--public-key-format", "full"]),
        ),
        (
            "load_addr",
            "input-4k.bin",
            with(&["-S", "0x20000", "-L", "0x20000000"]),
        ),
        ("rom_fixed", "input-4k.bin", with(&["-S", "0x20000", "-F", "0x8020000"])),
        (
            "erased_zero",
            "input-4k.bin",
            with(&["-S", "0x2000", "-R", "0", "--pad"]),
        ),
        ("big_header", "input-4k.bin", with(&["-S", "0x20000", "-H", "0x400"])),
        ("firmware_bin", "fw-v1.bin", with(&["-S", "0x20000", "-s", "auto"])),
    ]
}

fn input_path(name: &str) -> std::path::PathBuf {
    if name.starts_with("fw-") {
        fixtures().join("delta-pair").join(name)
    } else {
        samples().join(name)
    }
}

fn sign_both(dir: &Path, name: &str, input: &Path, args: &[&str], key: &str) -> (Vec<u8>, Vec<u8>) {
    let key = samples().join(key);
    let ours = dir.join(format!("{name}.signer.bin"));
    let theirs = dir.join(format!("{name}.imgtool.bin"));
    ok(signer()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(input)
        .arg(&ours));
    ok(imgtool()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(input)
        .arg(&theirs));
    (read(&ours), read(&theirs))
}

#[test]
fn sign_is_byte_identical_to_imgtool_and_imgtool_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, input, args) in matrix() {
        let (ours, theirs) = sign_both(dir.path(), name, &input_path(input), &args, ED25519);
        if ours != theirs {
            let at = ours.iter().zip(&theirs).position(|(a, b)| a != b);
            failures.push(format!(
                "{name}: differs (len {} vs {}, first diff at {at:?})",
                ours.len(),
                theirs.len()
            ));
            continue;
        }
        let out = run(imgtool()
            .arg("verify")
            .arg("-k")
            .arg(samples().join(ED25519))
            .arg(dir.path().join(format!("{name}.signer.bin"))));
        if !out.status.success() {
            failures.push(format!(
                "{name}: imgtool verify refused ours: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        // And our verifier accepts imgtool's.
        let out = run(signer()
            .args(["verify", "-k"])
            .arg(samples().join(ED25519))
            .arg(dir.path().join(format!("{name}.imgtool.bin"))));
        if !out.status.success() {
            failures.push(format!(
                "{name}: signer verify refused imgtool's: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "interop failures:\n{}", failures.join("\n"));
}

#[test]
fn elf_input_signs_to_the_same_image_as_its_binary() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--pad-header",
        "-H",
        "0x200",
        "-S",
        "0x20000",
        "-v",
        "1.0.0",
        "-s",
        "auto",
    ];
    let key = samples().join(ED25519);
    let from_elf = dir.path().join("elf.bin");
    let from_bin = dir.path().join("bin.bin");
    let delta = fixtures().join("delta-pair");
    ok(signer()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(delta.join("fw-v1.elf"))
        .arg(&from_elf));
    ok(imgtool()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(delta.join("fw-v1.bin"))
        .arg(&from_bin));
    assert_eq!(
        read(&from_elf),
        read(&from_bin),
        "ELF and its objcopy'd binary must sign identically"
    );
}

#[test]
fn hex_input_and_output_match_imgtool() {
    let dir = tempfile::tempdir().unwrap();
    let hex_in = dir.path().join("fw.hex");
    bin_to_hex(&fixtures().join("delta-pair/fw-v1.bin"), 0x0800_0000, &hex_in);
    let args = ["--pad-header", "-H", "0x200", "-S", "0x20000", "-v", "1.0.0+7"];
    // .hex in, .bin out: identical bytes.
    let (ours, theirs) = sign_both(dir.path(), "hex2bin", &hex_in, &args, ED25519);
    assert_eq!(ours, theirs, "hex input, binary output");
    // .hex in, .hex out: same flattened contents and base address.
    let key = samples().join(ED25519);
    let ours_hex = dir.path().join("ours.hex");
    let theirs_hex = dir.path().join("theirs.hex");
    ok(signer()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(&hex_in)
        .arg(&ours_hex));
    ok(imgtool()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(args)
        .arg(&hex_in)
        .arg(&theirs_hex));
    let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    hex_to_bin(&ours_hex, &a);
    hex_to_bin(&theirs_hex, &b);
    assert_eq!(read(&a), read(&b), "hex output contents");
    let first_line = |p: &Path| String::from_utf8(read(p)).unwrap().lines().next().unwrap().to_string();
    assert_eq!(
        first_line(&ours_hex),
        first_line(&theirs_hex),
        "hex output base address record"
    );
}

#[test]
fn unpadded_header_of_zeros_matches_imgtool() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("zeros-then-code.bin");
    let mut bytes = vec![0u8; 0x200];
    bytes.extend_from_slice(&read(&samples().join("input-4k.bin")));
    std::fs::write(&input, bytes).unwrap();
    let (ours, theirs) = sign_both(
        dir.path(),
        "nopad",
        &input,
        &["-H", "0x200", "-S", "0x20000", "-v", "3.1.4"],
        ED25519,
    );
    assert_eq!(ours, theirs);
}

#[test]
fn ecdsa_p256_signed_image_verifies_with_imgtool() {
    // ECDSA signatures are randomized (imgtool) or RFC 6979 (ours): compare by verification.
    let dir = tempfile::tempdir().unwrap();
    let key = samples().join("ecdsa-p256.pem");
    let out = dir.path().join("ecdsa.bin");
    ok(signer()
        .arg("sign")
        .arg("-k")
        .arg(&key)
        .args(["--pad-header", "-H", "0x200", "-S", "0x8000", "-v", "1.2.3", "-s", "7"])
        .arg(samples().join("input-4k.bin"))
        .arg(&out));
    ok(imgtool().arg("verify").arg("-k").arg(&key).arg(&out));
    ok(signer().arg("verify").arg("-k").arg(&key).arg(&out));
    // imgtool's own ECDSA sample verifies with our verifier.
    ok(signer()
        .arg("verify")
        .arg("-k")
        .arg(&key)
        .arg(samples().join("signed-ecdsa-p256.bin")));
}

#[test]
fn keygen_output_is_read_by_imgtool() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["ed25519", "ecdsa-p256"] {
        let key = dir.path().join(format!("{kind}.pem"));
        ok(signer().args(["keygen", "-t", kind, "-k"]).arg(&key));
        let ours = ok(signer().args(["getpub", "-k"]).arg(&key));
        let theirs = ok(imgtool().args(["getpub", "-k"]).arg(&key));
        assert_eq!(ours, theirs, "{kind}: getpub");
        let ours = ok(signer().args(["getpubhash", "-k"]).arg(&key));
        let theirs = ok(imgtool().args(["getpubhash", "-k"]).arg(&key));
        assert_eq!(ours, theirs, "{kind}: getpubhash");
        // A key made by us signs an image imgtool accepts.
        let image = dir.path().join(format!("{kind}.bin"));
        ok(signer()
            .arg("sign")
            .arg("-k")
            .arg(&key)
            .args(["--pad-header", "-H", "0x200", "-S", "0x20000", "-v", "1.0.0"])
            .arg(samples().join("input-4k.bin"))
            .arg(&image));
        ok(imgtool().arg("verify").arg("-k").arg(&key).arg(&image));
    }
}

#[test]
fn getpub_encodings_match_imgtool() {
    for key in ["ed25519.pem", "ecdsa-p256.pem", "ed25519-pub.pem"] {
        let key = samples().join(key);
        for enc in ["lang-c", "lang-rust", "pem", "raw"] {
            let ours = ok(signer().args(["getpub", "-e", enc, "-k"]).arg(&key));
            let theirs = ok(imgtool().args(["getpub", "-e", enc, "-k"]).arg(&key));
            assert_eq!(ours, theirs, "getpub -e {enc} {}", key.display());
        }
        for enc in ["lang-c", "raw"] {
            let ours = ok(signer().args(["getpubhash", "-e", enc, "-k"]).arg(&key));
            let theirs = ok(imgtool().args(["getpubhash", "-e", enc, "-k"]).arg(&key));
            assert_eq!(ours, theirs, "getpubhash -e {enc} {}", key.display());
        }
    }
}
