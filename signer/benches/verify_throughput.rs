//! Benchmark (a bench binary, not a timed test): all figures are measured side by side in one
//! run and reported as ratios, because the machines are shared and noisy.
//!
//! 1. Verify a 16 MiB signed image with `device-verifier` (streaming through a 4 KiB buffer,
//!    reading the file like a flash driver would) vs `openssl dgst -sha256` on the same file.
//!    Hashing is the floor; the goal is >= 0.9x openssl's throughput.
//! 2. `signer sign` vs `imgtool sign` (2.5.0, from the project virtualenv) on the same input.
//!
//! Run: `cargo bench -p signer --bench verify_throughput`

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use device_verifier::{verify_image, FlashError, FlashRead, ImagePolicy, TrustedKey};

const IMAGE_SIZE: usize = 16 * 1024 * 1024;
const ROUNDS: usize = 7;

/// A slot backed by a file: every chunk is a real `read` call.
struct FileFlash {
    file: std::fs::File,
    len: u32,
}

impl FlashRead for FileFlash {
    fn capacity(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.file
            .seek(SeekFrom::Start(u64::from(offset)))
            .map_err(|_| FlashError)?;
        self.file.read_exact(buf).map_err(|_| FlashError)
    }
}

fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn signed_image(dir: &Path) -> (PathBuf, Vec<u8>) {
    let key_path = repo().join("fixtures/keys/test-only-ed25519-a.pem");
    let key = signer::keys::load_file_key(&key_path).unwrap();
    // Deterministic pseudo-random payload (xorshift), so hashing can't shortcut anything.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let payload: Vec<u8> = (0..IMAGE_SIZE - 0x200)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let input = dir.join("payload.bin");
    std::fs::write(&input, &payload).unwrap();
    let args = [
        "sign",
        "--pad-header",
        "-H",
        "0x200",
        "-S",
        "0x2000000",
        "-v",
        "1.0.0",
        "-s",
        "1",
    ];
    let mut settings = None;
    if let signer::cli::Command::Sign(sign) =
        <signer::cli::Cli as clap::Parser>::parse_from(std::iter::once("signer").chain(args).chain([
            "-k",
            key_path.to_str().unwrap(),
            "in",
            "out",
        ]))
        .command
    {
        settings = Some(signer::cli::sign_settings(&sign).unwrap());
    }
    let signed = signer::image::sign_image(&payload, &settings.unwrap(), &key).unwrap();
    let image_path = dir.join("image-16m.bin");
    std::fs::write(&image_path, &signed.bytes).unwrap();
    (image_path, signer::keys::load_public_spki(&key_path).unwrap())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (image_path, spki) = signed_image(dir.path());
    let len = std::fs::metadata(&image_path).unwrap().len() as usize;
    let key = TrustedKey::from_spki(&spki).unwrap();
    let policy = ImagePolicy {
        trusted_keys: &[key],
        security_counter_floor: Some(0),
    };

    // Warm the page cache for both contenders.
    let _ = std::fs::read(&image_path).unwrap();

    let openssl = best_of(ROUNDS, || {
        run_ok(Command::new("openssl").arg("dgst").arg("-sha256").arg(&image_path))
    });
    // openssl's fixed cost (process start-up, loading the provider) measured on an empty file.
    let openssl_startup = best_of(ROUNDS, || {
        run_ok(Command::new("openssl").arg("dgst").arg("-sha256").arg("/dev/null"))
    });
    let openssl_hashing = openssl.saturating_sub(openssl_startup);
    let ours_file = best_of(ROUNDS, || {
        let file = std::fs::File::open(&image_path).unwrap();
        let mut flash = FileFlash { file, len: len as u32 };
        let mut buf = [0u8; 4096];
        verify_image(&mut flash, &policy, &mut buf).unwrap();
    });
    let bytes = std::fs::read(&image_path).unwrap();
    let ours_mem = best_of(ROUNDS, || {
        let mut buf = [0u8; 4096];
        verify_image(&mut device_verifier::SliceFlash::new(&bytes), &policy, &mut buf).unwrap();
    });
    let (o, h) = (mib_per_s(len, openssl), mib_per_s(len, openssl_hashing));
    let (f, m) = (mib_per_s(len, ours_file), mib_per_s(len, ours_mem));
    println!("verify a {len}-byte image (best of {ROUNDS}):");
    println!(
        "  openssl dgst -sha256, whole process    {:8.1} ms  {o:8.1} MiB/s",
        openssl.as_secs_f64() * 1e3
    );
    println!(
        "  openssl dgst -sha256, minus start-up   {:8.1} ms  {h:8.1} MiB/s  (start-up {:.1} ms)",
        openssl_hashing.as_secs_f64() * 1e3,
        openssl_startup.as_secs_f64() * 1e3
    );
    for (name, d, rate) in [
        ("device-verifier, file, 4 KiB reads", ours_file, f),
        ("device-verifier, in-memory slot   ", ours_mem, m),
    ] {
        println!(
            "  {name}   {:8.1} ms  {rate:8.1} MiB/s  = {:.2}x openssl (whole), {:.2}x openssl (hashing only)",
            d.as_secs_f64() * 1e3,
            rate / o,
            rate / h
        );
    }

    // signer sign vs imgtool sign, same key, input and options (whole process, best of 5).
    let imgtool = repo().join(".venv/bin/imgtool");
    let signer_bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/signer");
    // Always rebuild: a stale binary would measure old code.
    run_ok(Command::new("cargo").args(["build", "--release", "-q", "-p", "signer"]));
    let audit_log = dir.path().join("audit.jsonl");
    let key = repo().join("fixtures/keys/test-only-ed25519-a.pem");
    let input = dir.path().join("payload.bin");
    let sign_with = |tool: &Path, extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let _ = std::fs::remove_file(&out);
        run_ok(
            Command::new(tool)
                .arg("sign")
                .arg("-k")
                .arg(&key)
                .args([
                    "--pad-header",
                    "-H",
                    "0x200",
                    "-S",
                    "0x2000000",
                    "-v",
                    "1.0.0",
                    "-s",
                    "1",
                ])
                .args(extra)
                .arg(&input)
                .arg(&out),
        );
    };
    let audit_arg = audit_log.to_str().unwrap();
    let t_signer = best_of(5, || {
        sign_with(&signer_bin, &["--force", "--audit-log", audit_arg], "a.bin")
    });
    let t_imgtool = best_of(5, || sign_with(&imgtool, &[], "b.bin"));
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).unwrap(),
        std::fs::read(dir.path().join("b.bin")).unwrap()
    );
    println!("sign a 16 MiB input (whole process, best of 5; outputs byte-identical;");
    println!("  signer also fsyncs its output and appends + fsyncs an audit record, imgtool does neither):");
    println!("  imgtool sign {:8.1} ms", t_imgtool.as_secs_f64() * 1e3);
    println!(
        "  signer sign  {:8.1} ms  = {:.1}x faster",
        t_signer.as_secs_f64() * 1e3,
        t_imgtool.as_secs_f64() / t_signer.as_secs_f64()
    );
}
