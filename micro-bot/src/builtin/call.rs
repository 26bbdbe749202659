//! `call SERVICE ENDPOINT JSON`: one unary call with a JSON request; the
//! reply is the response as one line of JSON. Service and endpoint may be
//! short (`greeter hello`), as in `micro call`.

use async_trait::async_trait;
use bytes::Bytes;
use micro_runtime::client::resolve;
use micro_runtime::codec::ContentType;
use micro_runtime::endpoint::CallKind;
use micro_runtime::{CallOptions, Client, Error};

use super::json;
use crate::command::Command;

const USAGE: &str = "call SERVICE ENDPOINT [JSON]";

/// Calls an endpoint.
pub struct Call {
    client: Client,
}

impl Call {
    /// Calls through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Command for Call {
    fn name(&self) -> &str {
        "call"
    }

    fn usage(&self) -> String {
        format!("{USAGE} — one call; the response as JSON")
    }

    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
        let (service, endpoint, request) = match args.as_slice() {
            [service, endpoint] => (service, endpoint, "{}"),
            [service, endpoint, request] => (service, endpoint, request.as_str()),
            _ => return Err(Error::bad_request(format!("usage: {USAGE}"))),
        };
        let request = json(request, "the request")?;
        let service = self.client.resolve_service(service).await?;
        let versions: Vec<_> = self
            .client
            .services()
            .await?
            .into_iter()
            .filter(|s| s.name == service)
            .collect();
        let mut names: Vec<String> = versions
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| e.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        let endpoint = resolve::endpoint(&service, endpoint, &names)?.to_owned();
        if self.client.call_kind(&service, &endpoint).await? != CallKind::Unary {
            return Err(Error::bad_request(format!(
                "{endpoint} streams; the bot makes unary calls (use `micro stream`)"
            )));
        }
        let response = self
            .client
            .call_raw(
                &service,
                &endpoint,
                ContentType::Json,
                Bytes::from(request.to_string()),
                &CallOptions::new(),
            )
            .await?;
        Ok(
            match serde_json::from_slice::<serde_json::Value>(&response) {
                Ok(value) => value.to_string(),
                Err(_) => String::from_utf8_lossy(&response).into_owned(),
            },
        )
    }
}
