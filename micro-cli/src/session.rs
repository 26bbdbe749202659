//! What commands work with: the options every command takes, the output,
//! and the client, broker and describer made from them on first use.

use std::sync::{Arc, OnceLock};

use micro_runtime::auth::BearerToken;
use micro_runtime::broker::Broker;
use micro_runtime::debug::Describer;
use micro_runtime::{Client, ClientOptions, defaults};

use crate::args::Global;
use crate::failure::{Failure, Outcome};
use crate::output::Output;

/// The options, the output and the backends of one run of `micro`.
pub struct Session {
    /// The options every command takes.
    pub global: Global,
    /// Where results go.
    pub out: Output,
    client: OnceLock<Client>,
    describer: OnceLock<Describer>,
}

impl Session {
    /// A session for `global`; nothing is connected yet.
    pub fn new(global: Global) -> Self {
        Self {
            out: Output::new(global.output),
            global,
            client: OnceLock::new(),
            describer: OnceLock::new(),
        }
    }

    /// The client: the registry from `--registry`, the rest from `MICRO_*`.
    ///
    /// # Errors
    ///
    /// 400 for an unknown registry or a variable that does not parse; the
    /// registry's error when it cannot start.
    pub fn client(&self) -> Outcome<&Client> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let registry = defaults::registry_by_name(
            &self.global.registry,
            self.global.registry_address.as_deref(),
        )?;
        let builder = Client::builder()
            .registry(registry)
            .transport(defaults::transport_from_env()?)
            .selector(defaults::selector_from_env()?)
            .options(ClientOptions::from_env()?);
        // Tracing outermost, then `--token` (or MICRO_AUTH_TOKEN), then
        // MICRO_AUTH_TOKEN_FILE and the breaker from the environment.
        let mut builder = traced(builder)?;
        if let Some(token) = &self.global.token {
            builder = builder.wrap(BearerToken::new(&token.0)?);
        }
        for wrapper in defaults::client_wrappers_from_env()? {
            builder = builder.wrap(wrapper);
        }
        let client = builder.build()?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The broker from `--broker` (the HTTP broker finds subscribers in the
    /// registry). `listen` is `Some(insecure)` for a subscriber: the HTTP
    /// broker then listens on loopback unless told an address, and beyond
    /// loopback only when `insecure`.
    ///
    /// # Errors
    ///
    /// As [`Session::client`]; 400 for an unknown broker, or for an HTTP
    /// subscriber beyond loopback without `--insecure`.
    pub fn broker(&self, listen: Option<bool>) -> Outcome<Arc<dyn Broker>> {
        let registry = self.client()?.registry().clone();
        let mut address = self.global.broker_address.clone();
        if let (Some(insecure), "http") = (listen, self.global.broker.as_str()) {
            let at = address.get_or_insert_with(|| "127.0.0.1:0".to_owned());
            if !insecure && !is_loopback(at) {
                return Err(Failure::bad_request(format!(
                    "the HTTP broker would accept messages from anyone on {at}; \
                     listen on 127.0.0.1 or pass --insecure"
                )));
            }
        }
        Ok(defaults::broker_by_name(
            &self.global.broker,
            address.as_deref(),
            registry,
        )?)
    }

    /// Fetches and caches services' descriptions.
    ///
    /// # Errors
    ///
    /// As [`Session::client`].
    pub fn describer(&self) -> Outcome<&Describer> {
        if let Some(describer) = self.describer.get() {
            return Ok(describer);
        }
        let describer = Describer::new(self.client()?.clone());
        Ok(self.describer.get_or_init(|| describer))
    }
}

/// True for `127.x.x.x:port`, `[::1]:port` and `localhost:port`.
fn is_loopback(address: &str) -> bool {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `builder` with spans around its calls and publishes, unless `MICRO_TRACE=off`.
pub(crate) fn traced(
    builder: micro_runtime::client::ClientBuilder,
) -> Outcome<micro_runtime::client::ClientBuilder> {
    Ok(match micro_runtime::trace::enabled_from_env()? {
        true => micro_runtime::trace::instrument(builder),
        false => builder,
    })
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:0"));
        assert!(is_loopback("[::1]:8080"));
        assert!(is_loopback("localhost:1"));
        assert!(!is_loopback("0.0.0.0:0"));
        assert!(!is_loopback("10.0.0.1:80"));
    }
}
