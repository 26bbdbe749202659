//! The gateway's /api/... path resolver.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_gateway::fuzz::resolve_path(data));
