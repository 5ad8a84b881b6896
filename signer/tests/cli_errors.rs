//! The signer's failure paths: `error:` + `hint:` on stderr and the documented exit codes
//! (0 ok, 1 image invalid, 2 usage or operational error). Bad input loses nothing.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn key() -> std::path::PathBuf {
    repo().join("fixtures/keys/test-only-ed25519-a.pem")
}

fn payload() -> std::path::PathBuf {
    repo().join("fixtures/images/payload-256.bin")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert!(err.contains("error:"), "no error: line in\n{err}");
    assert!(err.contains(needle), "expected {needle:?} in\n{err}");
}

fn sign(args: &[&str], input: &Path, output: &Path) -> Output {
    run(signer()
        .arg("sign")
        .arg("-k")
        .arg(key())
        .args(args)
        .arg(input)
        .arg(output))
}

const OK_ARGS: &[&str] = &["--pad-header", "-H", "0x40", "-S", "0x1000", "-v", "1.0.0"];

#[test]
fn bad_version_strings_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for version in [
        "1.2+3",
        "256.0.0",
        "1.256.0",
        "1.0.65536",
        "1.0.0+4294967296",
        "01.2.3",
        "a.b",
        "",
        "1.2.3.4",
    ] {
        let out = sign(
            &["--pad-header", "-H", "0x40", "-S", "0x1000", "-v", version],
            &payload(),
            &dir.path().join("o.bin"),
        );
        assert_fails(&out, 2, "invalid version");
        assert!(stderr(&out).contains("hint:"), "{version}: no hint");
        assert!(!dir.path().join("o.bin").exists());
    }
}

#[test]
fn image_too_big_for_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let out = sign(
        &["--pad-header", "-H", "0x40", "-S", "0x200", "-v", "1.0.0"],
        &payload(),
        &dir.path().join("o.bin"),
    );
    assert_fails(&out, 2, "exceeds the slot size");
    assert!(stderr(&out).contains("hint: use a larger -S/--slot-size"));
    assert!(!dir.path().join("o.bin").exists(), "no output on failure");
}

#[test]
fn unreadable_input_and_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = sign(OK_ARGS, &dir.path().join("missing.bin"), &dir.path().join("o.bin"));
    assert_fails(&out, 2, "cannot read input");
    let out = run(signer()
        .args(["sign", "-k"])
        .arg(dir.path().join("nokey.pem"))
        .args(OK_ARGS)
        .arg(payload())
        .arg(dir.path().join("o.bin")));
    assert_fails(&out, 2, "cannot read key");
}

#[test]
fn wrong_key_type_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    // An RSA key (imgtool supports RSA; we deliberately do not).
    let rsa = dir.path().join("rsa.pem");
    ok(std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&rsa));
    let out = run(signer()
        .args(["sign", "-k"])
        .arg(&rsa)
        .args(OK_ARGS)
        .arg(payload())
        .arg(dir.path().join("o.bin")));
    assert_fails(&out, 2, "unsupported algorithm");
    assert!(stderr(&out).contains("hint: only ed25519 and ecdsa-p256"));
    // A public key where a private key is needed.
    let public = repo().join("fixtures/keys/test-only-ed25519-a.pub.pem");
    let out = run(signer()
        .args(["sign", "-k"])
        .arg(&public)
        .args(OK_ARGS)
        .arg(payload())
        .arg(dir.path().join("o.bin")));
    assert_fails(&out, 2, "only a public key");
    // --pure with an ECDSA key.
    let ecdsa = repo().join("fixtures/keys/test-only-ecdsa-p256.pem");
    let out = run(signer()
        .args(["sign", "--pure", "-k"])
        .arg(&ecdsa)
        .args(OK_ARGS)
        .arg(payload())
        .arg(dir.path().join("o.bin")));
    assert_fails(&out, 2, "--pure is only defined for ed25519");
}

#[test]
fn header_must_be_zero_without_pad_header() {
    let dir = tempfile::tempdir().unwrap();
    let out = sign(
        &["-H", "0x40", "-S", "0x1000", "-v", "1.0.0"],
        &payload(),
        &dir.path().join("o.bin"),
    );
    assert_fails(&out, 2, "does not start with zeros");
    assert!(stderr(&out).contains("--pad-header"));
}

#[test]
fn no_silent_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("o.bin");
    std::fs::write(&target, b"precious").unwrap();
    let out = sign(OK_ARGS, &payload(), &target);
    assert_fails(&out, 2, "already exists");
    assert_eq!(read(&target), b"precious");
    ok(signer()
        .arg("sign")
        .arg("-k")
        .arg(key())
        .args(OK_ARGS)
        .arg("--force")
        .arg(payload())
        .arg(&target));
    assert_ne!(read(&target), b"precious");
    // Keys too.
    let out = run(signer().args(["keygen", "-t", "ed25519", "-k"]).arg(&target));
    assert_fails(&out, 2, "already exists");
}

