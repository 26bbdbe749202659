//! Who a request comes from: the peer's address, or (behind a proxy the
//! gateway is told to trust) the last address in `X-Forwarded-For`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderName};

/// `X-Forwarded-For`.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The address of the peer that sent the request, when the router is
/// served with connect info (as [`serve`](crate::serve) does).
pub(crate) fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The client's address: with `trust_forwarded`, the last address in
/// `X-Forwarded-For` (the one the proxy in front of the gateway saw; the
/// ones before it are whatever the client wrote); else, or without a
/// valid one, the peer's.
pub(crate) fn address(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if trust_forwarded && let Some(forwarded) = last_forwarded(headers) {
        return Some(forwarded);
    }
    peer
}

/// The last entry of the last `X-Forwarded-For` header, if it is an IP
/// address (with or without a port).
fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all(X_FORWARDED_FOR).iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// The rate limit's key for a client address: IPv4 as is (also when
/// mapped into IPv6), IPv6 by its /64 network, since one host usually
/// owns a whole /64 and could otherwise take a fresh address per request.
pub(crate) fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_only_when_trusted() {
        let peer = Some("10.0.0.9".parse().unwrap());
        let h = headers(&["1.1.1.1", "2.2.2.2, 3.3.3.3"]);
        assert_eq!(address(&h, peer, false), peer);
        assert_eq!(address(&h, peer, true), Some("3.3.3.3".parse().unwrap()));
        let port = headers(&["[2001:db8::1]:443"]);
        assert_eq!(
            address(&port, peer, true),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(address(&headers(&["nonsense"]), peer, true), peer);
        assert_eq!(address(&HeaderMap::new(), peer, true), peer);
    }

    #[test]
    fn keys() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(key(v4), v4);
        assert_eq!(key("::ffff:192.0.2.7".parse().unwrap()), v4);
        assert_eq!(
            key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            key("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_ne!(
            key("2001:db8:1:2::1".parse().unwrap()),
            key("2001:db8:1:3::1".parse().unwrap())
        );
    }
}
