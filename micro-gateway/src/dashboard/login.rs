//! Signing a browser in: the token typed once into a form becomes an
//! `HttpOnly`, `SameSite=Strict` cookie the gateway's token check accepts
//! (see `auth.rs`), because a browser cannot send a bearer header when it
//! follows a link.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::Bytes;
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::Dashboard;
use super::pages::Frame;
use crate::auth::COOKIE;

/// The sign-in page.
pub(crate) const PATH: &str = "/login";

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    frame: Frame,
    next: String,
    error: Option<&'static str>,
}

/// `?next=`: where to go once signed in.
#[derive(Debug, Deserialize)]
pub(super) struct Next {
    #[serde(default)]
    next: String,
}

/// Only a path of this site: `/...`, never `//host` or a URL.
fn local_path(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn page(dashboard: &Dashboard, next: &str, error: Option<&'static str>) -> Response {
    let page = LoginPage {
        frame: Frame::new(dashboard, "login"),
        next: local_path(next),
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// `GET /login`: the form (straight to `next` when no token is wanted).
pub(super) async fn form(
    State(dashboard): State<Arc<Dashboard>>,
    Query(next): Query<Next>,
) -> Response {
    if dashboard.gateway.options.token.is_none() {
        return Redirect::to(&local_path(&next.next)).into_response();
    }
    page(&dashboard, &next.next, None)
}

/// `POST /login` with `token` and `next` (a form): the cookie and a
/// redirect to `next`, or the form again with 401.
pub(super) async fn submit(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut token = String::new();
    let mut next = String::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match &*key {
            "token" => token = value.into_owned(),
            "next" => next = value.into_owned(),
            _ => {}
        }
    }
    let Some(expected) = &dashboard.gateway.options.token else {
        return Redirect::to(&local_path(&next)).into_response();
    };
    let token = token.trim();
    if !expected.matches(token.as_bytes()) {
        return page(&dashboard, &next, Some("That is not the gateway's token."));
    }
    let cookie = Cookie::build((COOKIE, token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(behind_https(&headers))
        .build();
    with_cookie(Redirect::to(&local_path(&next)), &cookie)
}

/// `POST /logout`: the cookie removed, back to the sign-in page.
pub(super) async fn logout() -> Response {
    let mut cookie = Cookie::build((COOKIE, "")).path("/").build();
    cookie.make_removal();
    with_cookie(Redirect::to(PATH), &cookie)
}

/// A page load without the token: to the sign-in page with `next`.
pub(super) fn redirect_to_sign_in(uri: &Uri) -> Response {
    let back = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    Redirect::to(&format!("{PATH}?next={next}")).into_response()
}

/// True when a proxy says the browser came over HTTPS: the cookie is then
/// only ever sent over HTTPS.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn with_cookie(redirect: Redirect, cookie: &Cookie<'_>) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path("/services/a?b=1"), "/services/a?b=1");
        for outside in [
            "//evil.example",
            "https://evil.example",
            "evil",
            "/\\evil",
            "",
        ] {
            assert_eq!(local_path(outside), "/", "{outside}");
        }
    }
}
