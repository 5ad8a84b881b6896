#![no_main]
// Logic: device_verifier::fuzzing::delta_apply (under cfg(fuzzing) in the crate).
libfuzzer_sys::fuzz_target!(|data: &[u8]| device_verifier::fuzzing::delta_apply(data));
