//! The defaults: backends chosen by name and from the `MICRO_*`
//! environment. The one module that knows every backend; builders fall
//! back on it for whatever the code did not set.

use std::sync::Arc;

use crate::auth::BearerToken;
use crate::broker::http::HttpBrokerOptions;
use crate::broker::{Broker, HttpBroker, MemoryBroker};
use crate::chain::Wrapper;
use crate::client::wrapper::{ClientRequest, ClientResponse};
use crate::client::{Client, ClientOptions};
use crate::registry::Registry;
use crate::registry::mdns::MdnsRegistry;
use crate::registry::memory::MemoryRegistry;
use crate::resilience::{CircuitBreaker, ConcurrencyLimit, RateLimit};
use crate::selector::{self, Selector};
use crate::server::wrapper::{HandlerRequest, HandlerResponse};
use crate::store::{Store, StoreOptions};
use crate::transport::Transport;
use crate::transport::grpc::{GrpcOptions, GrpcTransport};
use crate::transport::memory::MemoryTransport;
use crate::transport::tcp::{TcpOptions, TcpTransport};
use crate::{Error, Result, env_vars};

/// The registry named by `MICRO_REGISTRY` (default `mdns`).
///
/// # Errors
///
/// 400 for an unknown name or one whose cargo feature is not enabled; the
/// backend's error when it cannot start.
pub fn registry_from_env() -> Result<Arc<dyn Registry>> {
    let name = env_vars::string("MICRO_REGISTRY").unwrap_or_else(|| "mdns".to_owned());
    registry_by_name(&name, env_vars::string("MICRO_REGISTRY_ADDRESS").as_deref())
}

/// The registry called `name`, at `address` when it needs one.
///
/// # Errors
///
/// As [`registry_from_env`].
pub fn registry_by_name(name: &str, address: Option<&str>) -> Result<Arc<dyn Registry>> {
    match name {
        "mdns" => Ok(Arc::new(MdnsRegistry::shared()?)),
        "memory" => Ok(Arc::new(MemoryRegistry::global())),
        "etcd" => etcd(address),
        other => Err(Error::bad_request(format!(
            "unknown registry {other:?} (known: mdns, memory, etcd)"
        ))),
    }
}

/// The broker named by `MICRO_BROKER` (default `http`); the HTTP broker
/// registers subscriptions in `registry`.
///
/// # Errors
///
/// 400 for an unknown name or one whose cargo feature is not enabled.
pub fn broker_from_env(registry: Arc<dyn Registry>) -> Result<Arc<dyn Broker>> {
    let name = env_vars::string("MICRO_BROKER").unwrap_or_else(|| "http".to_owned());
    let address = env_vars::string("MICRO_BROKER_ADDRESS");
    broker_by_name(&name, address.as_deref(), registry)
}

/// `$options` from the environment, at `$address` when one is given.
macro_rules! options_at {
    ($options:ty, $address:expr) => {{
        let mut options = <$options>::from_env()?;
        if let Some(address) = $address {
            options.address = address.to_owned();
        }
        options
    }};
}

/// The broker called `name` (at `address` when it needs one).
///
/// # Errors
///
/// As [`broker_from_env`].
pub fn broker_by_name(
    name: &str,
    address: Option<&str>,
    registry: Arc<dyn Registry>,
) -> Result<Arc<dyn Broker>> {
    match name {
        "http" => Ok(Arc::new(HttpBroker::new(
            registry,
            options_at!(HttpBrokerOptions, address),
        ))),
        "memory" => Ok(Arc::new(MemoryBroker::global())),
        #[cfg(feature = "nats")]
        "nats" => Ok(Arc::new(crate::broker::NatsBroker::new(options_at!(
            crate::broker::NatsOptions,
            address
        )))),
        #[cfg(feature = "rabbitmq")]
        "rabbitmq" => Ok(Arc::new(crate::broker::RabbitMqBroker::new(options_at!(
            crate::broker::RabbitMqOptions,
            address
        )))),
        #[cfg(feature = "kafka")]
        "kafka" => Ok(Arc::new(crate::broker::KafkaBroker::new(options_at!(
            crate::broker::KafkaOptions,
            address
        )))),
        #[cfg(not(feature = "nats"))]
        "nats" => Err(not_built("nats")),
        #[cfg(not(feature = "rabbitmq"))]
        "rabbitmq" => Err(not_built("rabbitmq")),
        #[cfg(not(feature = "kafka"))]
        "kafka" => Err(not_built("kafka")),
        other => Err(Error::bad_request(format!(
            "unknown broker {other:?} (known: http, memory, nats, rabbitmq, kafka)"
        ))),
    }
}

