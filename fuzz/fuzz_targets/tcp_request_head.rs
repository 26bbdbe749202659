//! The request head inside a REQUEST frame.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::transport::tcp::fuzz::request_head(data));
