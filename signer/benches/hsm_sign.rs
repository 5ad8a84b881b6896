//! HSM vs file-key signing time per image, side by side in one run (the machines are shared and
//! noisy: compare the ratio, not the absolute numbers).
//!
//!     cargo bench -p signer --bench hsm_sign            # N=200 per case, 64 KiB image
//!     HSM_BENCH_N=50 HSM_BENCH_SIZE=1048576 cargo bench -p signer --bench hsm_sign
//!
//! Sets up its own SoftHSM2 token in a temp dir (SOFTHSM2_CONF). The same Ed25519 key signs from
//! its file and, imported, from the token; for ECDSA P-256 each side has its own key. Each
//! iteration is a whole `sign_image` (build, hash, sign, self-verify with device-verifier), as
//! `signer sign` does it after the key is open; a second table times the whole `signer sign`
//! process (module load, login, sign, audit log, atomic write).

#[path = "../tests/common/softhsm.rs"]
mod softhsm;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use manifest::image::ImageVersion;
use signer::image::{sign_image, SignSettings};
use signer::keys::{generate_file_key, open_signing_key, KeyAlgorithm};
use signer::output::Overwrite;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn settings(image_len: usize) -> SignSettings {
    let version: ImageVersion = "1.2.3+4".parse().expect("version");
    let slot_size = u32::try_from(image_len * 2 + 0x10000).expect("slot size");
    // As `cli_sign` below: -H 0x200 --pad-header -s auto (0x01020003 for 1.2.3), the rest default.
    SignSettings::new(version, slot_size)
        .header_size(0x200)
        .pad_header(true)
        .security_counter(Some(version.auto_security_counter()))
}

struct Stats {
    median: Duration,
    mean: Duration,
    min: Duration,
}

fn measure(n: usize, mut f: impl FnMut()) -> Stats {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let total: Duration = times.iter().sum();
    Stats {
        median: times[n / 2],
        mean: total / u32::try_from(n).expect("n"),
        min: times[0],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn report(case: &str, file: &Stats, hsm: &Stats) {
    println!(
        "{case:<28} file key: median {:>11} mean {:>11} min {:>11} | SoftHSM2: median {:>11} mean {:>11} min {:>11} | HSM/file (median) {:.2}x",
        ms(file.median),
        ms(file.mean),
        ms(file.min),
        ms(hsm.median),
        ms(hsm.mean),
        ms(hsm.min),
        hsm.median.as_secs_f64() / file.median.as_secs_f64()
    );
}

fn cli_sign(bin: &Path, hsm: &softhsm::SoftHsm, key: &str, input: &Path, out: &Path, log: &Path) {
    let slot = format!(
        "{:#x}",
        settings(std::fs::metadata(input).map_or(0, |m| m.len() as usize)).slot_size
    );
    let status = hsm
        .env_pin(&mut Command::new(bin))
        .args([
            "sign",
            "-k",
            key,
            "-v",
            "1.2.3+4",
            "-s",
            "auto",
            "-H",
            "0x200",
            "--pad-header",
        ])
        .args(["-S", &slot, "--force", "--audit-log"])
        .args([log, input, out])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run signer");
    assert!(status.success(), "signer sign -k {key} failed");
}

fn main() {
    let n = env_usize("HSM_BENCH_N", 200);
    let size = env_usize("HSM_BENCH_SIZE", 64 * 1024);
    let cli_n = env_usize("HSM_BENCH_CLI_N", 20);
    let hsm = softhsm::SoftHsm::with_token("bench");
    let work = hsm.dir.path();
    // The library reads these when it opens pkcs11: keys in this process.
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    std::env::set_var("PKCS11_MODULE", &hsm.module);
    std::env::set_var("PKCS11_PIN", softhsm::USER_PIN);

    let ed_file = work.join("ed25519.pem");
    generate_file_key(KeyAlgorithm::Ed25519, &ed_file, Overwrite::Refuse).expect("ed25519 key file");
    hsm.import_pkcs8("bench", &ed_file, "ed25519", "01");
    let p256_file = work.join("p256.pem");
    generate_file_key(KeyAlgorithm::EcdsaP256, &p256_file, Overwrite::Refuse).expect("p256 key file");
    hsm.import_pkcs8("bench", &p256_file, "p256", "02");

    let image: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let settings = settings(size);
    println!(
        "hsm_sign: {n} signatures per case, {size}-byte image, SoftHSM2 module {}",
        hsm.module.display()
    );
    println!("in-process sign_image (build + hash + sign + self-verify), key already open:");
    for (case, file_spec, hsm_spec) in [
        (
            "ed25519",
            ed_file.to_str().expect("path"),
            "pkcs11:token=bench;object=ed25519",
        ),
        (
            "ecdsa-p256",
            p256_file.to_str().expect("path"),
            "pkcs11:token=bench;object=p256",
        ),
    ] {
        let file_key = open_signing_key(file_spec).expect("open file key");
        let hsm_key = open_signing_key(hsm_spec).expect("open token key");
        if case == "ed25519" {
            let a = sign_image(&image, &settings, file_key.as_ref()).expect("sign");
            let b = sign_image(&image, &settings, hsm_key.as_ref()).expect("sign");
            assert_eq!(a.bytes, b.bytes, "the imported key must sign byte-identically");
        }
        let file = measure(n, || {
            sign_image(&image, &settings, file_key.as_ref()).expect("file sign");
        });
        let token = measure(n, || {
            sign_image(&image, &settings, hsm_key.as_ref()).expect("hsm sign");
        });
        report(case, &file, &token);
        let digest = [0x5a_u8; 32];
        let file = measure(n, || {
            file_key.sign(&digest).expect("file sign");
        });
        let token = measure(n, || {
            hsm_key.sign(&digest).expect("hsm sign");
        });
        report(&format!("{case} (signature only)"), &file, &token);
    }

    let bin = Path::new(env!("CARGO_BIN_EXE_signer"));
    let input = work.join("input.bin");
    std::fs::write(&input, &image).expect("write input");
    let out = work.join("out.bin");
    let log = work.join("audit.jsonl");
    println!("whole `signer sign` process ({cli_n} runs each; includes module load and login for the HSM):");
    for (case, file_spec, hsm_spec) in [
        (
            "ed25519",
            ed_file.to_str().expect("path"),
            "pkcs11:token=bench;object=ed25519",
        ),
        (
            "ecdsa-p256",
            p256_file.to_str().expect("path"),
            "pkcs11:token=bench;object=p256",
        ),
    ] {
        let file = measure(cli_n, || cli_sign(bin, &hsm, file_spec, &input, &out, &log));
        let token = measure(cli_n, || cli_sign(bin, &hsm, hsm_spec, &input, &out, &log));
        report(&format!("{case} (CLI)"), &file, &token);
    }
}
