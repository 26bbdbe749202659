//! The MCP server: rmcp's [`ServerHandler`] over the registry's services.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use micro_runtime::codec::ContentType;
use micro_runtime::debug::Describer;
use micro_runtime::endpoint::CallKind;
use micro_runtime::transport::RawReceiver;
use micro_runtime::{CallOptions, Client, Error};
use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext, SubscriptionSink};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::options::McpOptions;
use crate::tools::{self, Fingerprint, LeftOut, ToolEntry, ToolSet};

/// How long a broken registry watch waits before watching again.
const REWATCH: Duration = Duration::from_secs(1);

/// Every endpoint of every registered service as an MCP tool, called through a micro [`Client`] with the JSON codec.
///
/// Cheap to clone: clones share the tool list, the registry watch and the
/// connected peers (the Streamable HTTP transport makes one per session).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use micro_mcp::{McpOptions, McpServer};
///
/// let client = micro_runtime::Client::from_env()?;
/// let server = McpServer::new(client, McpOptions::default());
/// micro_mcp::serve_stdio(server).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    describer: Describer,
    options: McpOptions,
    /// The tools listed last; `None` until listed or after a change.
    tools: tokio::sync::Mutex<Option<Arc<ToolSet>>>,
    /// Peers told about tool list changes (sessions of protocol versions
    /// before 2026-07-28).
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// `subscriptions/listen` streams told about them (2026-07-28), by key.
    sinks: Mutex<Vec<(u64, SubscriptionSink)>>,
    /// The next sink's key.
    next_sink: std::sync::atomic::AtomicU64,
    /// The registry watch task runs.
    watching: AtomicBool,
    /// What the watch saw last.
    seen: Mutex<Option<Fingerprint>>,
    /// Cancelled to end the `subscriptions/listen` streams (a draining server).
    closing: CancellationToken,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// What [`McpServer::list`] finds: the tools, and the endpoints that are
/// not tools with why.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The tools, sorted by name.
    pub tools: Vec<Tool>,
    /// `(service, endpoint, reason)` of what is left out: services that
    /// did not describe themselves (with an empty endpoint).
    pub left_out: Vec<(String, String, String)>,
}

impl McpServer {
    /// A server whose tools are the services `client` finds, as `options`
    /// allows. Nothing is listed until a client asks.
    pub fn new(client: Client, options: McpOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                describer: Describer::new(client.clone()),
                client,
                options,
                tools: tokio::sync::Mutex::new(None),
                peers: Mutex::new(Vec::new()),
                sinks: Mutex::new(Vec::new()),
                next_sink: std::sync::atomic::AtomicU64::new(0),
                watching: AtomicBool::new(false),
                seen: Mutex::new(None),
                closing: CancellationToken::new(),
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &McpOptions {
        &self.inner.options
    }

    /// The tools now (as `tools/list` answers them) and the endpoints left out.
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be listed.
    pub async fn list(&self) -> micro_runtime::Result<Listing> {
        let set = self.tool_set(false).await?;
        Ok(Listing {
            tools: set.tools.iter().map(|t| t.tool.clone()).collect(),
            left_out: set
                .left_out
                .iter()
                .map(
                    |LeftOut {
                         service,
                         endpoint,
                         reason,
                     }| { (service.clone(), endpoint.clone(), reason.clone()) },
                )
                .collect(),
        })
    }

    /// Calls the tool `name` with `arguments`, as `tools/call` does. An RPC
    /// error is a result with `is_error` set, whose text is
    /// `<status> (<code>): <detail>` and whose `_meta` has the code.
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be listed; not found (404) when
    /// no tool has that name.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> micro_runtime::Result<CallToolResult> {
        self.call_with_progress(name, arguments, None).await
    }

    async fn call_with_progress(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
    ) -> micro_runtime::Result<CallToolResult> {
        let mut set = self.tool_set(false).await?;
        if set.get(name).is_none() {
            // The watch may not have told of a new service yet.
            set = self.tool_set(true).await?;
        }
        let Some(entry) = set.get(name) else {
            return Err(Error::not_found(format!("no tool named {name}")));
        };
        tracing::debug!(tool = name, endpoint = %entry.endpoint, "mcp: tool call");
        let arguments = arguments.unwrap_or_default();
        let result = match entry.kind {
            CallKind::Unary => self.unary(entry, Value::Object(arguments)).await,
            CallKind::ServerStreaming => {
                self.streamed(entry, vec![Value::Object(arguments)], progress)
                    .await
            }
            CallKind::ClientStreaming | CallKind::Bidi => match messages(arguments) {
                Ok(messages) => self.streamed(entry, messages, progress).await,
                Err(err) => failed(&err, None),
            },
        };
        Ok(result)
    }

    fn call_options(&self, entry: &ToolEntry) -> CallOptions {
        let mut options = CallOptions::new().idempotent(entry.idempotent);
        if let Some(timeout) = self.inner.options.timeout {
            options = options.timeout(timeout);
        }
        options
    }

