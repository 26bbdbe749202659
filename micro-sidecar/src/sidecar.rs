//! The sidecar: a service whose endpoints and subscriptions are the
//! application's, registered while the application is healthy.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use micro_runtime::codec::{ContentType, MessageCodec};
use micro_runtime::server::HandlerBuilder;
use micro_runtime::{Error, Result, Service, ServiceBuilder, Subscriber};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::options::SidecarOptions;
use crate::routes;

/// An HTTP application made a micro service: build it with [`Sidecar::new`],
/// then [`Sidecar::run`] it (or embed [`Sidecar::router`] and drive
/// [`Sidecar::watch_health`] yourself).
pub struct Sidecar {
    service: Service,
    app: App,
    options: SidecarOptions,
    state: Arc<State>,
}

/// What the sidecar knows of its application, as `GET /health` says it.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) app_up: AtomicBool,
    pub(crate) registered: AtomicBool,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidecar")
            .field("service", &self.service)
            .field("app", &self.app.base())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Sidecar {
    /// A sidecar registering the service `builder` builds (name, registry,
    /// transport, broker set there), serving `options.endpoints` by
    /// forwarding them to the application and delivering
    /// `options.subscriptions` to it. Must run inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// 400 for an application URL that is not `http://host:port`; the
    /// builder's error.
    pub fn new(builder: ServiceBuilder, options: SidecarOptions) -> Result<Self> {
        let app = App::new(&options.app, options.max_body)?;
        let service = builder.build()?;
        let name: Arc<str> = service.name().into();
        let mut handler = HandlerBuilder::new(());
        for endpoint in options.endpoints.iter().cloned() {
            let (app, service, endpoint_name) = (app.clone(), name.clone(), endpoint.name.clone());
            handler = handler.dynamic_unary(endpoint, move |ctx, content_type, body: Bytes| {
                let (app, service, endpoint) =
                    (app.clone(), service.clone(), endpoint_name.clone());
                async move {
                    if content_type != ContentType::Json {
                        return Err(Error::unsupported_media_type(format!(
                            "{endpoint} is served by an HTTP app through a sidecar and takes \
                             JSON only (application/json), not {}",
                            content_type.as_str()
                        )));
                    }
                    app.call(&service, &endpoint, &ctx, body).await
                }
            });
        }
        service.handle(handler.build())?;
        for subscription in &options.subscriptions {
            let (app, topic, path) = (
                app.clone(),
                subscription.topic.clone(),
                subscription.path.clone(),
            );
            let codec: MessageCodec<Value> = MessageCodec::serde();
            let mut subscriber =
                Subscriber::with_codec(&subscription.topic, codec, move |ctx, event: Value| {
                    let (app, topic, path) = (app.clone(), topic.clone(), path.clone());
                    async move {
                        let body = Bytes::from(event.to_string());
                        app.deliver(&path, &topic, &ctx, body).await
                    }
                })
                .message_type("json");
            if let Some(queue) = &subscription.queue {
                subscriber = subscriber.queue(queue);
            }
            service.subscribe(subscriber)?;
        }
        Ok(Self {
            service,
            app,
            options,
            state: Arc::default(),
        })
    }

    /// The service registered for the application.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// True when the application answered its last health check.
    pub fn app_up(&self) -> bool {
        self.state.app_up.load(Ordering::SeqCst)
    }

    /// True while the node is registered.
    pub fn registered(&self) -> bool {
        self.state.registered.load(Ordering::SeqCst)
    }

    /// The HTTP side for the application: `GET /health`, `GET /registry`,
    /// `GET /registry/{service}`, `POST /broker/{topic}`, `POST /rpc`,
    /// `POST /{service}/{Endpoint.Method}` (see the crate docs).
    pub fn router(&self) -> axum::Router {
        routes::router(
            self.service.client(),
            self.state.clone(),
            self.options.gateway(),
            self.options.max_body,
        )
    }

    /// Asks the application's health every interval until `stop` is true:
    /// registers the node when it is up, deregisters it when it is down.
    /// Deregisters on the way out.
    pub async fn watch_health(&self, mut stop: watch::Receiver<bool>) {
        let limit = self
            .options
            .health_interval
            .max(std::time::Duration::from_secs(1));
        loop {
            let up = self
                .app
                .healthy(self.options.health.as_deref(), limit)
                .await;
            self.state.app_up.store(up, Ordering::SeqCst);
            let registered = self.registered();
            if up && !registered {
                match self.service.start().await {
                    Ok(()) => {
                        self.state.registered.store(true, Ordering::SeqCst);
                        tracing::info!(
                            service = self.service.name(),
                            app = self.app.base(),
                            "the app is up: registered"
                        );
                    }
                    Err(err) => tracing::warn!(service = self.service.name(), error = %err,
                        "the app is up but registering failed; trying again"),
                }
            } else if !up && registered {
                tracing::warn!(
                    service = self.service.name(),
                    app = self.app.base(),
                    "the app is down: deregistering"
                );
                self.deregister().await;
            }
            tokio::select! {
                () = tokio::time::sleep(self.options.health_interval) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        if self.registered() {
            self.deregister().await;
        }
    }

    async fn deregister(&self) {
        self.state.registered.store(false, Ordering::SeqCst);
        if let Err(err) = self.service.stop().await {
            tracing::warn!(service = self.service.name(), error = %err, "stopping failed");
        }
    }

    /// Serves [`Sidecar::router`] on `listener` and watches the
    /// application's health until `shutdown` completes; then deregisters
    /// and lets requests in flight finish.
    ///
    /// # Errors
    ///
    /// 500 when serving the listener fails.
    pub async fn run(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let (stop, stopped) = watch::channel(false);
        let served = micro_gateway::serve(listener, self.router(), async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let (served, ()) = tokio::join!(served, self.watch_health(stopped));
        served.map_err(|e| Error::internal(format!("serving the sidecar's HTTP side: {e}")))
    }
}
