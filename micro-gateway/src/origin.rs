//! Browsers: CORS for the origins the gateway is told to trust, and 403 for
//! requests any other web page makes, so a page the user visits cannot
//! call services through a gateway on their machine.
//!
//! Requests without an `Origin` header (curl, services, scripts) are not
//! browser requests from another site and pass, unless the browser says
//! they come from another site (`Sec-Fetch-Site`: an `<img>` or a link
//! to `/api/...?query` sends no `Origin`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::failure::Failure;

/// The origins browsers may call from: `scheme://host[:port]`, or `*`
/// for any.
#[derive(Clone, Debug, Default)]
pub(crate) struct Origins {
    /// Normalised: lower case, no trailing `/`.
    list: Vec<String>,
    /// The gateway's own pages on any host may call it (set when it wants
    /// a token: a page of another site cannot present it).
    pub(crate) own_pages: bool,
}

impl Origins {
    /// `origins`, normalised.
    pub(crate) fn new<'a>(origins: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            list: origins.into_iter().map(normalise).collect(),
            own_pages: false,
        }
    }

    /// True when no origin is trusted: no CORS headers at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn any(&self) -> bool {
        self.list.iter().any(|o| o == "*")
    }

    /// Checks each origin's form.
    ///
    /// # Errors
    ///
    /// 400 naming the first origin that is not `scheme://host[:port]`.
    pub(crate) fn check(&self) -> Result<(), Error> {
        for origin in &self.list {
            if origin == "*" {
                continue;
            }
            let well_formed = origin.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', '@'])
            }) && HeaderValue::from_str(origin).is_ok();
            if !well_formed {
                return Err(Error::bad_request(format!(
                    "CORS origin {origin:?} is not scheme://host[:port] (e.g. \
                     https://app.example.com or http://localhost:3000) or *"
                )));
            }
        }
        Ok(())
    }

    /// True when a request with these headers may be served: no `Origin`
    /// (and not from another site by `Sec-Fetch-Site`), a trusted one, or
    /// the gateway's own page on a loopback host.
    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            // A page elsewhere loading `/api/...?query` as an image, a
            // script or a link: no Origin, but Fetch Metadata tells.
            return !headers
                .get(SEC_FETCH_SITE)
                .is_some_and(|site| site == "cross-site" || site == "same-site");
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalise(origin);
        self.any()
            || self.list.contains(&origin)
            || same_loopback_origin(&origin, headers)
            || (self.own_pages && same_origin(&origin, headers))
    }

    /// The CORS layer for these origins: preflights answered, the
    /// response headers browsers need; none when no origin is trusted.
    pub(crate) fn cors(&self) -> Option<CorsLayer> {
        if self.is_empty() {
            return None;
        }
        let allow = if self.any() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.list
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST])
                // Any header may become call metadata.
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// Fetch Metadata: where the request comes from, as the browser sees it
/// (`same-origin`, `same-site`, `cross-site`, or `none` for one the user
/// typed).
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// `origin` as browsers send it: lower case, no trailing `/`.
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// A page the gateway itself served (the dashboard) when it is reached by
/// a loopback name: `Origin` is `http://` + `Host`, and that host is
/// `localhost` or a loopback address. A name that merely resolves to
/// loopback (DNS rebinding) is not enough.
fn same_loopback_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    if origin.strip_prefix("http://") != Some(host.as_str()) {
        return false;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host.as_str(),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A page the gateway itself served, on whatever host: `Origin` is
/// `http://` or `https://` + `Host`.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host.as_str())
}

/// Answers 403 to a request from a web page of an origin not trusted.
pub(crate) async fn reject_other_sites(
    State(origins): State<Arc<Origins>>,
    request: Request,
    next: Next,
) -> Response {
    if origins.allows(request.headers()) {
        return next.run(request).await;
    }
    let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
    else {
        return Failure(Error::forbidden(
            "requests from another site's web pages are not allowed (Sec-Fetch-Site); \
             call with fetch() from a trusted CORS origin",
        ))
        .into_response();
    };
    Failure(Error::forbidden(format!(
        "requests from web pages of origin {origin:?} are not allowed; trust the origin \
         with a CORS origin (micro gateway --cors-origin {origin})"
    )))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn origins_allowed() {
        let origins = Origins::new(["https://App.example.com/"]);
        assert!(origins.allows(&headers(&[])));
        assert!(origins.allows(&headers(&[("origin", "https://app.example.com")])));
        assert!(!origins.allows(&headers(&[("origin", "https://evil.example")])));
        assert!(!origins.allows(&headers(&[("origin", "null")])));
        assert!(!Origins::default().allows(&headers(&[("origin", "https://app.example.com")])));
        assert!(Origins::new(["*"]).allows(&headers(&[("origin", "https://any.where")])));
        // No Origin, but another site by Fetch Metadata (an <img>, a link).
        for site in ["cross-site", "same-site"] {
            assert!(
                !origins.allows(&headers(&[("sec-fetch-site", site)])),
                "{site}"
            );
        }
        for site in ["same-origin", "none"] {
            assert!(
                origins.allows(&headers(&[("sec-fetch-site", site)])),
                "{site}"
            );
        }
    }

    #[test]
    fn the_gateways_own_page_on_loopback() {
        let none = Origins::default();
        for (origin, host) in [
            ("http://localhost:8080", "localhost:8080"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
        ] {
            assert!(
                none.allows(&headers(&[("origin", origin), ("host", host)])),
                "{origin}"
            );
        }
        // DNS rebinding: a name that resolves to loopback is another site.
        let rebound = headers(&[
            ("origin", "http://evil.example:8080"),
            ("host", "evil.example:8080"),
        ]);
        assert!(!none.allows(&rebound));
        // Another port on loopback is another origin.
        let other = headers(&[
            ("origin", "http://localhost:3000"),
            ("host", "localhost:8080"),
        ]);
        assert!(!none.allows(&other));
    }

    #[test]
    fn own_pages_on_any_host_with_a_token() {
        let page = headers(&[("origin", "https://gw.example"), ("host", "gw.example")]);
        let mut origins = Origins::default();
        assert!(!origins.allows(&page));
        origins.own_pages = true;
        assert!(origins.allows(&page));
        let other = headers(&[("origin", "https://evil.example"), ("host", "gw.example")]);
        assert!(!origins.allows(&other));
    }

    #[test]
    fn origin_forms() {
        assert!(
            Origins::new(["https://a.example", "http://localhost:3000", "*"])
                .check()
                .is_ok()
        );
        for bad in ["a.example", "https://a.example/path", "https://", "://x"] {
            let err = Origins::new([bad]).check().unwrap_err();
            assert!(err.is_bad_request(), "{bad}");
        }
    }
}
