#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| circlekeeper::fuzzing::room_inputs(data));
