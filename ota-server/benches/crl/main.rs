//! CRL size and generation time for a large revocation list (issue 16's closing figures):
//! `cargo bench -p ota-server --bench crl [-- COUNT]` (default 10,000 serials). Prints the DER
//! size, the time to make and sign it, and, as the reference measured in the same run, the
//! time to sign an empty CRL (so the ratio is what the list itself costs).

use std::time::Instant;

use ota_server::ca::{IssuingCa, RevokedSerial};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

fn main() {
    let count: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "bench issuing CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    let ca = IssuingCa::from_pem(&cert.pem(), &key.serialize_pem(), 90).unwrap();
    let now = 1_800_000_000_000;
    let revoked: Vec<RevokedSerial> = (0..count)
        .map(|i| RevokedSerial {
            // 16-byte serials, as the CA issues them.
            serial: format!(
                "{:032x}",
                0x4000_0000_0000_0000_0000_0000_0000_0000u128 + i as u128 * 7919
            ),
            revoked_ms: now - i as i64 * 1000,
        })
        .collect();
    let time = |list: &[RevokedSerial]| {
        let runs = 5;
        let mut best = f64::MAX;
        let mut size = 0;
        for _ in 0..runs {
            let t = Instant::now();
            size = ca.crl(list, now, 3600).unwrap().len();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (best, size)
    };
    let (empty_s, empty_size) = time(&[]);
    let (full_s, full_size) = time(&revoked);
    println!("crl: empty: {empty_size} B in {:.2} ms (reference)", empty_s * 1e3);
    println!(
        "crl: {count} serials: {full_size} B ({:.1} B per entry) in {:.2} ms, {:.1}x the empty CRL",
        (full_size - empty_size) as f64 / count.max(1) as f64,
        full_s * 1e3,
        full_s / empty_s
    );
}
