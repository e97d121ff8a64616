//! libFuzzer entry point for kombu_fuzz::codegen (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kombu_fuzz::codegen(data));
