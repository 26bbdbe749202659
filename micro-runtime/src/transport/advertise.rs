//! The address a node tells others to reach it at.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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

    #[test]
    fn concrete_addresses_are_kept() {
        assert_eq!(advertise_address("127.0.0.1:80"), "127.0.0.1:80");
        assert!(advertise_address("0.0.0.0:80").ends_with(":80"));
        assert!(!advertise_address("0.0.0.0:80").starts_with("0.0.0.0"));
    }
}
