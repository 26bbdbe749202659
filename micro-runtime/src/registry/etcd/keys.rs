//! The key layout: `<prefix><service>/<version>/<node id>`, one key per node.
//!
//! Each segment is escaped so it never contains `/`: `%` becomes `%25` and
//! `/` becomes `%2F`; nothing else changes, so the usual names
//! (`com.example.srv.greeter`, `1.0.0`, `greeter-3f2a…`) read as they are.
//! `<prefix><service>/` therefore holds exactly the nodes of that service,
//! whatever the other services are called.

use crate::registry::{Node, Service};

/// The default prefix.
pub(super) const DEFAULT_PREFIX: &str = "/micro/registry/";

/// A prefix as given, made to start and end with `/`.
pub(super) fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        format!("/{trimmed}/")
    }
}

fn escape(segment: &str) -> String {
    segment.replace('%', "%25").replace('/', "%2F")
}

fn unescape(segment: &str) -> String {
    segment.replace("%2F", "/").replace("%25", "%")
}

/// The key of one node of one version of a service.
pub(super) fn node_key(prefix: &str, service: &str, version: &str, node: &str) -> String {
    format!(
        "{prefix}{}/{}/{}",
        escape(service),
        escape(version),
        escape(node)
    )
}

/// The prefix of every key of `service`.
pub(super) fn service_prefix(prefix: &str, service: &str) -> String {
    format!("{prefix}{}/", escape(service))
}

/// Service name, version and node id back from a key under `prefix`.
pub(super) fn parse(prefix: &str, key: &[u8]) -> Option<(String, String, String)> {
    let key = std::str::from_utf8(key).ok()?.strip_prefix(prefix)?;
    let mut parts = key.split('/');
    let (service, version, node) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || service.is_empty() || node.is_empty() {
        return None;
    }
    Some((unescape(service), unescape(version), unescape(node)))
}

/// What a node's key says of it, for a deletion whose value is gone.
pub(super) fn service_of_key(prefix: &str, key: &[u8]) -> Option<Service> {
    let (name, version, id) = parse(prefix, key)?;
    Some(Service {
        name,
        version,
        nodes: vec![Node {
            id,
            ..Default::default()
        }],
        ..Default::default()
    })
}

pub(super) use crate::etcd::keys::range_end;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_stay_one_segment_each() {
        let prefix = normalize_prefix("micro/registry");
        assert_eq!(prefix, "/micro/registry/");
        let key = node_key(&prefix, "com.example.srv.greeter", "1.0.0", "greeter-1");
        assert_eq!(
            key,
            "/micro/registry/com.example.srv.greeter/1.0.0/greeter-1"
        );
        let odd = node_key(&prefix, "a/b", "v%2F", "n/1");
        assert_eq!(odd, "/micro/registry/a%2Fb/v%252F/n%2F1");
        assert_eq!(
            parse(&prefix, odd.as_bytes()),
            Some(("a/b".into(), "v%2F".into(), "n/1".into()))
        );
        assert!(odd.starts_with(&service_prefix(&prefix, "a/b")));
        assert!(!odd.starts_with(&service_prefix(&prefix, "a")));
        let empty_version = node_key(&prefix, "s", "", "n");
        assert_eq!(
            parse(&prefix, empty_version.as_bytes()),
            Some(("s".into(), String::new(), "n".into()))
        );
        assert_eq!(parse(&prefix, b"/micro/registry/s/v"), None);
        assert_eq!(parse(&prefix, b"/other/s/v/n"), None);
    }
}
