//! Token authentication: every route but `/health` (and the dashboard's
//! sign-in page and static files) wants `Authorization: Bearer <token>`,
//! or the same token in the dashboard's cookie, compared in constant time.
//!
//! A browser cannot send a bearer header when it follows a link, so the
//! dashboard's sign-in page sets the token as an `HttpOnly`,
//! `SameSite=Strict` cookie ([`COOKIE`]): no script can read it and no
//! other site's page can make the browser send it. A page navigation
//! without either is sent to the sign-in page.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;
use subtle::{Choice, ConstantTimeEq};

use crate::dashboard;
use crate::failure::Failure;

/// The one path served without a token: load balancers and probes.
const OPEN: &str = "/health";

/// The cookie the dashboard's sign-in page sets: the token, percent-encoded.
pub(crate) const COOKIE: &str = "micro_token";

/// What the token check needs: the token, and whether the dashboard (its
/// sign-in page) is served.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    pub(crate) token: Token,
    pub(crate) dashboard: bool,
}

/// The token callers must present. Its `Debug` never shows it, so neither
/// does any log line or error that prints the options.
#[derive(Clone)]
pub(crate) struct Token(Arc<str>);

impl Token {
    pub(crate) fn new(token: String) -> Self {
        Self(token.into())
    }

    /// Checks the token's text, without ever quoting it.
    ///
    /// # Errors
    ///
    /// 400 for an empty token or one a header cannot carry.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Err(Error::bad_request("the gateway's auth token is empty"));
        }
        if !self.0.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::bad_request(format!(
                "the gateway's auth token ({} characters) must be printable ASCII without \
                 spaces, as an Authorization header carries it",
                self.0.chars().count()
            )));
        }
        Ok(())
    }

    /// True when `presented` is the token. The time taken depends only on
    /// `presented`'s length, never on the token's length or content.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if expected.is_empty() {
            return false;
        }
        let mut equal: Choice = (presented.len() as u64).ct_eq(&(expected.len() as u64));
        for (i, byte) in presented.iter().enumerate() {
            equal &= byte.ct_eq(&expected[i % expected.len()]);
        }
        equal.into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The token an `Authorization` header presents (`Bearer <token>`, the
/// scheme in any case), if it is a bearer header.
fn bearer(value: &HeaderValue) -> Option<&[u8]> {
    let bytes = value.as_bytes();
    let scheme = bytes.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = bytes[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The token the dashboard's cookie carries, if the request has one.
fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// The `Cookie` headers without the dashboard's cookie (it is the
/// gateway's credential, not the services').
fn remove_cookie(headers: &mut axum::http::HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(COOKIE))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&kept.join("; "))
        && !kept.is_empty()
    {
        headers.insert(header::COOKIE, value);
    }
}

/// True for a browser loading a page (`GET`, wanting HTML): sent to the
/// sign-in page rather than answered 401.
fn is_page_load(request: &Request) -> bool {
    request.method() == axum::http::Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// True for the paths served without a token.
fn is_open(path: &str, dashboard: bool) -> bool {
    path == OPEN || (dashboard && dashboard::is_open(path))
}

/// Passes requests that present the token (the header or cookie is then
/// removed: it is the gateway's credential, not the services'), and the
/// open paths; sends a page load to the dashboard's sign-in page; answers
/// 401 with `WWW-Authenticate: Bearer` otherwise.
pub(crate) async fn require_token(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_open(request.uri().path(), guard.dashboard) {
        return next.run(request).await;
    }
    let token = &guard.token;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| bearer(value).map(|t| token.matches(t)));
    let presented = match presented {
        None => cookie_token(request.headers()).map(|t| Some(token.matches(t.as_bytes()))),
        header => {
            request.headers_mut().remove(header::AUTHORIZATION);
            header
        }
    };
    let (detail, challenge) = match presented {
        Some(Some(true)) => {
            remove_cookie(request.headers_mut());
            return next.run(request).await;
        }
        _ if guard.dashboard && is_page_load(&request) => {
            return dashboard::sign_in_redirect(request.uri());
        }
        None => (
            "this gateway wants a bearer token: send `Authorization: Bearer <token>`",
            "Bearer",
        ),
        Some(None) => (
            "the Authorization header is not `Bearer <token>`",
            "Bearer error=\"invalid_request\"",
        ),
        Some(Some(false)) => (
            "the bearer token is not the gateway's",
            "Bearer error=\"invalid_token\"",
        ),
    };
    let mut response = Failure(Error::unauthorized(detail)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_matches() {
        let token = Token::new("s3cret".into());
        assert!(token.matches(b"s3cret"));
        assert!(!token.matches(b"s3cre"));
        assert!(!token.matches(b"s3crets"));
        assert!(!token.matches(b"s3creT"));
        assert!(!token.matches(b""));
        // A repetition of the token is not the token.
        assert!(!token.matches(b"s3crets3cret"));
        assert!(!Token::new(String::new()).matches(b""));
    }

    #[test]
    fn bearer_headers() {
        let value = |text: &'static str| HeaderValue::from_static(text);
        assert_eq!(bearer(&value("Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer(&value("bearer  abc ")), Some(&b"abc"[..]));
        assert_eq!(bearer(&value("Basic abc")), None);
        assert_eq!(bearer(&value("Bearer ")), None);
        assert_eq!(bearer(&value("Bearer")), None);
    }

    #[test]
    fn the_dashboard_cookie() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; micro_token=s3%3Bcret; b=2"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("s3;cret"));
        remove_cookie(&mut headers);
        assert_eq!(headers[header::COOKIE], "a=1; b=2");
        let mut only = axum::http::HeaderMap::new();
        only.insert(header::COOKIE, HeaderValue::from_static("micro_token=x"));
        remove_cookie(&mut only);
        assert!(only.get(header::COOKIE).is_none());
        assert_eq!(cookie_token(&only), None);
    }

    #[test]
    fn the_token_is_never_shown() {
        let token = Token::new("s3cret".into());
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(token.check().is_ok());
        let err = Token::new("s3cret with space".into()).check().unwrap_err();
        assert!(err.is_bad_request());
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(Token::new(String::new()).check().is_err());
    }
}
