use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ContentType;
use crate::Error;

type EncodeFn<T> = fn(&T) -> Result<Bytes, String>;
type DecodeFn<T> = fn(Bytes) -> Result<T, String>;
type DecodeSliceFn<T> = fn(&[u8]) -> Result<T, String>;
type DecodeFrontFn<T> = fn(&mut Bytes, usize) -> Result<T, String>;

/// Writes a message straight into a buffer (no body of its own): its exact
/// encoded length first, then the writer of exactly that many bytes.
/// Protobuf only: JSON's length is known only once written.
pub(crate) struct Direct<T> {
    pub(crate) len: fn(&T) -> usize,
    pub(crate) write: fn(&T, &mut BytesMut),
}

impl<T> Clone for Direct<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Direct<T> {}

/// One format's functions.
struct Format<T> {
    encode: EncodeFn<T>,
    direct: Option<Direct<T>>,
    /// Keeps `bytes` fields as slices of the body (prost with `Bytes`).
    decode: DecodeFn<T>,
    /// Leaves the body with its owner (no count on a shared buffer).
    decode_slice: DecodeSliceFn<T>,
    /// Decodes the message at the front of a shared buffer in place.
    decode_front: DecodeFrontFn<T>,
}

impl<T> Clone for Format<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Format<T> {}

impl<T: prost::Message + Default> Format<T> {
    const PROTOBUF: Self = Self {
        encode: encode_protobuf::<T>,
        direct: Some(Direct {
            len: |msg| msg.encoded_len(),
            write: |msg, buf| msg.encode_raw(buf),
        }),
        decode: decode_protobuf::<T>,
        decode_slice: |bytes| T::decode(bytes).map_err(|e| e.to_string()),
        decode_front: decode_protobuf_front::<T>,
    };
}

impl<T: Serialize + DeserializeOwned> Format<T> {
    const JSON: Self = Self {
        encode: encode_json::<T>,
        direct: None,
        decode: |bytes| decode_json(&bytes),
        decode_slice: decode_json::<T>,
        decode_front: |buf, len| match buf.get(..len) {
            Some(body) => decode_json(body),
            None => Err(format!("{len} bytes announced, {} there", buf.len())),
        },
    };
}

/// How one message type is encoded and decoded, per content type.
///
/// A plain table of function pointers: `Copy`, built in a `const`, no dynamic
/// dispatch and no allocation to select a codec on the hot path.
///
/// # Examples
///
/// ```
/// use micro_runtime::codec::{ContentType, MessageCodec};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Ping { n: u32 }
///
/// const PING: MessageCodec<Ping> = MessageCodec::serde();
/// let bytes = PING.encode(ContentType::Json, &Ping { n: 7 }).unwrap();
/// assert_eq!(&bytes[..], br#"{"n":7}"#);
/// assert_eq!(PING.decode(ContentType::Json, bytes).unwrap(), Ping { n: 7 });
/// assert_eq!(PING.encode(ContentType::Protobuf, &Ping { n: 7 }).unwrap_err().code(), 415);
/// ```
pub struct MessageCodec<T> {
    type_name: fn() -> &'static str,
    protobuf: Option<Format<T>>,
    json: Option<Format<T>>,
}

impl<T> Clone for MessageCodec<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MessageCodec<T> {}

impl<T> fmt::Debug for MessageCodec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCodec")
            .field("type", &(self.type_name)())
            .field("protobuf", &self.protobuf.is_some())
            .field("json", &self.json.is_some())
            .finish()
    }
}

