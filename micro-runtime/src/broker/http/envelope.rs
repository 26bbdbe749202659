//! The body of a delivery POST: `u32` length of the headers' JSON, the
//! headers as a JSON object, then the message body as is.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::broker::Message;
use crate::{Error, Metadata, Result};

/// The content type of delivery requests.
pub(crate) const CONTENT_TYPE: &str = "application/x-micro-broker";

pub(crate) fn encode(message: &Message) -> Bytes {
    let headers: std::collections::BTreeMap<&str, &str> = message.headers.iter().collect();
    let json = serde_json::to_vec(&headers).unwrap_or_default();
    let mut buf = BytesMut::with_capacity(4 + json.len() + message.body.len());
    buf.put_u32(json.len() as u32);
    buf.put_slice(&json);
    buf.put_slice(&message.body);
    buf.freeze()
}

pub(crate) fn decode(mut body: Bytes) -> Result<Message> {
    if body.len() < 4 {
        return Err(Error::bad_request(
            "delivery shorter than its header length",
        ));
    }
    let len = body.get_u32() as usize;
    if body.len() < len {
        return Err(Error::bad_request("delivery headers run past the body"));
    }
    let json = body.split_to(len);
    let headers: std::collections::BTreeMap<String, String> = serde_json::from_slice(&json)
        .map_err(|e| Error::bad_request(format!("delivery headers are not a JSON object: {e}")))?;
    Ok(Message {
        headers: headers.into_iter().collect::<Metadata>(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let message = Message::new("payload").with_header("Content-Type", "application/json");
        let back = decode(encode(&message)).unwrap();
        assert_eq!(back, message);
        assert!(decode(Bytes::from_static(b"\x00\x00\x00\x09{}")).is_err());
        assert!(decode(Bytes::from_static(b"\x00\x00\x00\x02[]")).is_err());
        assert!(decode(Bytes::from_static(b"xy")).is_err());
    }
}
