//! Picks a [`MessageCodec`] for a concrete type at compile time, for code the
//! `#[service]` macro generates: a type that is both a prost message and
//! serde (de)serializable gets both codecs, a prost-only type protobuf, a
//! serde-only type JSON.
//!
//! This is "autoref specialisation": the macro writes
//! `(&&&Probe::<T>::new()).codec()` for a concrete `T`; method resolution
//! tries `&&&Probe` first (needs prost + serde), then `&&Probe` (prost), then
//! `&Probe` (serde). It only works at a concrete type, which is exactly where
//! the macro expands.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MessageCodec;

/// Zero-sized probe for `T`.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// A probe.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Both codecs (most specific).
pub trait ViaProstSerde<T> {
    /// The codec.
    fn codec(&self) -> MessageCodec<T>;
}
impl<T: prost::Message + Default + Serialize + DeserializeOwned> ViaProstSerde<T> for &&Probe<T> {
    fn codec(&self) -> MessageCodec<T> {
        MessageCodec::prost_serde()
    }
}

/// Protobuf only.
pub trait ViaProst<T> {
    /// The codec.
    fn codec(&self) -> MessageCodec<T>;
}
impl<T: prost::Message + Default> ViaProst<T> for &Probe<T> {
    fn codec(&self) -> MessageCodec<T> {
        MessageCodec::prost()
    }
}

/// JSON only (least specific).
pub trait ViaSerde<T> {
    /// The codec.
    fn codec(&self) -> MessageCodec<T>;
}
impl<T: Serialize + DeserializeOwned> ViaSerde<T> for Probe<T> {
    fn codec(&self) -> MessageCodec<T> {
        MessageCodec::serde()
    }
}

#[cfg(test)]
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    use crate::codec::ContentType;

    #[derive(Clone, PartialEq, prost::Message)]
    struct ProstOnly {
        #[prost(int32, tag = "1")]
        n: i32,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct SerdeOnly {
        n: i32,
    }

    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    struct Both {
        #[prost(int32, tag = "1")]
        n: i32,
    }

    #[test]
    fn picks_the_most_capable_codec() {
        let both = (&&&Probe::<Both>::new()).codec();
        assert!(both.supports(ContentType::Protobuf) && both.supports(ContentType::Json));
        let prost_only = (&&&Probe::<ProstOnly>::new()).codec();
        assert!(prost_only.supports(ContentType::Protobuf));
        assert!(!prost_only.supports(ContentType::Json));
        let serde_only = (&&&Probe::<SerdeOnly>::new()).codec();
        assert!(!serde_only.supports(ContentType::Protobuf));
        assert!(serde_only.supports(ContentType::Json));
    }
}
