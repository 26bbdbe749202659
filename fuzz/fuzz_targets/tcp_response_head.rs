//! What answers carry besides bodies: END/RESET errors, SETTINGS.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::transport::tcp::fuzz::response_head(data));
