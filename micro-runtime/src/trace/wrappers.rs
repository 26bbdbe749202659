//! The wrappers that put every call and delivery in a span, and the hook
//! that does it for publishing.

use futures_util::future::BoxFuture;
use tracing::{Instrument, Span};

use super::propagation;
use super::span::{self, Side};
use crate::broker::wrapper::{SubscriberNext, SubscriberRequest};
use crate::chain::Wrapper;
use crate::client::publish::PublishHook;
use crate::client::wrapper::{ClientNext, ClientRequest, ClientResponse};
use crate::server::wrapper::{HandlerNext, HandlerRequest, HandlerResponse};
use crate::{Context, Result};

/// Serves each request in a server span, child of the caller's span (the
/// request's `traceparent`); the handler's context names the server span,
/// so the calls and events it makes are its children.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceHandler;

impl Wrapper<HandlerRequest, HandlerResponse> for TraceHandler {
    fn call(
        &self,
        mut req: HandlerRequest,
        next: HandlerNext,
    ) -> BoxFuture<'static, Result<HandlerResponse>> {
        let span = span::server(req.service(), req.endpoint().name);
        if span.is_disabled() {
            return next.run(req);
        }
        let ctx = enter_from_remote(&span, req.context_mut());
        Box::pin(async move {
            let outcome = ctx.scope(next.run(req)).instrument(span.clone()).await;
            span::finish(&span, Side::Server, &outcome);
            outcome
        })
    }
}

/// Makes `span` the child of the remote parent `ctx` names and `ctx` name
/// `span`; returns the context to make current while the span runs.
fn enter_from_remote(span: &Span, ctx: &mut Context) -> Context {
    propagation::continue_from(span, ctx.metadata());
    propagation::inject(span, ctx.metadata_mut());
    ctx.clone()
}

/// Makes each outgoing call in a client span, child of the current span
/// (the handler's server span while handling a request), and sends its
/// position as the call's `traceparent`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceClient;

impl Wrapper<ClientRequest, ClientResponse> for TraceClient {
    fn call(
        &self,
        mut req: ClientRequest,
        next: ClientNext,
    ) -> BoxFuture<'static, Result<ClientResponse>> {
        let span = span::client(req.service(), req.endpoint());
        if span.is_disabled() {
            return next.run(req);
        }
        propagation::join(&span, req.context_mut().metadata_mut());
        Box::pin(async move {
            let outcome = next.run(req).instrument(span.clone()).await;
            span::finish(&span, Side::Client, &outcome);
            outcome
        })
    }
}

/// Handles each delivered message in a consumer span, child of the
/// publisher's span (the message's `traceparent` header).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceSubscriber;

impl Wrapper<SubscriberRequest, ()> for TraceSubscriber {
    fn call(
        &self,
        mut req: SubscriberRequest,
        next: SubscriberNext,
    ) -> BoxFuture<'static, Result<()>> {
        let span = span::deliver(req.topic(), req.subscriber(), req.redelivered());
        if span.is_disabled() {
            return next.run(req);
        }
        let ctx = enter_from_remote(&span, req.context_mut());
        Box::pin(async move {
            let outcome = ctx.scope(next.run(req)).instrument(span.clone()).await;
            span::finish(&span, Side::Server, &outcome);
            outcome
        })
    }
}

/// Publishes each event in a producer span whose position the event's
/// `traceparent` header carries.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TracePublish;

impl PublishHook for TracePublish {
    fn publish(&self, broker: &str, topic: &str, ctx: &mut Context) -> Span {
        let span = span::publish(broker, topic);
        if !span.is_disabled() {
            propagation::join(&span, ctx.metadata_mut());
        }
        span
    }

    fn published(&self, span: &Span, outcome: &Result<()>) {
        span::finish(span, Side::Client, outcome);
    }
}
