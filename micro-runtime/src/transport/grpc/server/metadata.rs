//! Request headers -> a call's metadata.
//!
//! Custom headers become metadata, names lower-case as HTTP/2 sends them.
//! Left out: what HTTP/2 and gRPC use themselves (`content-type`, `te`,
//! `user-agent`, `host`, `content-length`, `accept-encoding`, every `grpc-*`
//! header, whose `grpc-timeout` becomes the call's deadline). A `-bin`
//! header's value stays its base64 text (metadata values are strings), so
//! it travels on unchanged to the calls the handler makes. A name sent
//! twice keeps its values joined with `,`. Values that are not visible ASCII
//! are not metadata gRPC allows outside `-bin` headers and are skipped.

use hyper::HeaderMap;

use crate::{Error, Metadata, Result};

/// Headers that are HTTP's or gRPC's own, not the caller's metadata.
fn reserved(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "te"
            | "user-agent"
            | "host"
            | "content-length"
            | "accept-encoding"
            | "connection"
    ) || name.starts_with("grpc-")
        || name.starts_with(':')
}

/// The metadata of a request with `headers`, at most `max_entries`
/// entries and `max_bytes` bytes of names and values.
///
/// # Errors
///
/// 431 when the metadata is over either limit.
pub(crate) fn metadata(
    headers: &HeaderMap,
    max_entries: usize,
    max_bytes: usize,
) -> Result<Metadata> {
    let mut metadata = Metadata::new();
    let mut bytes = 0usize;
    for name in headers.keys() {
        let name = name.as_str();
        if reserved(name) {
            continue;
        }
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            continue;
        }
        let value = values.join(",");
        bytes += name.len() + value.len();
        if metadata.len() >= max_entries || bytes > max_bytes {
            return Err(Error::headers_too_large(format!(
                "the request's metadata is over the limit of {max_entries} entries or {max_bytes} bytes"
            )));
        }
        metadata.insert(name, value);
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use hyper::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn custom_headers_are_metadata_and_protocol_headers_are_not() {
        let map = headers(&[
            ("content-type", b"application/grpc"),
            ("te", b"trailers"),
            ("user-agent", b"grpc-python/1.85"),
            ("grpc-timeout", b"5S"),
            ("grpc-accept-encoding", b"gzip"),
            ("x-user", b"ada"),
            ("authorization", b"Bearer t"),
            ("trace-bin", b"AAEC"),
        ]);
        let md = metadata(&map, 16, 1024).unwrap();
        let mut pairs: Vec<_> = md.iter().collect();
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("authorization", "Bearer t"),
                ("trace-bin", "AAEC"),
                ("x-user", "ada")
            ]
        );
    }

    #[test]
    fn repeated_names_join_and_non_ascii_values_are_skipped() {
        let map = headers(&[("x-tag", b"a"), ("x-tag", b"b"), ("x-bad", b"caf\xc3\xa9")]);
        let md = metadata(&map, 16, 1024).unwrap();
        assert_eq!(md.get("x-tag"), Some("a,b"));
        assert_eq!(md.get("x-bad"), None);
    }

    #[test]
    fn too_much_metadata_is_refused_with_431() {
        let map = headers(&[("x-a", b"1"), ("x-b", b"2"), ("x-c", b"3")]);
        assert_eq!(metadata(&map, 2, 1024).unwrap_err().code(), 431);
        assert_eq!(metadata(&map, 16, 5).unwrap_err().code(), 431);
        assert_eq!(metadata(&map, 3, 1024).unwrap().len(), 3);
    }
}
