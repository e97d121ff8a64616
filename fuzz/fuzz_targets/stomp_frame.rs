//! libFuzzer entry point for kombu_fuzz::stomp_frame (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kombu_fuzz::stomp_frame(data));
