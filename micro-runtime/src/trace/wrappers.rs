//! The wrappers that put every call and delivery in a span, and the hook
//! that does it for publishing.

use futures_util::future::BoxFuture;
use tracing::{Instrument, Span};

use super::span::{self, Side};
use super::{propagation, sampler};
use crate::broker::wrapper::{SubscriberNext, SubscriberRequest};
use crate::chain::Wrapper;
use crate::client::publish::PublishHook;
use crate::client::wrapper::{ClientNext, ClientRequest, ClientResponse};
use crate::server::wrapper::{HandlerNext, HandlerRequest, HandlerResponse};
use crate::{Context, Result};

/// Serves each request in a server span, child of the caller's span (the
/// request's `traceparent`); the handler's context names the server span,
/// so the calls and events it makes are its children. A request the
/// sampler leaves out gets a plain span (for log lines) and passes its
/// trace on marked as not sampled.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceHandler;

impl Wrapper<HandlerRequest, HandlerResponse> for TraceHandler {
    fn call(
        &self,
        mut req: HandlerRequest,
        next: HandlerNext,
    ) -> BoxFuture<'static, Result<HandlerResponse>> {
        let sampled = receiving(req.context_mut());
        let span = span::server(req.service(), req.endpoint().name, sampled == Sampled::Yes);
        if sampled != Sampled::Yes {
            let ctx = (sampled == Sampled::NoAndMarked).then(|| req.context().clone());
            return unsampled(span, ctx, next.run(req));
        }
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

/// Whether what `ctx` received (a request, a message) is recorded, as the
/// sampler decides from its `traceparent`; if not, the trace it passes on
/// is marked as not sampled.
fn receiving(ctx: &mut Context) -> Sampled {
    if !sampler::installed() {
        return Sampled::Yes;
    }
    if sampler::follows_parents() && propagation::says_unsampled(ctx.metadata()) {
        return Sampled::No;
    }
    let parent = propagation::parse(ctx.metadata());
    match sampler::decide(parent.map(|p| (p.sampled(), p.low_bits()))) {
        true => Sampled::Yes,
        false if propagation::mark_unsampled(ctx.metadata_mut(), parent) => Sampled::NoAndMarked,
        false => Sampled::No,
    }
}

/// What the sampler decided about a request or delivery.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sampled {
    Yes,
    /// Not recorded, as its `traceparent` said already.
    No,
    /// Not recorded, and its context's `traceparent` rewritten to say so.
    NoAndMarked,
}

/// Whether what is sent with `ctx` (a call, an event) is recorded: as the
/// current traced span decided, else as the sampler decides from the
/// context's `traceparent`. The first part is whether the current span is
/// traced.
fn sending(ctx: &mut Context) -> (bool, bool) {
    if !sampler::installed() {
        return (true, false);
    }
    let current = propagation::current_parent();
    let remote = match current {
        Some(_) => None,
        None => propagation::parse(ctx.metadata()),
    };
    let sampled = sampler::decide(current.or(remote.map(|p| (p.sampled(), p.low_bits()))));
    if !sampled && current.is_none() {
        propagation::mark_unsampled(ctx.metadata_mut(), remote);
    }
    (sampled, current.is_some())
}

/// Runs `work` (a request or delivery the sampler left out) in its plain
/// span, if any layer wants it, and in `ctx` when its metadata were
/// rewritten (spans of the user's own inside it read the decision there:
/// see the SDK sampler in [`sampler`]).
fn unsampled<T: Send + 'static>(
    span: Span,
    ctx: Option<Context>,
    work: BoxFuture<'static, Result<T>>,
) -> BoxFuture<'static, Result<T>> {
    let work: BoxFuture<'static, Result<T>> = match ctx {
        Some(ctx) => Box::pin(ctx.scope(work)),
        None => work,
    };
    if span.is_disabled() {
        return work;
    }
    Box::pin(async move {
        let outcome = work.instrument(span.clone()).await;
        span::finish(&span, Side::Server, &outcome);
        outcome
    })
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
        let (sampled, in_trace) = sending(req.context_mut());
        let span = span::client(req.service(), req.endpoint(), sampled);
        if span.is_disabled() {
            return next.run(req);
        }
        if sampled {
            propagation::join(&span, req.context_mut().metadata_mut(), in_trace);
        }
        // Not entered while the call runs: nothing in it logs or makes
        // spans that need it current, and each poll would pay for it.
        Box::pin(async move {
            let outcome = next.run(req).await;
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
        let sampled = receiving(req.context_mut());
        let recorded = sampled == Sampled::Yes;
        let span = span::deliver(req.topic(), req.subscriber(), req.redelivered(), recorded);
        if !recorded {
            let ctx = (sampled == Sampled::NoAndMarked).then(|| req.context().clone());
            return unsampled(span, ctx, next.run(req));
        }
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
        let (sampled, in_trace) = sending(ctx);
        let span = span::publish(broker, topic, sampled);
        if sampled && !span.is_disabled() {
            propagation::join(&span, ctx.metadata_mut(), in_trace);
        }
        span
    }

    fn published(&self, span: &Span, outcome: &Result<()>) {
        span::finish(span, Side::Client, outcome);
    }
}
