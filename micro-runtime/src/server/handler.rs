//! Handlers: a user's implementation turned into routable endpoints.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::wrapper::{EndpointFn, HandlerRequest};
use crate::broker::Subscriber;
use crate::codec::{ContentType, MessageCodec};
use crate::endpoint::{
    CallKind, DynamicEndpoint, EndpointDescriptor, MethodOptions, TypedEndpoint,
};
use crate::schema::{MessageSchema, MessageSchemas, ProtoPackage};
use crate::streaming::{Receiver, Sender};
use crate::transport::IncomingBody;
use crate::{Context, Error, Result};

/// A set of endpoints served together, e.g. every method of `Greeter`.
///
/// Made by the `#[service]` macro (through [`IntoHandler`]) or by hand with
/// [`HandlerBuilder`].
pub struct Handler {
    pub(crate) endpoints: Vec<RoutedEndpoint>,
    pub(crate) subscribers: Vec<Subscriber>,
    schemas: MessageSchemas,
}

/// One endpoint of a handler, ready to route to.
#[derive(Clone)]
pub(crate) struct RoutedEndpoint {
    pub(crate) descriptor: EndpointDescriptor,
    pub(crate) run: EndpointFn,
    /// Internal endpoints (`Debug.*`) are served but not advertised.
    pub(crate) internal: bool,
}

impl Handler {
    /// The endpoints' descriptors.
    pub fn descriptors(&self) -> impl Iterator<Item = &EndpointDescriptor> {
        self.endpoints.iter().map(|e| &e.descriptor)
    }

    /// The subscribers it brings.
    pub fn subscribers(&self) -> &[Subscriber] {
        &self.subscribers
    }

    /// The JSON Schemas of its messages (what `Debug.Describe` reports).
    pub fn schemas(&self) -> &MessageSchemas {
        &self.schemas
    }

    /// Marks every endpoint internal: served, never advertised.
    pub(crate) fn internal(mut self) -> Self {
        for endpoint in &mut self.endpoints {
            endpoint.internal = true;
        }
        self
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field(
                "endpoints",
                &self
                    .endpoints
                    .iter()
                    .map(|e| e.descriptor.name)
                    .collect::<Vec<_>>(),
            )
            .field(
                "subscribers",
                &self
                    .subscribers
                    .iter()
                    .map(|s| s.topic())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Something a service can serve: implemented by `#[service]` for the
/// annotated type.
pub trait IntoHandler {
    /// The handler serving `self`.
    fn into_handler(self) -> Handler;
}

impl IntoHandler for Handler {
    fn into_handler(self) -> Handler {
        self
    }
}

/// Builds a [`Handler`] from typed functions over shared state `T`.
///
/// Generated code uses it; writing it by hand works too.
pub struct HandlerBuilder<T> {
    this: Arc<T>,
    options: Vec<MethodOptions>,
    endpoints: Vec<RoutedEndpoint>,
    subscribers: Vec<Subscriber>,
    schemas: MessageSchemas,
}

/// `text` as a `&'static str`, each distinct text allocated once for the
/// life of the process (dynamic endpoints' names and schemas).
fn intern(text: String) -> &'static str {
    static TEXTS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut texts = TEXTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = texts.iter().find(|t| **t == text) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.push(leaked);
    leaked
}

fn wrong_kind(descriptor: &EndpointDescriptor, streaming_call: bool) -> Error {
    let called = if streaming_call { "a stream" } else { "unary" };
    Error::bad_request(format!(
        "endpoint {} is {} but was called as {called}",
        descriptor.name,
        if descriptor.kind == CallKind::Unary {
            "unary"
        } else {
            "streaming"
        }
    ))
}

impl<T: Send + Sync + 'static> HandlerBuilder<T> {
    /// A builder serving `this`.
    pub fn new(this: T) -> Self {
        Self {
            this: Arc::new(this),
            options: Vec::new(),
            endpoints: Vec::new(),
            subscribers: Vec::new(),
            schemas: MessageSchemas::default(),
        }
    }

    /// Describes the messages of proto package `name` (generated code calls
    /// it): its encoded descriptor set and its messages' JSON Schemas by
    /// full type name.
    pub fn proto_package(
        mut self,
        name: &'static str,
        file_descriptor_set: &'static [u8],
        schemas: &'static [(&'static str, &'static str)],
    ) -> Self {
        let package = ProtoPackage {
            name,
            file_descriptor_set,
        };
        self.schemas.add_package(package, schemas);
        self
    }

    /// The JSON Schema of message type `type_name`, as endpoint descriptors
    /// name it.
    pub fn message_schema(
        mut self,
        type_name: impl Into<std::borrow::Cow<'static, str>>,
        schema: MessageSchema,
    ) -> Self {
        self.schemas.insert(type_name.into(), schema);
        self
    }

    /// Per-method options (from `#[micro(...)]`), applied to every endpoint.
    pub fn options(mut self, options: &[MethodOptions]) -> Self {
        self.options.extend_from_slice(options);
        self
    }

    fn push(&mut self, mut descriptor: EndpointDescriptor, run: EndpointFn) {
        for option in &self.options {
            option.apply(&mut descriptor);
        }
        self.endpoints.push(RoutedEndpoint {
            descriptor,
            run,
            internal: false,
        });
    }

    /// Adds a unary endpoint.
    pub fn unary<Req, Rsp, F, Fut>(mut self, endpoint: TypedEndpoint<Req, Rsp>, f: F) -> Self
    where
        Req: Send + 'static,
        Rsp: Send + 'static,
        F: Fn(Arc<T>, Context, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let this = self.this.clone();
        let TypedEndpoint {
            descriptor,
            request,
            response,
        } = endpoint;
        let run = move |req: HandlerRequest| -> BoxFuture<'static, Result<Option<Bytes>>> {
            let ct = req.content_type;
            let body = match req.body {
                IncomingBody::Unary(body) => body,
                IncomingBody::Stream { .. } => {
                    return Box::pin(std::future::ready(Err(wrong_kind(&descriptor, true))));
                }
            };
            let call = request
                .decode(ct, body)
                .map(|msg| f(this.clone(), req.ctx, msg));
            Box::pin(async move {
                let rsp = call?.await?;
                response.encode(ct, &rsp).map(Some)
            })
        };
        self.push(endpoint.descriptor, Arc::new(run));
        self
    }