#[cfg(feature = "etcd")]
fn etcd(address: Option<&str>) -> Result<Arc<dyn Registry>> {
    use crate::registry::etcd::{EtcdOptions, EtcdRegistry};
    Ok(Arc::new(EtcdRegistry::new(EtcdOptions::with_address(
        address,
    ))?))
}

#[cfg(not(feature = "etcd"))]
fn etcd(_address: Option<&str>) -> Result<Arc<dyn Registry>> {
    Err(Error::bad_request(
        "the etcd registry is not compiled in: enable the `etcd` cargo feature of \
         micro-runtime (micro-runtime = { version = \"0.1\", features = [\"etcd\"] })",
    )
    .with_id("micro.registry"))
}

/// 400 for a broker whose cargo feature is off.
#[cfg(not(all(feature = "nats", feature = "rabbitmq", feature = "kafka")))]
fn not_built(name: &str) -> Error {
    Error::bad_request(format!(
        "broker {name:?} is not built in: enable the cargo feature \"{name}\" of micro-runtime \
         (micro-runtime = {{ version = \"0.1\", features = [\"{name}\"] }})"
    ))
}

/// The store named by `MICRO_STORE` (default `file`), with
/// `MICRO_STORE_ADDRESS`, `MICRO_STORE_DATABASE` and `MICRO_STORE_TABLE`.
///
/// # Errors
///
/// 400 for an unknown name, one whose cargo feature is not enabled, or a
/// bad variable; 503 when the file store's file cannot be opened.
pub fn store_from_env() -> Result<Arc<dyn Store>> {
    let name = env_vars::string("MICRO_STORE").unwrap_or_else(|| "file".to_owned());
    store_by_name(&name, StoreOptions::from_env()?)
}

/// The store called `name` (memory, file, redis, postgres, etcd) with
/// `options`. Network stores connect on first use.
///
/// # Errors
///
/// As [`store_from_env`].
pub fn store_by_name(name: &str, options: StoreOptions) -> Result<Arc<dyn Store>> {
    match name.trim() {
        "memory" => Ok(Arc::new(crate::store::memory::MemoryStore::global(
            &options,
        )?)),
        #[cfg(feature = "store-file")]
        "file" => Ok(Arc::new(crate::store::file::FileStore::open(&options)?)),
        #[cfg(feature = "store-redis")]
        "redis" => Ok(Arc::new(crate::store::redis::RedisStore::new(&options)?)),
        #[cfg(feature = "store-postgres")]
        "postgres" => Ok(Arc::new(crate::store::postgres::PostgresStore::new(
            &options,
        )?)),
        #[cfg(feature = "etcd")]
        "etcd" => Ok(Arc::new(crate::store::etcd::EtcdStore::new(options)?)),
        #[cfg(not(feature = "store-file"))]
        "file" => Err(store_not_built("file", "store-file")),
        #[cfg(not(feature = "store-redis"))]
        "redis" => Err(store_not_built("redis", "store-redis")),
        #[cfg(not(feature = "store-postgres"))]
        "postgres" => Err(store_not_built("postgres", "store-postgres")),
        #[cfg(not(feature = "etcd"))]
        "etcd" => Err(store_not_built("etcd", "etcd")),
        other => Err(Error::bad_request(format!(
            "unknown store {other:?} (known: memory, file, redis, postgres, etcd)"
        ))
        .with_id("micro.store")),
    }
}

/// 400 for a store whose cargo feature is off.
#[cfg(not(all(
    feature = "store-file",
    feature = "store-redis",
    feature = "store-postgres",
    feature = "etcd"
)))]
fn store_not_built(name: &str, feature: &str) -> Error {
    Error::bad_request(format!(
        "store {name:?} is not built in: enable the cargo feature \"{feature}\" of micro-runtime \
         (micro-runtime = {{ version = \"0.1\", features = [\"{feature}\"] }})"
    ))
    .with_id("micro.store")
}

impl Client {
    /// A client configured from the environment alone (`MICRO_REGISTRY`,
    /// `MICRO_TRANSPORT`, `MICRO_SELECTOR`, `MICRO_BROKER`, `MICRO_CLIENT_*`,
    /// `MICRO_TRACE`, and the wrappers of [`client_wrappers_from_env`]):
    /// for programs that call services without being one.
    ///
    /// # Errors
    ///
    /// 400 when a variable does not parse; the registry's error when it
    /// cannot start.
    pub fn from_env() -> Result<Client> {
        let registry = registry_from_env()?;
        let builder = Client::builder()
            .broker(broker_from_env(registry.clone())?)
            .registry(registry)
            .transport(transport_from_env()?)
            .selector(selector_from_env()?)
            .options(ClientOptions::from_env()?);
        let mut builder = match crate::trace::enabled_from_env()? {
            true => crate::trace::instrument(builder),
            false => builder,
        };
        for wrapper in client_wrappers_from_env()? {
            builder = builder.wrap_shared(wrapper);
        }
        builder.build()
    }
}

