//! The pages, rendered on the server from the askama templates in
//! `templates/dashboard/` (compiled into the binary and checked at build
//! time, HTML-escaped by default).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::Dashboard;
use super::listing::{self, ServiceRow};
use super::service::{self, EndpointView, ServiceView};

/// What every page's frame needs.
pub(super) struct Frame {
    /// Which entry of the navigation is current.
    pub(super) current: &'static str,
    /// The gateway wants a token: the page offers to sign out, and copied
    /// curl commands carry the header.
    pub(super) signed_in: bool,
}

impl Frame {
    pub(super) fn new(dashboard: &Dashboard, current: &'static str) -> Self {
        Self {
            current,
            signed_in: dashboard.gateway.options.token.is_some(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/services.html")]
struct ServicesPage {
    frame: Frame,
    rows: Vec<ServiceRow>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/service.html")]
struct ServicePage {
    frame: Frame,
    service: ServiceView,
    /// The endpoints and the gateway's settings for the script, as JSON
    /// safe inside a `<script>` element.
    data: String,
}

#[derive(Template)]
#[template(path = "dashboard/events.html")]
struct EventsPage {
    frame: Frame,
    topic: String,
}

#[derive(Template)]
#[template(path = "dashboard/missing.html")]
struct MissingPage {
    frame: Frame,
    name: String,
    detail: String,
}

/// What the service page's script reads.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScriptData<'a> {
    service: &'a str,
    endpoints: &'a [EndpointView],
    token: bool,
}

/// A rendered page, or a plain 500 saying the template failed.
fn html(page: Result<String, askama::Error>, status: StatusCode) -> Response {
    match page {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("the dashboard could not render this page: {error}"),
        )
            .into_response(),
    }
}

/// `GET /`: the services list.
pub(super) async fn services(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let (rows, error) = match listing::rows(&dashboard.gateway.client, &dashboard.health).await {
        Ok(rows) => (rows, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    let page = ServicesPage {
        frame: Frame::new(&dashboard, "services"),
        rows,
        error,
    };
    html(page.render(), StatusCode::OK)
}

/// `GET /services/{name}`: one service; 404 with a page when it has no
/// running node.
pub(super) async fn service(
    State(dashboard): State<Arc<Dashboard>>,
    Path(name): Path<String>,
) -> Response {
    let gateway = &dashboard.gateway;
    match service::view(
        &gateway.client,
        &gateway.describer,
        &dashboard.health,
        &name,
    )
    .await
    {
        Ok(service) => {
            let data = ScriptData {
                service: &service.name,
                endpoints: &service.endpoints,
                token: gateway.options.token.is_some(),
            };
            let data = script_json(&serde_json::to_string(&data).unwrap_or_default());
            let page = ServicePage {
                frame: Frame::new(&dashboard, "services"),
                service,
                data,
            };
            html(page.render(), StatusCode::OK)
        }
        Err(error) => {
            let status = crate::failure::http_status(error.code());
            let page = MissingPage {
                frame: Frame::new(&dashboard, "services"),
                name,
                detail: error.to_string(),
            };
            html(page.render(), status)
        }
    }
}

/// `GET /events`: publish to a topic, tail a topic.
pub(super) async fn events(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let page = EventsPage {
        frame: Frame::new(&dashboard, "events"),
        topic: String::new(),
    };
    html(page.render(), StatusCode::OK)
}

/// JSON made safe inside a `<script>` element: `<`, `>` and `&` escaped
/// as JSON's `\u` forms, so no `</script>` can end it early.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script() {
        let text = script_json(r#"{"docs":"</script><b>&"}"#);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["docs"], "</script><b>&");
    }
}
