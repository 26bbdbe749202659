//! Web apps behind the gateway: services whose nodes say they serve HTTP
//! are reverse-proxied at `/web/{service}/...`. The crate docs' "Web
//! apps" section is the contract.

use micro_runtime::registry::Node;

pub(crate) mod headers;
pub(crate) mod proxy;

/// The node metadata key that marks a web node.
pub(crate) const KEY: &str = "web";

/// The base URL a node serves its web app at, if it serves one:
/// `web=true` means its registered address speaks HTTP; `web=http://...`
/// gives the URL (a service whose node address is its native RPC port
/// and whose HTTP is elsewhere). Any other value is not a web node.
pub(crate) fn base_url(node: &Node) -> Option<String> {
    let value = node.metadata.get(KEY)?.trim();
    if value.eq_ignore_ascii_case("true") {
        return Some(format!("http://{}", node.address));
    }
    let rest = value.strip_prefix("http://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || rest.contains(['?', '#']) {
        return None;
    }
    Some(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str, web: Option<&str>) -> Node {
        Node {
            id: "n".into(),
            address: address.into(),
            metadata: web
                .map(|w| (KEY.to_owned(), w.to_owned()))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn web_nodes() {
        let url = |address, web| base_url(&node(address, web));
        assert_eq!(
            url("10.0.0.1:80", Some("true")).as_deref(),
            Some("http://10.0.0.1:80")
        );
        assert_eq!(
            url("[::1]:80", Some("TRUE")).as_deref(),
            Some("http://[::1]:80")
        );
        assert_eq!(
            url("10.0.0.1:9000", Some("http://10.0.0.1:8000/app/")).as_deref(),
            Some("http://10.0.0.1:8000/app")
        );
        assert_eq!(url("10.0.0.1:80", None), None);
        for other in ["false", "", "https://x:1", "http://", "http://x/?a", "yes"] {
            assert_eq!(url("10.0.0.1:80", Some(other)), None, "{other}");
        }
    }
}
