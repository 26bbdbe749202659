//! The limit: a bare axum handler in one process that decodes the same
//! JSON request (`{"name":"John"}`) and answers the same greeting
//! (`{"greeting":"Hello John"}`) as the gateway in front of the greeter.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::payload;

/// The path it answers on.
pub const PATH: &str = "/hello";

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    greeting: String,
}

/// The router: `POST /hello`.
pub fn router() -> Router {
    Router::new().route(PATH, post(hello))
}

async fn hello(body: Bytes) -> Response {
    match serde_json::from_slice::<Request>(&body) {
        Ok(request) => {
            let greeting = Greeting {
                greeting: payload::greeting(&request.name),
            };
            match serde_json::to_vec(&greeting) {
                Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
            }
        }
        Err(err) => (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    }
}
