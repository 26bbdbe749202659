//! `GET /openapi.json`: the OpenAPI 3.1 document of the services
//! registered now (their newest versions).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;

use crate::failure::Failure;
use crate::gateway::Gateway;
use crate::openapi;

/// Describes every live service (descriptions are cached per version)
/// and answers the document.
pub(super) async fn get(State(gateway): State<Arc<Gateway>>) -> Result<Response, Failure> {
    let snapshot = gateway.catalog.snapshot().await?;
    let newest: Vec<(&str, &str)> = snapshot
        .services
        .iter()
        .filter(|(_, entry)| entry.nodes > 0)
        .filter_map(|(name, entry)| Some((name.as_str(), entry.versions.last()?.as_str())))
        .collect();
    let answers = join_all(
        newest
            .iter()
            .map(|(name, version)| gateway.describer.describe_version(name, version)),
    )
    .await;
    let mut described = Vec::new();
    let mut undescribed = Vec::new();
    for ((name, _), answer) in newest.iter().zip(answers) {
        match answer {
            Ok(description) => described.push(description),
            Err(_) => undescribed.push((*name).to_owned()),
        }
    }
    let services: Vec<_> = described.iter().map(|d| &**d).collect();
    let document = openapi::document(&services, &undescribed, &gateway.options.access);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response())
}