    /// Adds a server-streaming endpoint: one request, responses sent on a
    /// [`Sender`].
    pub fn server_streaming<Req, Rsp, F, Fut>(
        mut self,
        endpoint: TypedEndpoint<Req, Rsp>,
        f: F,
    ) -> Self
    where
        Req: Send + 'static,
        Rsp: Send + 'static,
        F: Fn(Arc<T>, Context, Req, Sender<Rsp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let this = self.this.clone();
        let f = Arc::new(f);
        let TypedEndpoint {
            descriptor,
            request,
            response,
        } = endpoint;
        let run = move |req: HandlerRequest| -> BoxFuture<'static, Result<Option<Bytes>>> {
            let ct = req.content_type;
            let IncomingBody::Stream { mut rx, tx } = req.body else {
                return Box::pin(std::future::ready(Err(wrong_kind(&descriptor, false))));
            };
            let (this, f, ctx) = (this.clone(), f.clone(), req.ctx);
            Box::pin(async move {
                let first = rx.recv().await?.ok_or_else(|| {
                    Error::bad_request(format!(
                        "{}: stream ended before its request",
                        descriptor.name
                    ))
                })?;
                let msg = request.decode(ct, first)?;
                f(this, ctx, msg, Sender::new(tx, response, ct, false)).await?;
                Ok(None)
            })
        };
        self.push(endpoint.descriptor, Arc::new(run));
        self
    }

    /// Adds a client-streaming endpoint: requests from a [`Receiver`], one response.
    pub fn client_streaming<Req, Rsp, F, Fut>(
        mut self,
        endpoint: TypedEndpoint<Req, Rsp>,
        f: F,
    ) -> Self
    where
        Req: Send + 'static,
        Rsp: Send + 'static,
        F: Fn(Arc<T>, Context, Receiver<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let this = self.this.clone();
        let TypedEndpoint {
            descriptor,
            request,
            response,
        } = endpoint;
        let run = move |req: HandlerRequest| -> BoxFuture<'static, Result<Option<Bytes>>> {
            let ct = req.content_type;
            let IncomingBody::Stream { rx, .. } = req.body else {
                return Box::pin(std::future::ready(Err(wrong_kind(&descriptor, false))));
            };
            let call = f(this.clone(), req.ctx, Receiver::new(rx, request, ct));
            Box::pin(async move {
                let rsp = call.await?;
                response.encode(ct, &rsp).map(Some)
            })
        };
        self.push(endpoint.descriptor, Arc::new(run));
        self
    }

    /// Adds a bidirectional streaming endpoint.
    pub fn bidi<Req, Rsp, F, Fut>(mut self, endpoint: TypedEndpoint<Req, Rsp>, f: F) -> Self
    where
        Req: Send + 'static,
        Rsp: Send + 'static,
        F: Fn(Arc<T>, Context, Receiver<Req>, Sender<Rsp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let this = self.this.clone();
        let TypedEndpoint {
            descriptor,
            request,
            response,
        } = endpoint;
        let run = move |req: HandlerRequest| -> BoxFuture<'static, Result<Option<Bytes>>> {
            let ct = req.content_type;
            let IncomingBody::Stream { rx, tx } = req.body else {
                return Box::pin(std::future::ready(Err(wrong_kind(&descriptor, false))));
            };
            let call = f(
                this.clone(),
                req.ctx,
                Receiver::new(rx, request, ct),
                Sender::new(tx, response, ct, false),
            );
            Box::pin(async move {
                call.await?;
                Ok(None)
            })
        };
        self.push(endpoint.descriptor, Arc::new(run));
        self
    }

    /// Adds a unary endpoint known only at run time (a sidecar's, a proxy's):
    /// `f` gets the call's context, the body's content type and the encoded
    /// body, and answers the encoded response in the same content type. The
    /// registry advertises it and `Debug.Describe` reports its schemas (as
    /// types `<name>.Request` and `<name>.Response`).
    ///
    /// The names and schemas are kept for the life of the process (descriptors
    /// hold `&'static str`); each distinct text is kept once, so building the
    /// same endpoints again costs nothing more.
    ///
    /// # Examples
    ///
    /// ```
    /// use micro_runtime::endpoint::DynamicEndpoint;
    /// use micro_runtime::server::HandlerBuilder;
    ///
    /// let echo = HandlerBuilder::new(())
    ///     .dynamic_unary(DynamicEndpoint::new("Echo.Call"), |_ctx, _ct, body| async move { Ok(body) })
    ///     .build();
    /// assert_eq!(echo.descriptors().next().unwrap().name, "Echo.Call");
    /// ```
    pub fn dynamic_unary<F, Fut>(mut self, endpoint: DynamicEndpoint, f: F) -> Self
    where
        F: Fn(Context, ContentType, Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes>> + Send + 'static,
    {
        let name = intern(endpoint.name);
        let method = name.rsplit_once('.').map_or(name, |(_, m)| m);
        let mut descriptor = EndpointDescriptor::new(name, method, CallKind::Unary);
        descriptor.docs = intern(endpoint.docs);
        descriptor.request_type = intern(format!("{name}.Request"));
        descriptor.response_type = intern(format!("{name}.Response"));
        for (type_name, schema) in [
            (descriptor.request_type, endpoint.request_schema),
            (descriptor.response_type, endpoint.response_schema),
        ] {
            if let Some(schema) = schema {
                let text = MessageSchema::Text(intern(schema.to_string()));
                self.schemas.insert(type_name.into(), text);
            }
        }
        let run = move |req: HandlerRequest| -> BoxFuture<'static, Result<Option<Bytes>>> {
            match req.body {
                IncomingBody::Unary(body) => {
                    let call = f(req.ctx, req.content_type, body);
                    Box::pin(async move { call.await.map(Some) })
                }
                IncomingBody::Stream { .. } => {
                    Box::pin(std::future::ready(Err(wrong_kind(&descriptor, true))))
                }
            }
        };
        self.push(descriptor, Arc::new(run));
        self
    }

    /// Adds a subscriber of `topic` calling `f` with each decoded message
    /// (what `#[subscriber]` methods become). `configure` sets its options
    /// (queue group, concurrency, name).
    pub fn subscriber<M, F, Fut>(
        mut self,
        topic: &str,
        codec: MessageCodec<M>,
        f: F,
        configure: impl FnOnce(Subscriber) -> Subscriber,
    ) -> Self
    where
        M: Send + 'static,
        F: Fn(Arc<T>, Context, M) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let this = self.this.clone();
        let subscriber =
            Subscriber::with_codec(topic, codec, move |ctx, msg| f(this.clone(), ctx, msg));
        self.subscribers.push(configure(subscriber));
        self
    }

    /// The handler.
    pub fn build(self) -> Handler {
        Handler {
            endpoints: self.endpoints,
            subscribers: self.subscribers,
            schemas: self.schemas,
        }
    }
}
