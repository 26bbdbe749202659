//! DNS rebinding: a gateway without a token serves only requests addressed
//! to `localhost` or an IP address, never to another name.
//!
//! A web page at `http://evil.example:8080` whose name the attacker then
//! points at 127.0.0.1 talks to a gateway on the user's machine as its own
//! origin: the browser sends no cross-site signal, only `Host:
//! evil.example:8080`. An IP address cannot be re-pointed, and
//! `localhost` is loopback in every browser.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;

use crate::failure::Failure;

/// True for a `Host` (`name[:port]`) no DNS answer can move: an IP
/// address, `localhost` or a name under `.localhost`.
fn is_fixed(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Answers 403 to a request addressed to a name that is not fixed.
pub(crate) async fn fixed_hosts_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    match host {
        Some(host) if !is_fixed(&host) => Failure(Error::forbidden(format!(
            "this gateway has no auth token, so it answers only requests to localhost \
             or an IP address, not to {host:?} (a name pointed at it could be a web \
             page's DNS rebinding); set an auth token, or --insecure to serve any name"
        )))
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_hosts() {
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.:1",
            "app.localhost:3000",
            "127.0.0.1:8080",
            "10.0.0.1",
            "[::1]:8080",
            "[fe80::1]",
        ] {
            assert!(is_fixed(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.evil.example:80",
            "[evil]:80",
            "",
        ] {
            assert!(!is_fixed(host), "{host}");
        }
    }
}
