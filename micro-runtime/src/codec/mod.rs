//! Codecs: how a message becomes bytes and back, chosen by content type.
//!
//! Two codecs are built in: protobuf (`application/protobuf`, the default) and
//! JSON with the proto3 JSON mapping (`application/json`). A message type
//! declares which it supports through a [`MessageCodec`]: the types generated
//! by `micro-codegen` support both; code-first services may use prost-only or
//! serde-only types and the `#[service]` macro picks what each supports.

mod content_type;
mod message_codec;
#[doc(hidden)]
pub mod probe;

pub use content_type::ContentType;
pub use message_codec::MessageCodec;