/// The transport named by `MICRO_TRANSPORT` (default `tcp`; `grpc` calls
/// every node over gRPC, e.g. a plain gRPC server by address; `nats` at
/// `MICRO_TRANSPORT_ADDRESS` with the cargo feature `nats`).
///
/// # Errors
///
/// 400 for an unknown name, or `nats` without its cargo feature.
pub fn transport_from_env() -> Result<Arc<dyn Transport>> {
    let name = env_vars::string("MICRO_TRANSPORT").unwrap_or_else(|| "tcp".to_owned());
    match name.as_str() {
        "tcp" => Ok(Arc::new(tls::tcp(TcpTransport::new(
            TcpOptions::from_env()?,
        ))?)),
        "memory" => Ok(Arc::new(MemoryTransport::global())),
        "grpc" => Ok(Arc::new(tls::grpc(GrpcTransport::new(
            GrpcOptions::from_env()?,
        ))?)),
        #[cfg(feature = "nats")]
        "nats" => Ok(Arc::new(crate::transport::nats::NatsTransport::new(
            crate::transport::nats::NatsTransportOptions::from_env()?,
        ))),
        #[cfg(not(feature = "nats"))]
        "nats" => Err(Error::bad_request(
            "transport \"nats\" is not built in: enable the cargo feature \"nats\" of micro-runtime",
        )),
        other => Err(Error::bad_request(format!(
            "unknown transport {other:?} (known: tcp, memory, grpc, nats)"
        ))),
    }
}

/// The `MICRO_TLS_*` variables applied to a transport.
mod tls {
    use super::{GrpcTransport, Result, TcpTransport};

    #[cfg(feature = "tls")]
    pub(super) fn tcp(transport: TcpTransport) -> Result<TcpTransport> {
        transport.tls_from_env()
    }

    #[cfg(feature = "tls")]
    pub(super) fn grpc(transport: GrpcTransport) -> Result<GrpcTransport> {
        transport.tls_from_env()
    }

    #[cfg(not(feature = "tls"))]
    pub(super) fn tcp(transport: TcpTransport) -> Result<TcpTransport> {
        refuse_without_feature().map(|()| transport)
    }

    #[cfg(not(feature = "tls"))]
    pub(super) fn grpc(transport: GrpcTransport) -> Result<GrpcTransport> {
        refuse_without_feature().map(|()| transport)
    }

    /// A `MICRO_TLS_*` variable in a build without TLS is an error, never
    /// a silent fall back to plaintext.
    #[cfg(not(feature = "tls"))]
    fn refuse_without_feature() -> Result<()> {
        const VARS: [&str; 7] = [
            "MICRO_TLS_CERT",
            "MICRO_TLS_KEY",
            "MICRO_TLS_CLIENT_CA",
            "MICRO_TLS_CA",
            "MICRO_TLS_CLIENT_CERT",
            "MICRO_TLS_CLIENT_KEY",
            "MICRO_TLS_SERVER_NAME",
        ];
        match VARS.iter().find(|v| crate::env_vars::string(v).is_some()) {
            Some(var) => Err(crate::Error::bad_request(format!(
                "{var} is set but TLS is not built in: enable the cargo feature \"tls\" of micro-runtime"
            ))),
            None => Ok(()),
        }
    }
}

/// The selector named by `MICRO_SELECTOR` (default `leastloaded`).
///
/// # Errors
///
/// 400 for an unknown name.
pub fn selector_from_env() -> Result<Arc<dyn Selector>> {
    selector::by_name(
        &env_vars::string("MICRO_SELECTOR").unwrap_or_else(|| "leastloaded".to_owned()),
    )
}

/// The handler wrappers `MICRO_*` variables turn on, outermost first:
/// auth (`MICRO_AUTH_SECRET_FILE`, `MICRO_AUTH_SECRET` or
/// `MICRO_AUTH_JWKS`, with the cargo feature `auth`), the rate limit
/// (`MICRO_RATE_LIMIT`), the concurrency limit (`MICRO_CONCURRENCY_LIMIT`).
/// `ServiceBuilder::build` puts them before the code's own wrappers.
///
/// # Errors
///
/// 400 when a variable does not parse, or names a key without the `auth`
/// feature built in (a service never runs unprotected by mistake).
pub fn handler_wrappers_from_env() -> Result<Vec<Arc<dyn Wrapper<HandlerRequest, HandlerResponse>>>>
{
    let mut wrappers: Vec<Arc<dyn Wrapper<HandlerRequest, HandlerResponse>>> = Vec::new();
    #[cfg(feature = "auth")]
    if let Some(auth) = crate::auth::Auth::from_env()? {
        wrappers.push(Arc::new(auth));
    }
    #[cfg(not(feature = "auth"))]
    for name in [
        "MICRO_AUTH_SECRET_FILE",
        "MICRO_AUTH_SECRET",
        "MICRO_AUTH_JWKS",
    ] {
        if env_vars::string(name).is_some() {
            return Err(Error::bad_request(format!(
                "{name} is set but token verification is not built in: enable the cargo \
                 feature \"auth\" of micro-runtime"
            ))
            .with_id("micro.auth"));
        }
    }
    if let Some(limit) = RateLimit::from_env()? {
        wrappers.push(Arc::new(limit));
    }
    if let Some(limit) = ConcurrencyLimit::from_env()? {
        wrappers.push(Arc::new(limit));
    }
    Ok(wrappers)
}

