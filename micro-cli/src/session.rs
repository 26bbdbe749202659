//! What commands work with: the options every command takes, the output,
//! and the client, broker and describer made from them on first use.

use std::sync::{Arc, OnceLock};

use micro_runtime::broker::Broker;
use micro_runtime::debug::Describer;
use micro_runtime::{Client, ClientOptions, defaults};

use crate::args::Global;
use crate::failure::Outcome;
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
        let client = Client::builder()
            .registry(registry)
            .transport(defaults::transport_from_env()?)
            .selector(defaults::selector_from_env()?)
            .options(ClientOptions::from_env()?)
            .build()?;
        Ok(self.client.get_or_init(|| client))
    }

    /// The broker from `--broker` (the HTTP broker finds subscribers in the
    /// registry).
    ///
    /// # Errors
    ///
    /// As [`Session::client`]; 400 for an unknown broker.
    pub fn broker(&self) -> Outcome<Arc<dyn Broker>> {
        let registry = self.client()?.registry().clone();
        Ok(defaults::broker_by_name(
            &self.global.broker,
            self.global.broker_address.as_deref(),
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
