//! What a service writes into the registry about itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::endpoint::{CallKind, EndpointDescriptor};
use crate::registry::Endpoint;

/// The registry form of an endpoint descriptor.
pub(crate) fn endpoint(d: &EndpointDescriptor) -> Endpoint {
    let mut metadata = BTreeMap::new();
    if d.kind != CallKind::Unary {
        metadata.insert("stream".to_owned(), d.kind.as_str().to_owned());
    }
    if d.idempotent {
        metadata.insert("idempotent".to_owned(), "true".to_owned());
    }
    if let Some(timeout) = d.timeout {
        metadata.insert("timeout_ms".to_owned(), timeout.as_millis().to_string());
    }
    if !d.docs.is_empty() {
        metadata.insert("description".to_owned(), d.docs.trim().to_owned());
    }
    Endpoint {
        name: d.name.to_owned(),
        request: d.request_type.to_owned(),
        response: d.response_type.to_owned(),
        metadata,
    }
}

/// Node metadata every node carries.
pub(crate) fn node_metadata(transport: &str, registry: &str) -> BTreeMap<String, String> {
    [
        ("transport", transport),
        ("registry", registry),
        ("protocol", "micro"),
        ("server", "micro-rs"),
        ("runtime_version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The address to advertise for a listener address: a wildcard host becomes
/// this machine's first non-loopback IPv4 address (or loopback when it has
/// none, e.g. in a network namespace holding only `lo`).
pub(crate) fn advertise_address(local: &str) -> String {
    let Ok(addr) = local.parse::<SocketAddr>() else {
        return local.to_owned();
    };
    if !addr.ip().is_unspecified() {
        return local.to_owned();
    }
    let ip = if_addrs::get_if_addrs()
        .ok()
        .into_iter()
        .flatten()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .find(IpAddr::is_ipv4)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, addr.port()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn endpoint_metadata_describes_the_call() {
        let mut d = EndpointDescriptor::new("Greeter.Chat", "chat", CallKind::Bidi);
        d.idempotent = true;
        d.timeout = Some(Duration::from_secs(2));
        d.docs = " Talks. ";
        let e = endpoint(&d);
        assert_eq!(e.metadata["stream"], "bidi");
        assert_eq!(e.metadata["idempotent"], "true");
        assert_eq!(e.metadata["timeout_ms"], "2000");
        assert_eq!(e.metadata["description"], "Talks.");
    }

    #[test]
    fn concrete_addresses_are_kept() {
        assert_eq!(advertise_address("127.0.0.1:80"), "127.0.0.1:80");
        assert!(advertise_address("0.0.0.0:80").ends_with(":80"));
        assert!(!advertise_address("0.0.0.0:80").starts_with("0.0.0.0"));
    }
}