/// The client wrappers `MICRO_*` variables turn on: the bearer token
/// (`MICRO_AUTH_TOKEN_FILE`, `MICRO_AUTH_TOKEN`) and the circuit breaker
/// (`MICRO_BREAKER_FAILURES`, `MICRO_BREAKER_COOLDOWN`).
///
/// # Errors
///
/// 400 when a variable does not parse or a token file cannot be read.
pub fn client_wrappers_from_env() -> Result<Vec<Arc<dyn Wrapper<ClientRequest, ClientResponse>>>> {
    let mut wrappers: Vec<Arc<dyn Wrapper<ClientRequest, ClientResponse>>> = Vec::new();
    if let Some(token) = BearerToken::from_env()? {
        wrappers.push(Arc::new(token));
    }
    if let Some(breaker) = CircuitBreaker::from_env()? {
        wrappers.push(Arc::new(breaker));
    }
    Ok(wrappers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_registries_are_400() {
        let err = registry_by_name("zookeeper", None).err().unwrap();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("etcd"), "{err}");
    }

    #[cfg(not(feature = "etcd"))]
    #[test]
    fn etcd_without_the_feature_says_how_to_enable_it() {
        let err = registry_by_name("etcd", Some("127.0.0.1:2379"))
            .err()
            .unwrap();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("`etcd` cargo feature"), "{err}");
    }

    #[cfg(feature = "etcd")]
    #[test]
    fn etcd_is_made_without_connecting_or_a_runtime() {
        let registry = registry_by_name("etcd", Some("127.0.0.1:1, 127.0.0.1:2")).unwrap();
        assert_eq!(registry.name(), "etcd");
        let err = registry_by_name("etcd", Some("https://127.0.0.1:2379"))
            .err()
            .unwrap();
        assert_eq!(err.code(), 400, "{err}");
    }

    #[test]
    fn stores_by_name() {
        let err = store_by_name("floppy", StoreOptions::default())
            .err()
            .unwrap();
        assert_eq!((err.code(), err.id()), (400, "micro.store"));
        assert!(err.detail().contains("redis, postgres, etcd"), "{err:?}");
        let store = store_by_name("memory", StoreOptions::default()).unwrap();
        assert_eq!(store.name(), "memory");
        let bad = StoreOptions::default().table("a/b");
        assert_eq!(store_by_name("memory", bad).err().unwrap().code(), 400);
        for (name, built) in [
            ("redis", cfg!(feature = "store-redis")),
            ("postgres", cfg!(feature = "store-postgres")),
            ("etcd", cfg!(feature = "etcd")),
        ] {
            match store_by_name(name, StoreOptions::with_address("127.0.0.1:1")) {
                Ok(store) => {
                    assert!(built, "{name}");
                    assert_eq!(store.name(), name);
                }
                Err(err) => {
                    assert!(!built, "{name}: {err:?}");
                    assert_eq!(err.code(), 400);
                    assert!(err.detail().contains("cargo feature"), "{err:?}");
                }
            }
        }
    }

    fn registry() -> Arc<dyn Registry> {
        Arc::new(MemoryRegistry::new())
    }

    #[test]
    fn brokers_by_name() {
        let err = broker_by_name("carrier-pigeon", None, registry())
            .err()
            .unwrap();
        assert_eq!(err.code(), 400);
        assert!(err.detail().contains("nats, rabbitmq, kafka"), "{err:?}");
        for name in ["nats", "rabbitmq", "kafka"] {
            let built = match name {
                "nats" => cfg!(feature = "nats"),
                "rabbitmq" => cfg!(feature = "rabbitmq"),
                _ => cfg!(feature = "kafka"),
            };
            match broker_by_name(name, Some("127.0.0.1:1"), registry()) {
                Ok(broker) => {
                    assert!(built, "{name}");
                    assert_eq!(broker.name(), name);
                }
                Err(err) => {
                    assert!(!built, "{name}: {err:?}");
                    assert_eq!(err.code(), 400);
                    assert!(
                        err.detail().contains(&format!("cargo feature \"{name}\"")),
                        "{err:?}"
                    );
                }
            }
        }
    }
}
