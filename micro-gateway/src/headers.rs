//! Request headers as call metadata, and the deadline they ask for.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::{self, HeaderName};
use micro_runtime::{CallOptions, Error};

/// Headers that describe one HTTP hop (RFC 9110, 7.6.1), not the
/// message: a proxy does not pass them on.
pub(crate) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers that describe the HTTP message itself, never the call (besides
/// [`HOP_BY_HOP`]).
const DROPPED: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "accept",
    "accept-encoding",
    "expect",
    "timeout",
    "x-micro-timeout",
    "grpc-timeout",
];

/// The prefix of metadata keys the runtime sets itself (`micro-id`,
/// `micro-topic`): an HTTP client does not get to choose them.
const RESERVED: &str = "micro-";

/// Headers that carry the caller's credentials for the gateway.
const CREDENTIALS: &[&str] = &["authorization", "cookie"];

/// The header that carries the services' bearer token when
/// `Authorization` is the gateway's own (`auth_token`): it becomes the
/// call's `authorization` metadata.
const SERVICE_AUTHORIZATION: &str = "x-micro-authorization";

/// `options` with every header that says something about the call as
/// metadata (names lower case), and the deadline from `Timeout`,
/// `X-Micro-Timeout` or `grpc-timeout` (else `default`).
///
/// # Errors
///
/// 400 for a timeout header that does not parse.
pub(crate) fn call_options(
    headers: &HeaderMap,
    forward_credentials: bool,
    default: Duration,
) -> Result<CallOptions, Error> {
    let mut options = CallOptions::new().timeout(timeout(headers)?.unwrap_or(default));
    for (name, value) in metadata(headers, forward_credentials) {
        options = options.metadata(name, value);
    }
    Ok(options)
}

/// As [`call_options`] for a streaming call: its deadline only from the
/// request's headers, none by default (a stream may live for as long as
/// its client stays).
///
/// # Errors
///
/// 400 for a timeout header that does not parse.
pub(crate) fn stream_options(
    headers: &HeaderMap,
    forward_credentials: bool,
) -> Result<CallOptions, Error> {
    let mut options = CallOptions::new();
    if let Some(timeout) = timeout(headers)? {
        options = options.timeout(timeout);
    }
    for (name, value) in metadata(headers, forward_credentials) {
        // The WebSocket handshake's own headers describe the HTTP hop.
        if !name.starts_with("sec-websocket-") {
            options = options.metadata(name, value);
        }
    }
    Ok(options)
}

/// The headers that say something about the call, names lower case. A
/// bearer `Authorization` (a token for the services: browsers never send
/// one by themselves) always passes; other credentials only when
/// `forward_credentials`; `X-Micro-Authorization` becomes `authorization`.
fn metadata(headers: &HeaderMap, forward_credentials: bool) -> Vec<(&str, &str)> {
    let listed = connection_listed(headers);
    let mut out: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .filter(|(name, value)| {
            !(HOP_BY_HOP.contains(name)
                || DROPPED.contains(name)
                || name.starts_with(RESERVED)
                || *name == SERVICE_AUTHORIZATION
                || listed.iter().any(|l| l == name)
                || (!forward_credentials
                    && CREDENTIALS.contains(name)
                    && !(*name == "authorization" && is_bearer(value))))
        })
        .collect();
    if let Some(token) = headers
        .get(SERVICE_AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        out.retain(|(name, _)| *name != "authorization");
        out.push(("authorization", token));
    }
    out
}

/// True for `Bearer <token>` (the scheme in any case).
fn is_bearer(value: &str) -> bool {
    value
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer "))
}

/// The header names the `Connection` header lists (lower case): they
/// too describe the hop only.
pub(crate) fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The deadline a request asks for: `Timeout` or `X-Micro-Timeout`
/// (`5s`, `500ms`, `2m`, or seconds; up to nine digits), or `grpc-timeout`
/// (`100m`, `5S`).
fn timeout(headers: &HeaderMap) -> Result<Option<Duration>, Error> {
    for name in ["x-micro-timeout", "timeout"] {
        if let Some(value) = headers.get(HeaderName::from_static(name)) {
            let text = value.to_str().unwrap_or_default();
            // Nine digits at most: a larger number could overflow a Duration.
            let digits = text.trim().bytes().take_while(u8::is_ascii_digit).count();
            let parsed = (digits <= 9)
                .then(|| micro_runtime::parse_duration(text))
                .flatten();
            return parsed.map(Some).ok_or_else(|| {
                Error::bad_request(format!(
                    "header {name}: {text:?} is not a duration (e.g. 5s, 500ms)"
                ))
            });
        }
    }
    if let Some(value) = headers.get("grpc-timeout") {
        let text = value.to_str().unwrap_or_default();
        return grpc_timeout(text).map(Some).ok_or_else(|| {
            Error::bad_request(format!(
                "header grpc-timeout: {text:?} is not a gRPC timeout (e.g. 100m, 5S)"
            ))
        });
    }
    Ok(None)
}

/// gRPC's `TimeoutValue TimeoutUnit`: up to 8 digits and one of `HMSmun`.
fn grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn timeouts() {
        let t = |pairs| timeout(&headers(pairs)).unwrap();
        assert_eq!(t(&[("timeout", "5s")]), Some(Duration::from_secs(5)));
        assert_eq!(t(&[("timeout", "2")]), Some(Duration::from_secs(2)));
        assert_eq!(
            t(&[("x-micro-timeout", "500ms"), ("timeout", "9s")]),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            t(&[("grpc-timeout", "100m")]),
            Some(Duration::from_millis(100))
        );
        assert_eq!(t(&[]), None);
        let err = timeout(&headers(&[("timeout", "soon")])).unwrap_err();
        assert!(err.is_bad_request());
        assert!(timeout(&headers(&[("grpc-timeout", "5x")])).is_err());
        assert!(timeout(&headers(&[("timeout", "99999999999999999999999h")])).is_err());
        assert!(timeout(&headers(&[("grpc-timeout", "123456789S")])).is_err());
    }

    #[test]
    fn hop_by_hop_and_credentials_are_dropped() {
        let map = headers(&[
            ("x-request-id", "42"),
            ("traceparent", "00-abc-def-01"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("authorization", "Bearer secret"),
            ("cookie", "a=b"),
            ("content-type", "application/json"),
            ("micro-topic", "spoofed"),
        ]);
        let kept = |forward| {
            let mut names: Vec<&str> = metadata(&map, forward)
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            names.sort_unstable();
            names
        };
        // A bearer token is for the services: it passes.
        assert_eq!(
            kept(false),
            ["authorization", "traceparent", "x-request-id"]
        );
        assert_eq!(
            kept(true),
            ["authorization", "cookie", "traceparent", "x-request-id"]
        );
        let basic = headers(&[("authorization", "Basic dTpw")]);
        assert!(metadata(&basic, false).is_empty());
    }

    #[test]
    fn the_services_token_under_its_own_header() {
        let map = headers(&[
            ("authorization", "Bearer for-the-gateway"),
            ("x-micro-authorization", "Bearer for-the-services"),
        ]);
        assert_eq!(
            metadata(&map, false),
            [("authorization", "Bearer for-the-services")]
        );
    }
}