    async fn unary(&self, entry: &ToolEntry, request: Value) -> CallToolResult {
        let answer = self
            .inner
            .client
            .call_raw(
                &entry.service,
                &entry.endpoint,
                ContentType::Json,
                request.to_string().into(),
                &self.call_options(entry),
            )
            .await;
        match answer {
            Ok(bytes) => response(json_or_text(&bytes)),
            Err(err) => failed(&err, None),
        }
    }

    /// A streaming call: sends `requests` in order and ends the request
    /// stream, while collecting what comes back (up to
    /// [`McpOptions::max_stream_items`] messages, with progress).
    async fn streamed(
        &self,
        entry: &ToolEntry,
        requests: Vec<Value>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
    ) -> CallToolResult {
        let opened = self
            .inner
            .client
            .stream_raw(
                &entry.service,
                &entry.endpoint,
                entry.kind,
                ContentType::Json,
                &self.call_options(entry),
            )
            .await;
        let (tx, mut rx) = match opened {
            Ok(halves) => halves,
            Err(err) => return failed(&err, None),
        };
        let writing = async {
            for request in requests {
                if tx.send(request.to_string().into()).await.is_err() {
                    // The server ended the call; the reader learns why.
                    return std::future::pending().await;
                }
            }
            tx.finish(Ok(()));
            std::future::pending::<Infallible>().await
        };
        let one = entry.kind == CallKind::ClientStreaming;
        let max = if one {
            1
        } else {
            self.inner.options.max_stream_items.max(1)
        };
        let reading = collect(&mut rx, max, if one { None } else { progress });
        // Reading decides the end: a stream cut at the limit stops the writer too.
        let collected = tokio::select! {
            collected = reading => collected,
            never = writing => match never {},
        };
        // Dropping the halves cancels a stream cut short.
        drop((tx, rx));
        match collected {
            Ok((items, _)) if one => match items.into_iter().next() {
                Some(item) => response(item),
                None => failed(
                    &Error::internal("the stream ended without a response"),
                    None,
                ),
            },
            Ok((items, truncated)) => {
                CallToolResult::structured(json!({"items": items, "truncated": truncated}))
            }
            Err((err, _)) if one => failed(&err, None),
            Err((err, items)) => failed(&err, Some(&items)),
        }
    }

    /// The tool set, listed anew when the registry changed (or `fresh`).
    async fn tool_set(&self, fresh: bool) -> micro_runtime::Result<Arc<ToolSet>> {
        self.start_watch();
        let mut cached = self.inner.tools.lock().await;
        if !fresh && let Some(set) = cached.as_ref() {
            return Ok(set.clone());
        }
        let set = Arc::new(
            tools::build(
                &self.inner.client,
                &self.inner.describer,
                &self.inner.options,
            )
            .await?,
        );
        *cached = Some(set.clone());
        // The watch's baseline, when it has none yet.
        self.inner
            .seen
            .lock()
            .unwrap()
            .get_or_insert_with(|| set.fingerprint.clone());
        Ok(set)
    }

    /// Starts the registry watch once: a service starting or stopping
    /// drops the cached tools and tells every peer the list changed.
    fn start_watch(&self) {
        if self.inner.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let client = self.inner.client.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut watcher) = client.watch(None).await {
                    // Changes made before the watch started count too.
                    if !Inner::check(&weak).await {
                        return;
                    }
                    loop {
                        let event = watcher.next().await;
                        if !Inner::check(&weak).await {
                            return;
                        }
                        if event.is_err() {
                            break;
                        }
                    }
                } else {
                    tracing::warn!("mcp: cannot watch the registry; retrying");
                }
                if weak.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(REWATCH).await;
            }
        });
    }

    /// Ends the `subscriptions/listen` streams, now and from now on, so an
    /// HTTP server can drain.
    pub(crate) fn end_subscriptions(&self) {
        self.inner.closing.cancel();
    }

    fn add_peer(&self, peer: Peer<RoleServer>) {
        let mut peers = self.inner.peers.lock().unwrap();
        peers.retain(|p| !p.is_transport_closed());
        peers.push(peer);
    }
}

impl Inner {
    /// Compares the registry with what was seen last; on a change, drops
    /// the cached tools and notifies the peers. False once the server is gone.
    async fn check(weak: &Weak<Inner>) -> bool {
        let Some(inner) = weak.upgrade() else {
            return false;
        };
        let Ok((now, _)) = tools::fingerprint(&inner.client, &inner.options).await else {
            return true;
        };
        let now_copy = now.clone();
        let changed = {
            let mut seen = inner.seen.lock().unwrap();
            let changed = seen.as_ref().is_some_and(|before| *before != now);
            if let Some(before) = seen.as_ref() {
                // A service whose endpoints changed may have kept its
                // version: describe it anew.
                for (name, endpoints) in before {
                    if now.get(name) != Some(endpoints) {
                        inner.describer.forget(name);
                    }
                }
            }
            *seen = Some(now.clone());
            changed
        };
        {
            let mut cached = inner.tools.lock().await;
            if cached
                .as_ref()
                .is_some_and(|set| set.fingerprint != now_copy)
            {
                *cached = None;
            }
        }
        if changed {
            let peers: Vec<_> = {
                let mut peers = inner.peers.lock().unwrap();
                peers.retain(|p| !p.is_transport_closed());
                peers.clone()
            };
            for peer in peers {
                if let Err(err) = peer.notify_tool_list_changed().await {
                    tracing::debug!("mcp: cannot notify a peer: {err}");
                }
            }
            let sinks: Vec<_> = inner.sinks.lock().unwrap().clone();
            for (_, sink) in sinks {
                if let Err(err) = sink.notify_tool_list_changed().await {
                    tracing::debug!("mcp: cannot notify a subscription: {err}");
                }
            }
        }
        true
    }
}

