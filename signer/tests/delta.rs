//! Host create + device-side apply, end to end (issue 5 tests).

use signer::delta::{apply, create};

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/delta-pair/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{path}{name}: {e}"))
}

#[test]
fn fixture_pair_round_trip() {
    let old = fixture("fw-v1.bin");
    let new = fixture("fw-v2.bin");
    let patch = create(&old, &new, &|_, _| {}).unwrap();
    eprintln!("fixture patch: {} bytes", patch.len());
    assert_eq!(apply(&old, &patch).unwrap(), new);
}
