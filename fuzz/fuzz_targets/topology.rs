//! libFuzzer entry point for kombu_fuzz::topology (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kombu_fuzz::topology(data));
