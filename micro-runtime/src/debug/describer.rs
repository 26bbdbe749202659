//! Fetching descriptions, for tools: once per service version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::describe::{DESCRIBE, DescribeRequest, ServiceDescription};
use crate::{CallOptions, Client, Error, Result};

/// Fetches services' [`ServiceDescription`]s through a [`Client`] and caches
/// them by service name and version, so a tool asks each version once.
///
/// Cheap to clone; clones share the cache. Two calls racing for a version
/// not cached yet may both fetch it (the answers are the same).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: micro_runtime::Client) -> micro_runtime::Result<()> {
/// use micro_runtime::debug::Describer;
///
/// let describer = Describer::new(client);
/// for version in describer.describe("com.example.srv.greeter").await? {
///     for endpoint in &version.endpoints {
///         println!("{} {} {}", version.version, endpoint.name, endpoint.request_schema);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Describer {
    client: Client,
    cache: Arc<Cache>,
}

/// Descriptions by (service, version).
type Cache = Mutex<HashMap<(String, String), Arc<ServiceDescription>>>;

impl std::fmt::Debug for Describer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Describer")
            .field("cached", &self.cache.lock().unwrap().len())
            .finish_non_exhaustive()
    }
}

impl Describer {
    /// A describer calling through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Arc::default(),
        }
    }

    /// The description of every version of `service` registered now, in
    /// version order.
    ///
    /// # Errors
    ///
    /// 404 when no such service is registered; as [`Describer::describe_version`].
    pub async fn describe(&self, service: &str) -> Result<Vec<Arc<ServiceDescription>>> {
        let nodes = self.client.nodes(service).await?;
        let mut versions: Vec<&str> = nodes.iter().map(|n| &*n.service.version).collect();
        versions.sort_unstable();
        versions.dedup();
        if versions.is_empty() {
            return Err(Error::not_found(format!("service {service} has no nodes")));
        }
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            out.push(self.describe_version(service, version).await?);
        }
        Ok(out)
    }

    /// The description of `version` of `service`, from the cache or from one
    /// of its nodes.
    ///
    /// # Errors
    ///
    /// As [`Client::call`]: 404 for an unknown service, 503 when no node of
    /// that version can be reached, 408 on timeout.
    pub async fn describe_version(
        &self,
        service: &str,
        version: &str,
    ) -> Result<Arc<ServiceDescription>> {
        let key = (service.to_owned(), version.to_owned());
        if let Some(hit) = self.cache.lock().unwrap().get(&key) {
            return Ok(hit.clone());
        }
        let options = CallOptions::new().version(version);
        let description = Arc::new(self.fetch(service, &options).await?);
        self.cache.lock().unwrap().insert(key, description.clone());
        Ok(description)
    }

    /// The description served by the node of `service` at `address`,
    /// fetched now (not cached: a node may run anything).
    ///
    /// # Errors
    ///
    /// As [`Describer::describe_version`].
    pub async fn describe_node(&self, service: &str, address: &str) -> Result<ServiceDescription> {
        self.fetch(service, &CallOptions::new().address(address))
            .await
    }

    /// Drops what is cached about `service` (every version).
    pub fn forget(&self, service: &str) {
        self.cache
            .lock()
            .unwrap()
            .retain(|(name, _), _| name != service);
    }

    async fn fetch(&self, service: &str, options: &CallOptions) -> Result<ServiceDescription> {
        self.client
            .call(&Arc::from(service), &DESCRIBE, &DescribeRequest {}, options)
            .await
    }
}
