//! Metadata as NATS headers and back.

use async_nats::HeaderMap;

use crate::Metadata;

/// Whether `key: value` can travel as a NATS header (no spaces or control
/// characters in the name, no line breaks in the value).
pub(crate) fn can_travel(key: &str, value: &str) -> bool {
    !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.contains(['\r', '\n'])
}

/// Metadata as NATS headers (entries that cannot travel, see
/// [`can_travel`], are left out and logged).
pub(crate) fn to_headers(metadata: &Metadata) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (key, value) in metadata.iter() {
        match key.parse::<async_nats::HeaderName>() {
            Ok(name) if can_travel(key, value) => headers.insert(name, value),
            _ => tracing::warn!(header = key, "header cannot travel over NATS; left out"),
        }
    }
    headers
}

/// NATS headers as metadata, leaving out the server's `Nats-*` ones.
pub(crate) fn from_headers(headers: Option<&HeaderMap>) -> Metadata {
    from_headers_except(headers, |_| false)
}

/// NATS headers as metadata, leaving out `Nats-*` and those `skip` names.
pub(crate) fn from_headers_except(
    headers: Option<&HeaderMap>,
    skip: impl Fn(&str) -> bool,
) -> Metadata {
    let Some(headers) = headers else {
        return Metadata::new();
    };
    let mut metadata = Metadata::with_capacity(headers.len() + 3);
    for (name, values) in headers.iter() {
        let name: &str = name.as_ref();
        if (name.len() >= 5 && name[..5].eq_ignore_ascii_case("nats-")) || skip(name) {
            continue;
        }
        if let Some(value) = values.last() {
            metadata.insert(name, value.as_str());
        }
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_without_what_cannot_travel() {
        let mut md = Metadata::new();
        md.insert("Content-Type", "application/protobuf");
        md.insert("x-user", "ada");
        md.insert("bad", "line\nbreak");
        md.insert("bad\u{7}name", "x");
        md.insert("naïve", "x");
        let mut headers = to_headers(&md);
        headers.insert("Nats-Msg-Id", "1");
        let back = from_headers(Some(&headers));
        assert_eq!(back.get("content-type"), Some("application/protobuf"));
        assert_eq!(back.get("x-user"), Some("ada"));
        assert_eq!(back.get("bad"), None);
        assert_eq!(back.get("nats-msg-id"), None);
        assert_eq!(back.len(), 2);
    }
}
