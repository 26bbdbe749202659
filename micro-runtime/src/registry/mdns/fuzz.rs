//! Entry point for the fuzz target of the mDNS TXT record (`fuzz/`, feature
//! `fuzzing`). Not a stable API.

use super::txt;

/// Decodes `data` as the chunks `m0`, `m1`, … of a node's TXT record
/// (split at each `0xff`, a byte no chunk of valid deflate output needs to
/// be cut at). A record that decodes encodes back to one that decodes the
/// same (its node and its name).
pub fn txt_record(data: &[u8]) {
    let chunks: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let get = |key: &str| {
        key.strip_prefix('m')
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| chunks.get(i).copied())
    };
    let Some(record) = txt::decode(get) else {
        return;
    };
    let properties = txt::encode(&record);
    let back = txt::decode(|key| {
        properties
            .iter()
            .find(|p| p.key() == key)
            .and_then(|p| p.val())
    })
    .expect("an encoded record decodes");
    assert_eq!(back.service.name, record.service.name);
    assert_eq!(back.service.nodes, record.service.nodes);
    assert_eq!((back.ttl, back.beat), (record.ttl, record.beat));
}
