//! The HTTP broker's delivery envelope.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::broker::http::fuzz::envelope(data));
