//! How the etcd and file stores keep a record in one value: a small
//! protobuf message of the value, its metadata and its deadline.

use std::collections::BTreeMap;

use bytes::Bytes;
use prost::Message;

use super::Record;
use super::checks::{self, ID};
use crate::{Error, Result};

/// One stored record.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Envelope {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) value: Bytes,
    #[prost(btree_map = "string, string", tag = "2")]
    pub(crate) metadata: BTreeMap<String, String>,
    /// When it expires, in ms since the Unix epoch; 0: never.
    #[prost(uint64, tag = "3")]
    pub(crate) expires_at_ms: u64,
}

/// `record` with its deadline, encoded.
pub(crate) fn encode(record: Record, expires_at_ms: u64) -> Vec<u8> {
    Envelope {
        value: record.value,
        metadata: record.metadata,
        expires_at_ms,
    }
    .encode_to_vec()
}

/// The record of `key` from its stored bytes; `None` when it has expired.
pub(crate) fn decode(key: &str, bytes: &[u8], now_ms: u64) -> Result<Option<Record>> {
    let envelope = Envelope::decode(bytes).map_err(|e| {
        Error::internal(format!("the stored record {key:?} does not decode: {e}")).with_id(ID)
    })?;
    Ok(
        checks::left_ms(envelope.expires_at_ms, now_ms).map(|expiry| Record {
            key: key.to_owned(),
            value: envelope.value,
            metadata: envelope.metadata,
            expiry,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_expiry() {
        let record = Record::new("k", "v").with_metadata("a", "b");
        let bytes = encode(record.clone(), 100);
        assert_eq!(
            decode("k", &bytes, 40).unwrap().unwrap().value,
            record.value
        );
        let read = decode("k", &bytes, 40).unwrap().unwrap();
        assert_eq!(read.metadata, record.metadata);
        assert_eq!(read.expiry, Some(std::time::Duration::from_millis(60)));
        assert!(decode("k", &bytes, 100).unwrap().is_none());
        assert_eq!(decode("k", b"\xff\xff", 0).unwrap_err().code(), 500);
    }
}
