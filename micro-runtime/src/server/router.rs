//! The router: `Greeter.Hello` -> handler, behind the wrapper chain, with the
//! caller's deadline enforced and panics contained.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::handler::RoutedEndpoint;
use super::wrapper::{HandlerRequest, HandlerResponse};
use crate::chain::Chain;
use crate::endpoint::CallKind;
use crate::error::panic_text;
use crate::transport::{Dispatcher, IncomingBody, IncomingCall};
use crate::{Context, Error, Result};

/// Routes calls of one service to its endpoints.
pub(crate) struct Router {
    service: Arc<str>,
    endpoints: HashMap<&'static str, RoutedEndpoint>,
    chain: Chain<HandlerRequest, HandlerResponse>,
}

impl Router {
    /// A router; a later endpoint with the name of an earlier one is an error.
    pub(crate) fn new(
        service: Arc<str>,
        endpoints: impl IntoIterator<Item = RoutedEndpoint>,
        chain: Chain<HandlerRequest, HandlerResponse>,
    ) -> Result<Self> {
        let mut map = HashMap::new();
        for endpoint in endpoints {
            let name = endpoint.descriptor.name;
            if map.insert(name, endpoint).is_some() {
                return Err(Error::conflict(format!(
                    "endpoint {name} is registered twice on {service}"
                )));
            }
        }
        Ok(Self {
            service,
            endpoints: map,
            chain,
        })
    }

    fn fail(&self, err: Error) -> BoxFuture<'static, Result<Option<Bytes>>> {
        let err = err.with_id(self.service.to_string());
        Box::pin(std::future::ready(Err(err)))
    }
}

impl Dispatcher for Router {
    fn service(&self) -> Option<&str> {
        Some(&self.service)
    }

    fn dispatch(&self, call: IncomingCall) -> BoxFuture<'static, Result<Option<Bytes>>> {
        let IncomingCall { head, body } = call;
        if *head.service != *self.service {
            return self.fail(Error::not_found(format!(
                "service {} not found (this node serves {})",
                head.service, self.service
            )));
        }
        let Some(endpoint) = self.endpoints.get(&*head.endpoint) else {
            return self.fail(Error::not_found(format!(
                "endpoint {} not found on service {}",
                head.endpoint, self.service
            )));
        };
        let descriptor = endpoint.descriptor;
        let streaming_call = matches!(body, IncomingBody::Stream { .. });
        if streaming_call != (descriptor.kind != CallKind::Unary) {
            return self.fail(Error::bad_request(format!(
                "endpoint {} is {} but was called as {}",
                descriptor.name,
                descriptor.kind.as_str(),
                if streaming_call { "a stream" } else { "unary" }
            )));
        }
        let timeout = match (head.timeout, descriptor.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut ctx = Context::new().with_metadata_map(head.metadata);
        if let Some(deadline) = deadline {
            ctx = ctx.with_deadline(deadline);
        }
        let request = HandlerRequest {
            ctx: ctx.clone(),
            service: self.service.clone(),
            endpoint: descriptor,
            content_type: head.content_type,
            body,
        };
        let (chain, run) = (self.chain.clone(), endpoint.run.clone());
        // Everything the handler does, even building its future, runs inside
        // the panic guard and with the request's context current.
        let handled = AssertUnwindSafe(ctx.scope(async move { chain.run(request, &run).await }))
            .catch_unwind();
        let service = self.service.clone();
        Box::pin(async move {
            let outcome = match deadline {
                None => handled.await,
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), handled).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        // Dropping the handler's future cancels its work.
                        return Err(Error::timeout(format!(
                            "{} did not finish within the caller's deadline",
                            descriptor.name
                        ))
                        .with_id(service.to_string()));
                    }
                },
            };
            match outcome {
                Ok(result) => result.map_err(|e| e.or_id(&service)),
                Err(panic) => {
                    let why = panic_text(&*panic);
                    tracing::error!(endpoint = descriptor.name, panic = why, "handler panicked");
                    Err(
                        Error::internal(format!("{} panicked: {why}", descriptor.name))
                            .with_id(service.to_string()),
                    )
                }
            }
        })
    }
}
