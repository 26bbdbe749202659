//! The protobuf codec on generated types: greeter's `Request` and the
//! `Thing` of `proto/describe_test.proto` (nested, repeated, maps, oneofs,
//! recursion, well-known types). What decodes survives a round trip.
#![no_main]

use bytes::Bytes;
use examples::{describe_pb::Thing, pb::Request};
use micro_runtime::codec::{ContentType, MessageCodec};

/// Decodes, encodes, decodes again: the two messages must agree (compared
/// through their JSON form, as maps are unordered and NaN != NaN).
fn round_trip<T>(codec: MessageCodec<T>, data: &[u8]) {
    let Ok(first) = codec.decode(ContentType::Protobuf, Bytes::copy_from_slice(data)) else {
        return;
    };
    let bytes = codec
        .encode(ContentType::Protobuf, &first)
        .expect("a decoded message encodes");
    let second = codec
        .decode(ContentType::Protobuf, bytes)
        .expect("an encoded message decodes");
    let json = |m: &T| {
        codec
            .encode(ContentType::Json, m)
            .ok()
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b).expect("JSON"))
    };
    assert_eq!(json(&first), json(&second));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    round_trip(MessageCodec::<Request>::prost_serde(), data);
    round_trip(MessageCodec::<Thing>::prost_serde(), data);
});
