//! The TXT record of a node: its service record (version, metadata,
//! endpoints, the node itself) as deflate-compressed JSON split into
//! 250-byte chunks `m0`, `m1`, …, plus readable `name` and `version`.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use mdns_sd::TxtProperty;
use serde::{Deserialize, Serialize};

use crate::registry::Service;

const CHUNK: usize = 250;

/// Largest compressed record put on the wire: beyond it endpoint
/// descriptions, then endpoints, are left out (an mDNS packet is ~1.4 KB).
const MAX_RECORD: usize = 1100;

/// What one node advertises.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    /// The service version with exactly this node.
    pub(crate) service: Service,
    /// Seconds after its last announcement that the node is considered gone.
    pub(crate) ttl: u64,
    /// Increases with every announcement, so each one is seen as fresh.
    pub(crate) beat: u64,
}

fn compress(record: &NodeRecord) -> Vec<u8> {
    let json = serde_json::to_vec(record).unwrap_or_default();
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    let _ = encoder.write_all(&json);
    encoder.finish().unwrap_or_default()
}

/// Encodes a record, trimming what does not fit an mDNS packet.
pub(crate) fn encode(record: &NodeRecord) -> Vec<TxtProperty> {
    let mut bytes = compress(record);
    if bytes.len() > MAX_RECORD {
        let mut trimmed = record.clone();
        for endpoint in &mut trimmed.service.endpoints {
            endpoint.metadata.remove("description");
        }
        bytes = compress(&trimmed);
        if bytes.len() > MAX_RECORD {
            tracing::warn!(service = %record.service.name,
                "mDNS record too large: endpoints are not advertised");
            trimmed.service.endpoints.clear();
            bytes = compress(&trimmed);
        }
    }
    let mut properties: Vec<TxtProperty> = vec![
        ("name", record.service.name.as_bytes()).into(),
        ("version", record.service.version.as_bytes()).into(),
    ];
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        properties.push((format!("m{i}"), chunk).into());
    }
    properties
}

/// Decodes a record from TXT properties (`get` returns a property's value).
pub(crate) fn decode<'a>(get: impl Fn(&str) -> Option<&'a [u8]>) -> Option<NodeRecord> {
    let mut bytes = Vec::new();
    for i in 0.. {
        match get(&format!("m{i}")) {
            Some(chunk) => bytes.extend_from_slice(chunk),
            None => break,
        }
    }
    if bytes.is_empty() {
        return None;
    }
    let mut json = Vec::new();
    DeflateDecoder::new(&bytes[..])
        .take(1 << 20)
        .read_to_end(&mut json)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Endpoint, Node};

    fn record(endpoints: usize) -> NodeRecord {
        NodeRecord {
            service: Service {
                name: "com.example.srv.greeter".into(),
                version: "1.0.0".into(),
                endpoints: (0..endpoints)
                    .map(|i| Endpoint {
                        name: format!("Greeter.Method{i}"),
                        request: "greeter.v1.Request".into(),
                        response: "greeter.v1.Response".into(),
                        metadata: [(
                            "description".to_owned(),
                            // Hard to compress, like real prose with names in it.
                            (0..12)
                                .map(|_| format!("{:x}", fastrand::u64(..)))
                                .collect::<String>(),
                        )]
                        .into(),
                    })
                    .collect(),
                nodes: vec![Node {
                    id: "n1".into(),
                    address: "127.0.0.1:9".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ttl: 60,
            beat: 3,
        }
    }

    fn round_trip(record: &NodeRecord) -> NodeRecord {
        let props = encode(record);
        for p in &props {
            assert!(p.key().len() + p.val().map_or(0, <[u8]>::len) < 255);
        }
        decode(|key| props.iter().find(|p| p.key() == key).and_then(|p| p.val())).unwrap()
    }

    #[test]
    fn small_records_round_trip_whole() {
        let r = record(4);
        assert_eq!(round_trip(&r), r);
    }

    #[test]
    fn large_records_drop_descriptions_first() {
        let r = record(60);
        let back = round_trip(&r);
        assert_eq!(back.service.nodes, r.service.nodes);
        assert!(
            back.service
                .endpoints
                .iter()
                .all(|e| !e.metadata.contains_key("description"))
        );
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode(|k| (k == "m0").then_some(&b"not deflate"[..])).is_none());
        assert!(decode(|_| None).is_none());
    }
}
