//! The TXT record of an mDNS node announcement.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| micro_runtime::registry::mdns::fuzz::txt_record(data));
