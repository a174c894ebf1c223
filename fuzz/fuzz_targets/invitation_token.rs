#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| circlekeeper::fuzzing::invitation_token(data));
