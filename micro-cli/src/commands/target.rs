//! What `call`, `stream` and the dynamic form call: the service and
//! endpoint the user named, resolved against the registry (or the node at
//! `--address`), with the endpoint's kind and schemas when it describes
//! itself.

use micro_runtime::CallOptions;
use micro_runtime::client::resolve;
use micro_runtime::debug::{EndpointDescription, ServiceDescription};
use micro_runtime::endpoint::CallKind;
use serde_json::Value;

use crate::args::CallFlags;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

/// A resolved endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) service: String,
    pub(crate) endpoint: String,
    pub(crate) kind: CallKind,
    /// The endpoint as the service describes it (none when it does not).
    pub(crate) described: Option<EndpointDescription>,
}

impl Target {
    /// The request's JSON Schema, when known.
    pub(crate) fn request_schema(&self) -> Option<Value> {
        let text = &self.described.as_ref()?.request_schema;
        serde_json::from_str(text).ok()
    }
}

/// The full name of the service `wanted` names (exact or unique suffix).
///
/// # Errors
///
/// 404 with close names; 400 when ambiguous; the registry's error.
pub(crate) async fn service_name(session: &Session, wanted: &str) -> Outcome<String> {
    Ok(session.client()?.resolve_service(wanted).await?)
}

/// Resolves `service` and `endpoint` as `flags` say (discovery, or the
/// node at `--address`).
///
/// # Errors
///
/// 404 for an unknown service or endpoint (with what there is); the
/// registry's error when it cannot be reached.
pub(crate) async fn resolve(
    session: &Session,
    service: &str,
    endpoint: &str,
    flags: &CallFlags,
) -> Outcome<Target> {
    let describer = session.describer()?;
    if let Some(address) = &flags.address {
        // No discovery: the names are taken as given, and the node says
        // what it serves if it can.
        let description = describer.describe_node(service, address).await.ok();
        let Some(description) = description else {
            return Ok(Target {
                service: service.to_owned(),
                endpoint: endpoint.to_owned(),
                kind: CallKind::Unary,
                described: None,
            });
        };
        return in_description(service, endpoint, &description);
    }
    let client = session.client()?;
    let service = service_name(session, service).await?;
    let versions: Vec<_> = client
        .services()
        .await?
        .into_iter()
        .filter(|s| s.name == service)
        .filter(|s| {
            flags
                .service_version
                .as_ref()
                .is_none_or(|v| *v == s.version)
        })
        .collect();
    if versions.is_empty() {
        let wanted = flags.service_version.as_deref().unwrap_or_default();
        return Err(Failure::not_found(format!(
            "service {service:?} has no nodes of version {wanted:?}"
        )));
    }
    let mut names: Vec<String> = versions
        .iter()
        .flat_map(|s| s.endpoints.iter().map(|e| e.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    let endpoint = resolve::endpoint(&service, endpoint, &names)?.to_owned();
    let kind = versions
        .iter()
        .flat_map(|s| &s.endpoints)
        .find(|e| e.name == endpoint)
        .and_then(|e| e.metadata.get("stream"))
        .and_then(|kind| CallKind::parse(kind))
        .unwrap_or(CallKind::Unary);
    // The newest version's description (services that cannot describe
    // themselves are still called, without checks).
    let described = match versions.last() {
        Some(newest) => describer
            .describe_version(&service, &newest.version)
            .await
            .ok()
            .and_then(|d| d.endpoints.iter().find(|e| e.name == endpoint).cloned()),
        None => None,
    };
    Ok(Target {
        service,
        endpoint,
        kind,
        described,
    })
}

fn in_description(
    service: &str,
    endpoint: &str,
    description: &ServiceDescription,
) -> Outcome<Target> {
    let names: Vec<String> = description
        .endpoints
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let described = match resolve::endpoint(service, endpoint, &names) {
        Ok(name) => description.endpoints.iter().find(|e| e.name == name),
        // `Debug.*` endpoints are served but not described.
        Err(_) if endpoint.starts_with("Debug.") => None,
        Err(err) => return Err(err.into()),
    };
    Ok(Target {
        service: service.to_owned(),
        endpoint: described.map_or_else(|| endpoint.to_owned(), |e| e.name.clone()),
        kind: described
            .and_then(|e| CallKind::parse(&e.kind))
            .unwrap_or(CallKind::Unary),
        described: described.cloned(),
    })
}

/// The call options `flags` ask for.
pub(crate) fn call_options(flags: &CallFlags) -> CallOptions {
    let mut options = CallOptions::new();
    for (key, value) in &flags.metadata {
        options = options.metadata(key, value.clone());
    }
    if let Some(timeout) = flags.timeout {
        options = options.timeout(timeout);
    }
    if let Some(address) = &flags.address {
        options = options.address(address.clone());
    }
    if let Some(version) = &flags.service_version {
        options = options.version(version.clone());
    }
    if let Some(retries) = flags.retries {
        options = options.retries(retries);
    }
    options
}

/// Parses `text` as one JSON request.
///
/// # Errors
///
/// 400 saying where the JSON breaks.
pub(crate) fn parse_request(text: &str, what: &str) -> Outcome<Value> {
    serde_json::from_str(text)
        .map_err(|e| Failure::bad_request(format!("{what} is not valid JSON: {e}")))
}
