//! gRPC's length-prefixed message framing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::transport::grpc::fuzz::messages(data));
