//! Bearer-token authentication: every route but `/health` wants
//! `Authorization: Bearer <token>`, compared in constant time.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;
use subtle::{Choice, ConstantTimeEq};

use crate::failure::Failure;

/// The one path served without a token: load balancers and probes.
const OPEN: &str = "/health";

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

/// Passes requests that present the token (the header is then removed:
/// it is the gateway's credential, not the services'), and `/health`;
/// answers 401 with `WWW-Authenticate: Bearer` otherwise.
pub(crate) async fn require_token(
    State(token): State<Token>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == OPEN {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| bearer(value).map(|t| token.matches(t)));
    let (detail, challenge) = match presented {
        Some(Some(true)) => {
            request.headers_mut().remove(header::AUTHORIZATION);
            return next.run(request).await;
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
