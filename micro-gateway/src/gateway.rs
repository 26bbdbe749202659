//! The state every route shares, and the steps of a call: resolve the
//! target, check access, call, answer.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::debug::Describer;
use micro_runtime::endpoint::CallKind;
use micro_runtime::{CallOptions, Client, Error};
use serde_json::Value;

use crate::GatewayOptions;
use crate::catalog::{Catalog, Snapshot};
use crate::limits::in_flight::InFlight;
use crate::resolve::{self, Wanted};
use crate::web::proxy::Proxy;

/// What the routes share.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) client: Client,
    pub(crate) options: GatewayOptions,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) describer: Describer,
    /// The calls in flight per service.
    pub(crate) in_flight: Arc<InFlight>,
    /// The web apps' HTTP client.
    pub(crate) proxy: Proxy,
}

/// A resolved endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) service: String,
    pub(crate) endpoint: String,
    pub(crate) kind: CallKind,
    /// The newest registered version (none for a node called by address).
    pub(crate) version: Option<String>,
}

impl Gateway {
    /// A gateway calling through `client`.
    pub(crate) fn new(client: Client, options: GatewayOptions) -> Arc<Self> {
        Arc::new(Self {
            catalog: Catalog::new(client.clone()),
            describer: Describer::new(
                options
                    .describe_client
                    .clone()
                    .unwrap_or_else(|| client.clone()),
            ),
            in_flight: InFlight::new(options.max_concurrent),
            proxy: Proxy::default(),
            client,
            options,
        })
    }

    /// The registered endpoint `wanted` names, if the gateway may call it.
    ///
    /// # Errors
    ///
    /// 404 naming what was looked for; 503 for a service whose nodes all
    /// left; 403 for a denied endpoint; the registry's error.
    pub(crate) async fn target(&self, wanted: &Wanted) -> Result<Target, Error> {
        let namespace = &self.options.namespace;
        let mut snapshot = self.catalog.snapshot().await?;
        let service = match resolve::service(&wanted.service, namespace, snapshot.live()) {
            Ok(found) => found.to_owned(),
            Err(_) => {
                // It may have started a moment ago: ask the registry.
                snapshot = self.catalog.relisted().await?;
                self.find_service(&snapshot, wanted)?
            }
        };
        let entry = &snapshot.services[&service];
        let endpoint =
            match resolve::endpoint(&service, wanted, entry.endpoints.keys().map(String::as_str)) {
                Ok(found) => found.to_owned(),
                // Served by every node but never advertised.
                Err(_) if wanted.exact && wanted.endpoint.starts_with("Debug.") => {
                    wanted.endpoint.clone()
                }
                Err(err) => return Err(err),
            };
        self.options.access.check(&service, &endpoint)?;
        Ok(Target {
            kind: entry
                .endpoints
                .get(&endpoint)
                .copied()
                .unwrap_or(CallKind::Unary),
            version: entry.versions.last().cloned(),
            service,
            endpoint,
        })
    }

    /// The live service `wanted` names in a fresh snapshot, or why none.
    fn find_service(&self, snapshot: &Snapshot, wanted: &Wanted) -> Result<String, Error> {
        let namespace = &self.options.namespace;
        match resolve::service(&wanted.service, namespace, snapshot.live()) {
            Ok(found) => Ok(found.to_owned()),
            Err(err) => {
                let seen = self.catalog.seen_names();
                match resolve::service(&wanted.service, namespace, seen.iter().map(String::as_str))
                {
                    Ok(gone) => Err(Error::unavailable(format!(
                        "service {gone:?} has no running nodes"
                    ))),
                    _ => Err(err),
                }
            }
        }
    }

    /// The JSON Schema of `target`'s request, when its service describes
    /// itself.
    pub(crate) async fn request_schema(&self, target: &Target) -> Option<Value> {
        let version = target.version.as_deref()?;
        let description = self
            .describer
            .describe_version(&target.service, version)
            .await
            .ok()?;
        let endpoint = description
            .endpoints
            .iter()
            .find(|e| e.name == target.endpoint)?;
        serde_json::from_str(&endpoint.request_schema).ok()
    }

    /// Calls `target` with the JSON `body`.
    ///
    /// # Errors
    ///
    /// 501 for a streaming endpoint (`/rpc`; `/api` streams them); the
    /// call's error.
    pub(crate) async fn call(
        &self,
        target: &Target,
        body: Bytes,
        options: &CallOptions,
    ) -> Result<Response, Error> {
        if target.kind != CallKind::Unary {
            return Err(Error::new(
                501,
                format!(
                    "{}/{} is a streaming endpoint ({}); call it at /api/{}/{} \
                     (Server-Sent Events, JSON lines or WebSocket)",
                    target.service,
                    target.endpoint,
                    target.kind.as_str(),
                    target.service,
                    target.endpoint
                ),
            ));
        }
        let _slot = self.in_flight.enter(&target.service)?;
        let response = self
            .client
            .call_raw(
                &target.service,
                &target.endpoint,
                ContentType::Json,
                body,
                options,
            )
            .await?;
        Ok(([(header::CONTENT_TYPE, "application/json")], response).into_response())
    }
}
