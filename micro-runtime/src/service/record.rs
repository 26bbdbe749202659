//! What a service writes into the registry about itself.

use std::collections::BTreeMap;

use crate::endpoint::{CallKind, EndpointDescriptor};
use crate::registry::Endpoint;
use crate::transport::{MTLS_METADATA, PROTOCOLS_METADATA, Security, TLS_METADATA};

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

/// Node metadata every node carries. `protocols` lists what the listener
/// answers: the TCP listener (of the `tcp` and `grpc` transports) speaks the
/// native protocol and gRPC on one port.
pub(crate) fn node_metadata(transport: &str, registry: &str) -> BTreeMap<String, String> {
    let protocols = match transport {
        "tcp" | "grpc" => "micro,grpc",
        _ => "micro",
    };
    [
        ("transport", transport),
        ("registry", registry),
        ("protocol", "micro"),
        (PROTOCOLS_METADATA, protocols),
        ("server", "micro-rs"),
        ("runtime_version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `tls=1` for a listener that serves TLS only, and `mtls=1` when it also
/// requires client certificates: clients without them fail before dialling.
pub(crate) fn security_metadata(security: Security) -> BTreeMap<String, String> {
    let keys: &[&str] = match security {
        Security::Plain => &[],
        Security::Tls => &[TLS_METADATA],
        Security::MutualTls => &[TLS_METADATA, MTLS_METADATA],
    };
    keys.iter()
        .map(|k| ((*k).to_owned(), "1".to_owned()))
        .collect()
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
}
