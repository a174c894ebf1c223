#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| circlekeeper::fuzzing::signalling_frame(data));
