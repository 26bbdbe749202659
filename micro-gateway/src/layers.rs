//! What wraps every route: gzip, a span per request, CORS, the rate
//! limit, the cross-site check and the token, outermost first.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

use crate::GatewayOptions;
use crate::limits::rate::{self, Limiter};
use crate::{auth, host, origin, trace};

/// `routes` wrapped, outermost first, in: gzip for clients that accept it
/// (streams — server-sent events, JSON lines — and small bodies stay
/// plain: gzip would hold a stream's messages back until its buffer
/// fills); a span per request continuing the caller's trace; CORS for the trusted
/// origins (preflights answered before anything else); 429 for a client
/// over the rate limit (inside CORS, so a page can read it); without a token
/// (and not `insecure`), 403 for a `Host` that is a DNS name (DNS
/// rebinding); 403 for web pages of other origins; 401 without the token,
/// when there is one.
pub(crate) fn wrap(routes: Router, options: &GatewayOptions) -> Router {
    let mut router = routes;
    if let Some(token) = options.token.clone() {
        let guard = auth::Guard {
            token,
            dashboard: options.dashboard,
        };
        router = router.layer(middleware::from_fn_with_state(guard, auth::require_token));
    }
    let mut origins = options.origins.clone();
    // With a token, the dashboard's pages may call it on any host name.
    origins.own_pages = options.token.is_some();
    router = router.layer(middleware::from_fn_with_state(
        Arc::new(origins),
        origin::reject_other_sites,
    ));
    if options.token.is_none() && !options.insecure {
        router = router.layer(middleware::from_fn(host::fixed_hosts_only));
    }
    if let Some(limit) = options.rate_limit {
        router = router.layer(middleware::from_fn_with_state(
            Limiter::new(limit, options.trust_forwarded),
            rate::limit_rate,
        ));
    }
    if let Some(cors) = options.origins.cors() {
        router = router.layer(cors);
    }
    let compress =
        DefaultPredicate::new().and(NotForContentType::const_new("application/x-ndjson"));
    router
        .layer(middleware::from_fn(trace::span_per_request))
        .layer(CompressionLayer::new().compress_when(compress))
}
