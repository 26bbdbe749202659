//! The headers of a proxied exchange: hop-by-hop ones dropped (except
//! the pair that asks for a protocol switch, for WebSockets), and
//! `X-Forwarded-*` saying who asked and where.

use std::net::IpAddr;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::headers::{HOP_BY_HOP, connection_listed};
use crate::limits::client::X_FORWARDED_FOR;

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// What the gateway tells the app about a request.
#[derive(Debug)]
pub(crate) struct Forwarding<'a> {
    /// The peer that sent it.
    pub(crate) peer: Option<IpAddr>,
    /// The `X-Forwarded-*` it came with are a trusted proxy's, to extend;
    /// else they are the client's own words, replaced.
    pub(crate) trusted: bool,
    /// The path the app is served under (`/web/{service}`).
    pub(crate) prefix: &'a str,
}

/// The protocol the message switches to (`Upgrade`), when its
/// `Connection` asks for one.
pub(crate) fn upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    connection_listed(headers)
        .iter()
        .any(|name| name == "upgrade")
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Drops the hop-by-hop headers and those `Connection` lists; keeps
/// `Connection: upgrade` and `Upgrade` when the message switches
/// protocols.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let switch_to = upgrade(headers);
    for name in connection_listed(headers) {
        headers.remove(name.as_str());
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    if let Some(protocol) = switch_to {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

/// The request's headers as the app gets them: hop by hop ones dropped,
/// `Host` left to the HTTP client (the app's own address), and
/// `X-Forwarded-For`, `-Host`, `-Proto` and `-Prefix` set.
pub(crate) fn request(headers: &mut HeaderMap, forwarding: &Forwarding<'_>) {
    strip_hop_by_hop(headers);
    let host = headers.remove(header::HOST);
    let mut prior = |name: &HeaderName| -> Option<String> {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        headers.remove(name);
        (forwarding.trusted && !values.is_empty()).then(|| values.join(", "))
    };
    let chain = prior(&X_FORWARDED_FOR);
    let forwarded_host = prior(&X_FORWARDED_HOST);
    let proto = prior(&X_FORWARDED_PROTO);
    let prefix = prior(&X_FORWARDED_PREFIX);
    if !forwarding.trusted {
        headers.remove(header::FORWARDED);
    }
    let peer = forwarding.peer.map(|ip| ip.to_string());
    let chain = match (chain, peer) {
        (Some(chain), Some(peer)) => Some(format!("{chain}, {peer}")),
        (chain, peer) => chain.or(peer),
    };
    let prefix = format!(
        "{}{}",
        prefix.as_deref().unwrap_or_default().trim_end_matches('/'),
        forwarding.prefix
    );
    let host = forwarded_host.or_else(|| host.and_then(|h| h.to_str().ok().map(str::to_owned)));
    let set = [
        (X_FORWARDED_FOR, chain),
        (X_FORWARDED_HOST, host),
        (
            X_FORWARDED_PROTO,
            Some(proto.unwrap_or_else(|| "http".to_owned())),
        ),
        (X_FORWARDED_PREFIX, Some(prefix)),
    ];
    for (name, value) in set {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
}

/// The response's headers as the client gets them: hop by hop ones
/// dropped (but a protocol switch's kept).
pub(crate) fn response(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn hop_by_hop_dropped_and_forwarded_set() {
        let mut headers = map(&[
            ("host", "gw:8080"),
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("cookie", "a=b"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=6.6.6.6"),
        ]);
        let forwarding = Forwarding {
            peer: Some("127.0.0.1".parse().unwrap()),
            trusted: false,
            prefix: "/web/app",
        };
        request(&mut headers, &forwarding);
        for gone in [
            "host",
            "connection",
            "keep-alive",
            "x-secret",
            "te",
            "forwarded",
        ] {
            assert_eq!(get(&headers, gone), None, "{gone}");
        }
        assert_eq!(get(&headers, "cookie"), Some("a=b"));
        assert_eq!(get(&headers, "x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(get(&headers, "x-forwarded-host"), Some("gw:8080"));
        assert_eq!(get(&headers, "x-forwarded-proto"), Some("http"));
        assert_eq!(get(&headers, "x-forwarded-prefix"), Some("/web/app"));
    }

    #[test]
    fn trusted_proxies_are_extended() {
        let mut headers = map(&[
            ("host", "internal:8080"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-host", "example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/gw/"),
        ]);
        let forwarding = Forwarding {
            peer: Some("10.0.0.2".parse().unwrap()),
            trusted: true,
            prefix: "/web/app",
        };
        request(&mut headers, &forwarding);
        assert_eq!(
            get(&headers, "x-forwarded-for"),
            Some("1.1.1.1, 2.2.2.2, 10.0.0.2")
        );
        assert_eq!(get(&headers, "x-forwarded-host"), Some("example.com"));
        assert_eq!(get(&headers, "x-forwarded-proto"), Some("https"));
        assert_eq!(get(&headers, "x-forwarded-prefix"), Some("/gw/web/app"));
    }

    #[test]
    fn upgrades_pass() {
        let mut headers = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert_eq!(upgrade(&headers).unwrap(), "websocket");
        response(&mut headers);
        assert_eq!(get(&headers, "connection"), Some("upgrade"));
        assert_eq!(get(&headers, "upgrade"), Some("websocket"));
        assert_eq!(get(&headers, "sec-websocket-key"), Some("k"));
        let mut plain = map(&[("upgrade", "h2c")]);
        assert_eq!(upgrade(&plain), None);
        response(&mut plain);
        assert!(plain.is_empty());
    }
}
