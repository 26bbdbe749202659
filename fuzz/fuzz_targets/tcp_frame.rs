//! The native protocol's frame parser, fed as a socket feeds it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::transport::tcp::fuzz::frames(data));
