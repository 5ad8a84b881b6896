#![no_main]
// Logic: manifest::fuzzing::image_roundtrip (under cfg(fuzzing) in the crate).
libfuzzer_sys::fuzz_target!(|data: &[u8]| manifest::fuzzing::image_roundtrip(data));
