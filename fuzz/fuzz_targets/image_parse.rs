#![no_main]
// Logic: manifest::fuzzing::image_parse (under cfg(fuzzing) in the crate).
libfuzzer_sys::fuzz_target!(|data: &[u8]| manifest::fuzzing::image_parse(data));