#[test]
fn verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let image = repo().join("fixtures/images/small-a-seccnt5.bin");
    ok(signer().arg("verify").arg("-k").arg(key()).arg(&image));
    // Tampered: exit 1.
    let mut bytes = read(&image);
    bytes[0x50] ^= 0x01;
    let evil = dir.path().join("evil.bin");
    std::fs::write(&evil, &bytes).unwrap();
    let out = run(signer().arg("verify").arg("-k").arg(key()).arg(&evil));
    assert_fails(&out, 1, "image hash mismatch");
    // Untrusted key: exit 1.
    let other = repo().join("fixtures/keys/test-only-ed25519-b.pub.pem");
    let out = run(signer().arg("verify").arg("-k").arg(&other).arg(&image));
    assert_fails(&out, 1, "untrusted key");
    // Rollback floor: exit 1.
    let out = run(signer()
        .args(["verify", "--min-security-counter", "6", "-k"])
        .arg(key())
        .arg(&image));
    assert_fails(&out, 1, "rollback");
    // Missing file: exit 2.
    let out = run(signer()
        .arg("verify")
        .arg("-k")
        .arg(key())
        .arg(dir.path().join("none.bin")));
    assert_fails(&out, 2, "cannot read image");
    // JSON output for machines.
    let out = ok(signer().args(["verify", "--json", "-k"]).arg(key()).arg(&image));
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["security_counter"], 5);
}

#[test]
fn dumpinfo_json_describes_the_image() {
    let image = repo().join("fixtures/images/small-a-seccnt5.bin");
    let out = ok(signer().args(["dumpinfo", "--json"]).arg(&image));
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["header"]["hdr_size"], 0x40);
    assert_eq!(json["header"]["version"], "1.0.0+1");
    assert_eq!(json["protected_tlvs"][0]["name"], "SEC_CNT");
    let names: Vec<&str> = json["tlvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SHA256", "KEYHASH", "ED25519"]);
    // Garbage is an invalid image (exit 1), not a crash.
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [0xffu8; 100]).unwrap();
    assert_fails(
        &run(signer().arg("dumpinfo").arg(&junk)),
        1,
        "not a valid MCUboot image",
    );
}

#[test]
fn help_has_examples() {
    for cmd in [
        vec!["--help"],
        vec!["sign", "--help"],
        vec!["verify", "--help"],
        vec!["keygen", "--help"],
    ] {
        let out = ok(signer().args(&cmd));
        assert!(
            String::from_utf8_lossy(&out).contains("Example"),
            "{cmd:?} --help has no examples"
        );
    }
}

/// README: outputs are never replaced without `--force` — `getpub -o` and `getpubhash -o` too.
#[test]
fn getpub_output_is_never_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["getpub", "getpubhash"] {
        let target = dir.path().join(format!("{cmd}.out"));
        std::fs::write(&target, b"precious").unwrap();
        let out = run(signer().arg(cmd).arg("-k").arg(key()).arg("-o").arg(&target));
        assert_fails(&out, 2, "already exists");
        assert!(
            stderr(&out).contains("hint:") && stderr(&out).contains("--force"),
            "{cmd}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{cmd}: nothing on stdout");
        assert_eq!(read(&target), b"precious", "{cmd}: existing file untouched");
        // --force replaces it, with exactly what stdout would have shown, and says so.
        let out = run(signer()
            .arg(cmd)
            .arg("-k")
            .arg(key())
            .arg("-o")
            .arg(&target)
            .arg("--force"));
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("wrote {}", target.display())),
            "{}",
            stderr(&out)
        );
        let stdout = ok(signer().arg(cmd).arg("-k").arg(key()));
        assert_eq!(read(&target), stdout, "{cmd}");
        // A new file needs no --force; no temporary files are left behind.
        let fresh = dir.path().join(format!("{cmd}.new"));
        ok(signer().arg(cmd).arg("-k").arg(key()).arg("-o").arg(&fresh));
        assert_eq!(read(&fresh), stdout);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

/// Commands that write files say what they wrote on stderr; `--json` puts exactly one JSON
/// document on stdout.
#[test]
fn successful_commands_say_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = dir.path().join("k.pem");
    let out = run(signer().args(["keygen", "-t", "ed25519", "--json", "-k"]).arg(&new_key));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["type"], "ed25519");
    assert!(stderr(&out).contains(&format!("wrote ed25519 key to {}", new_key.display())));
    let signed = dir.path().join("o.bin");
    let out = run(signer()
        .arg("sign")
        .arg("-k")
        .arg(key())
        .args(OK_ARGS)
        .arg("--json")
        .arg(payload())
        .arg(&signed));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["version"], "1.0.0+0");
    assert!(
        stderr(&out).contains(&format!("-> {}", signed.display())),
        "{}",
        stderr(&out)
    );
}