fn encode_protobuf<T: prost::Message>(msg: &T) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(msg.encoded_len());
    msg.encode(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

fn decode_protobuf<T: prost::Message + Default>(bytes: Bytes) -> Result<T, String> {
    T::decode(bytes).map_err(|e| e.to_string())
}

/// Decodes the `len` bytes at the front of `buf`: `bytes` fields slice
/// `buf` as [`decode_protobuf`] would, and nothing else takes a reference
/// to it (no count per message).
fn decode_protobuf_front<T: prost::Message + Default>(
    buf: &mut Bytes,
    len: usize,
) -> Result<T, String> {
    T::decode(Buf::take(&mut *buf, len)).map_err(|e| e.to_string())
}

fn encode_json<T: Serialize>(msg: &T) -> Result<Bytes, String> {
    serde_json::to_vec(msg)
        .map(Bytes::from)
        .map_err(|e| e.to_string())
}

fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

impl<T> MessageCodec<T> {
    /// A type that is both a prost message and serde (de)serializable: the
    /// types `micro-codegen` generates. Supports protobuf and JSON.
    pub const fn prost_serde() -> Self
    where
        T: prost::Message + Default + Serialize + DeserializeOwned,
    {
        Self {
            type_name: std::any::type_name::<T>,
            protobuf: Some(Format::PROTOBUF),
            json: Some(Format::JSON),
        }
    }

    /// A prost message without serde support: protobuf only.
    pub const fn prost() -> Self
    where
        T: prost::Message + Default,
    {
        Self {
            type_name: std::any::type_name::<T>,
            protobuf: Some(Format::PROTOBUF),
            json: None,
        }
    }

    /// A serde type that is not a prost message: JSON only.
    pub const fn serde() -> Self
    where
        T: Serialize + DeserializeOwned,
    {
        Self {
            type_name: std::any::type_name::<T>,
            protobuf: None,
            json: Some(Format::JSON),
        }
    }

    /// The content type to send when the caller did not choose one:
    /// protobuf when supported, else JSON.
    pub const fn preferred(&self) -> ContentType {
        if self.protobuf.is_some() {
            ContentType::Protobuf
        } else {
            ContentType::Json
        }
    }

    /// True when this type has a codec for `content_type`.
    pub const fn supports(&self, content_type: ContentType) -> bool {
        match content_type {
            ContentType::Protobuf => self.protobuf.is_some(),
            ContentType::Json => self.json.is_some(),
        }
    }

    /// How to write `content_type` straight into a buffer, when it can be.
    pub(crate) fn direct(&self, content_type: ContentType) -> Option<Direct<T>> {
        self.format(content_type).ok()?.direct
    }

    fn format(&self, content_type: ContentType) -> Result<Format<T>, Error> {
        let format = match content_type {
            ContentType::Protobuf => self.protobuf,
            ContentType::Json => self.json,
        };
        format.ok_or_else(|| {
            Error::unsupported_media_type(format!(
                "{} cannot be encoded as {content_type}",
                (self.type_name)()
            ))
        })
    }

    /// Encodes `msg`.
    ///
    /// # Errors
    ///
    /// 415 when the type has no codec for `content_type`; 500 when the
    /// serializer fails.
    pub fn encode(&self, content_type: ContentType, msg: &T) -> Result<Bytes, Error> {
        (self.format(content_type)?.encode)(msg).map_err(|why| {
            Error::internal(format!(
                "encoding {} as {content_type}: {why}",
                (self.type_name)()
            ))
        })
    }

    /// Decodes a message.
    ///
    /// # Errors
    ///
    /// 400 saying why the bytes do not decode; 415 when the type has no codec
    /// for `content_type`.
    pub fn decode(&self, content_type: ContentType, bytes: Bytes) -> Result<T, Error> {
        (self.format(content_type)?.decode)(bytes)
            .map_err(|why| self.not_decoded(content_type, why))
    }

    /// Decodes the message of `len` bytes at the front of `buf`: what a
    /// stream's reader does with messages that share one buffer, without a
    /// reference count of their own. It may consume part of `buf`; moving
    /// past the message is the caller's ([`crate::transport::MessageRun`]).
    ///
    /// # Errors
    ///
    /// As [`MessageCodec::decode`].
    pub(crate) fn decode_front(
        &self,
        content_type: ContentType,
        buf: &mut Bytes,
        len: usize,
    ) -> Result<T, Error> {
        let format = self.format(content_type)?;
        (format.decode_front)(buf, len).map_err(|why| self.not_decoded(content_type, why))
    }

    /// Decodes a message from borrowed bytes (a `bytes` field is copied,
    /// not sliced).
    ///
    /// # Errors
    ///
    /// As [`MessageCodec::decode`].
    pub fn decode_slice(&self, content_type: ContentType, bytes: &[u8]) -> Result<T, Error> {
        (self.format(content_type)?.decode_slice)(bytes)
            .map_err(|why| self.not_decoded(content_type, why))
    }

    fn not_decoded(&self, content_type: ContentType, why: String) -> Error {
        Error::bad_request(format!(
            "body does not decode as {} ({content_type}): {why}",
            short_type_name((self.type_name)())
        ))
    }
}

/// `a::b::Request` -> `Request`, for error messages.
fn short_type_name(name: &str) -> &str {
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    struct Both {
        #[prost(string, tag = "1")]
        name: String,
    }

    #[test]
    fn both_codecs_round_trip() {
        const C: MessageCodec<Both> = MessageCodec::prost_serde();
        let msg = Both { name: "x".into() };
        for ct in [ContentType::Protobuf, ContentType::Json] {
            let bytes = C.encode(ct, &msg).unwrap();
            assert_eq!(C.decode_slice(ct, &bytes).unwrap(), msg);
            assert_eq!(C.decode(ct, bytes).unwrap(), msg);
        }
        assert_eq!(C.preferred(), ContentType::Protobuf);
    }

    #[test]
    fn bad_bytes_give_400_with_reason() {
        const C: MessageCodec<Both> = MessageCodec::prost_serde();
        let err = C
            .decode(ContentType::Protobuf, Bytes::from_static(&[0x0a, 0xff]))
            .unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("Both"), "{err}");
        let err = C
            .decode(ContentType::Json, Bytes::from_static(b"{nope"))
            .unwrap_err();
        assert_eq!(err.code(), 400);
        let err = C
            .decode_slice(ContentType::Protobuf, &[0x0a, 0xff])
            .unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("Both"), "{err}");
    }

    #[test]
    fn prost_only_refuses_json() {
        const C: MessageCodec<Both> = MessageCodec::prost();
        assert!(!C.supports(ContentType::Json));
        assert_eq!(
            C.encode(ContentType::Json, &Both::default())
                .unwrap_err()
                .code(),
            415
        );
    }
}