/// Receives up to `max` messages (the stream was `truncated` when it had
/// more), reporting progress to the peer that asked for it; on an error,
/// the error and what came before it.
async fn collect(
    rx: &mut RawReceiver,
    max: usize,
    progress: Option<(Peer<RoleServer>, ProgressToken)>,
) -> Result<(Vec<Value>, bool), (Error, Vec<Value>)> {
    let mut items = Vec::new();
    loop {
        match rx.recv().await {
            Ok(Some(_)) if items.len() == max => return Ok((items, true)),
            Ok(Some(bytes)) => {
                items.push(json_or_text(&bytes));
                if let Some((peer, token)) = &progress {
                    let mut note =
                        ProgressNotificationParam::new(token.clone(), items.len() as f64);
                    note.total = Some(max as f64);
                    note.message = Some(format!("{} messages", items.len()));
                    let _ = peer.notify_progress(note).await;
                }
            }
            Ok(None) => return Ok((items, false)),
            Err(err) => return Err((err, items)),
        }
    }
}

/// The request messages of a client or bidi streaming tool: the array
/// `messages` of its arguments.
fn messages(mut arguments: JsonObject) -> micro_runtime::Result<Vec<Value>> {
    match arguments.remove("messages") {
        Some(Value::Array(messages)) if arguments.is_empty() => Ok(messages),
        _ => Err(Error::bad_request(
            "the arguments of a streaming tool are {\"messages\": [request, ...]}",
        )),
    }
}

/// A response body as JSON, or as a JSON string when it is not JSON.
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The tool result of one response: structured when it is an object.
fn response(value: Value) -> CallToolResult {
    match value {
        value @ Value::Object(_) => CallToolResult::structured(value),
        Value::String(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        value => CallToolResult::success(vec![ContentBlock::text(value.to_string())]),
    }
}

/// The tool result of a failed call: `isError`, the error's line as text,
/// its fields in `_meta`, and what a stream sent before it failed.
fn failed(err: &Error, items: Option<&[Value]>) -> CallToolResult {
    let mut content = vec![ContentBlock::text(format!(
        "{} ({}): {}",
        err.status(),
        err.code(),
        err.detail()
    ))];
    if let Some(items) = items.filter(|i| !i.is_empty()) {
        content.push(ContentBlock::text(
            json!({"items": items, "truncated": false}).to_string(),
        ));
    }
    let mut result = CallToolResult::error(content);
    let mut meta = rmcp::model::MetaObject::new();
    meta.0.insert("code".into(), json!(err.code()));
    meta.0.insert("status".into(), json!(err.status()));
    meta.0.insert("detail".into(), json!(err.detail()));
    if !err.id().is_empty() {
        meta.0.insert("id".into(), json!(err.id()));
    }
    result.meta = Some(meta);
    result
}

/// A micro error as an MCP protocol error (only for what is not a call:
/// the registry cannot be listed, no such tool).
fn protocol_error(err: &Error) -> ErrorData {
    if err.is_not_found() {
        ErrorData::invalid_params(err.detail().to_owned(), None)
    } else {
        ErrorData::internal_error(
            format!("{} ({}): {}", err.status(), err.code(), err.detail()),
            None,
        )
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new(
            self.inner.options.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            "Each tool calls one endpoint of a running micro service. Arguments are the \
             request message in JSON (proto3 JSON mapping); the result is the response.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let _ = context;
        let set = self.tool_set(false).await.map_err(|e| protocol_error(&e))?;
        Ok(ListToolsResult::with_all_items(
            set.tools.iter().map(|t| t.tool.clone()).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (context.peer.clone(), token));
        self.call_with_progress(&request.name, request.arguments, progress)
            .await
            .map(CallToolResponse::from)
            .map_err(|e| protocol_error(&e))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // rmcp keeps only what was requested and advertised: tools/list_changed.
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.start_watch();
        let key = self.inner.next_sink.fetch_add(1, Ordering::Relaxed);
        self.inner
            .sinks
            .lock()
            .unwrap()
            .push((key, context.sink().clone()));
        tokio::select! {
            () = context.cancelled() => {}
            () = self.inner.closing.cancelled() => {}
        }
        self.inner.sinks.lock().unwrap().retain(|(k, _)| *k != key);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.add_peer(context.peer);
        self.start_watch();
    }
}