/// An Intel HEX data record (type 00) at `offset` with its checksum.
fn hex_record(offset: u16, data: &[u8]) -> String {
    let mut bytes = vec![data.len() as u8, (offset >> 8) as u8, offset as u8, 0];
    bytes.extend_from_slice(data);
    let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    bytes.push(sum.wrapping_neg());
    format!(":{}", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
}

/// A minimal little-endian ELF32 (ARM) executable with one `PT_LOAD` segment per
/// `(physical address, bytes)`.
fn elf32(segments: &[(u32, &[u8])]) -> Vec<u8> {
    let (ehsize, phentsize) = (52u32, 32u32);
    let mut data_at = ehsize + phentsize * segments.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type: EXEC
    out.extend_from_slice(&40u16.to_le_bytes()); // e_machine: ARM
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&0u32.to_le_bytes()); // e_entry
    out.extend_from_slice(&ehsize.to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&(ehsize as u16).to_le_bytes());
    out.extend_from_slice(&(phentsize as u16).to_le_bytes());
    out.extend_from_slice(&(segments.len() as u16).to_le_bytes());
    out.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    for (paddr, bytes) in segments {
        let len = bytes.len() as u32;
        for field in [1, data_at, *paddr, *paddr, len, len, 5, 4] {
            out.extend_from_slice(&field.to_le_bytes()); // p_type LOAD, offset, vaddr, paddr, filesz, memsz, flags, align
        }
        data_at += len;
    }
    for (_, bytes) in segments {
        out.extend_from_slice(bytes);
    }
    out
}

#[test]
fn empty_input_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let out = sign(OK_ARGS, &empty, &dir.path().join("o.bin"));
    assert_fails(&out, 2, "is empty");
    assert!(stderr(&out).contains("hint:"));
    assert!(!dir.path().join("o.bin").exists(), "no image signed for nothing");
}

#[test]
fn input_larger_than_the_slot_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    // 8 GiB, sparse: refused by its length, never read into memory.
    let huge = dir.path().join("huge.bin");
    std::fs::File::create(&huge).unwrap().set_len(8 << 30).unwrap();
    let out = sign(OK_ARGS, &huge, &dir.path().join("o.bin"));
    assert_fails(&out, 2, "larger than 4096 bytes");
    assert!(stderr(&out).contains("hint:"));
    assert!(!dir.path().join("o.bin").exists());
    // A HEX file whose firmware alone exceeds the slot.
    let hex = dir.path().join("big.hex");
    let records: Vec<String> = (0..300u16).map(|i| hex_record(i * 16, &[0xAB; 16])).collect();
    std::fs::write(&hex, format!("{}\n:00000001FF\n", records.join("\n"))).unwrap();
    let out = sign(OK_ARGS, &hex, &dir.path().join("o.bin"));
    assert_fails(&out, 2, "exceeds the slot size");
}

#[test]
fn overlapping_hex_records_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hex = dir.path().join("overlap.hex");
    let text = [
        hex_record(0x0000, &[1; 16]),
        hex_record(0x0008, &[2; 16]),
        ":00000001FF".to_owned(),
    ]
    .join("\n");
    std::fs::write(&hex, text + "\n").unwrap();
    let out = sign(OK_ARGS, &hex, &dir.path().join("o.bin"));
    assert_fails(&out, 2, "overlaps");
    assert!(stderr(&out).contains("0x8..0x18"), "{}", stderr(&out));
    // The same records side by side are fine.
    let text = [
        hex_record(0x0000, &[1; 16]),
        hex_record(0x0010, &[2; 16]),
        ":00000001FF".to_owned(),
    ]
    .join("\n");
    std::fs::write(&hex, text + "\n").unwrap();
    let out = sign(OK_ARGS, &hex, &dir.path().join("o.bin"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn overlapping_elf_segments_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("overlap.elf");
    std::fs::write(&elf, elf32(&[(0x0800_0000, &[1; 64]), (0x0800_0020, &[2; 64])])).unwrap();
    let out = sign(OK_ARGS, &elf, &dir.path().join("o.bin"));
    assert_fails(&out, 2, "overlaps");
    assert!(!dir.path().join("o.bin").exists());
    std::fs::write(&elf, elf32(&[(0x0800_0000, &[1; 64]), (0x0800_0040, &[2; 64])])).unwrap();
    let out = sign(OK_ARGS, &elf, &dir.path().join("o.bin"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
