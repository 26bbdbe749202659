//! `get service NAME`: each version's nodes, and its endpoints with their
//! kind and message types as the service describes them (`Debug.Describe`),
//! else as the registry lists them.

use async_trait::async_trait;
use micro_runtime::Client;
use micro_runtime::debug::Describer;

use super::exactly;
use super::services::plural;
use crate::command::Command;

/// Describes one service.
pub struct GetService {
    client: Client,
    describer: Describer,
}

impl GetService {
    /// Describes through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            describer: Describer::new(client.clone()),
            client,
        }
    }
}

#[async_trait]
impl Command for GetService {
    fn name(&self) -> &str {
        "get service"
    }

    fn usage(&self) -> String {
        "get service NAME — its versions, nodes and endpoints".into()
    }

    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
        let [wanted] = exactly::<1>(args, "get service NAME")?;
        let name = self.client.resolve_service(&wanted).await?;
        let mut lines = Vec::new();
        for record in self
            .client
            .services()
            .await?
            .into_iter()
            .filter(|s| s.name == name)
        {
            let addresses: Vec<&str> = record.nodes.iter().map(|n| n.address.as_str()).collect();
            lines.push(format!(
                "{name} {}: {} {} ({})",
                record.version,
                addresses.len(),
                plural(addresses.len(), "node"),
                addresses.join(", ")
            ));
            match self
                .describer
                .describe_version(&name, &record.version)
                .await
            {
                Ok(described) => {
                    for e in &described.endpoints {
                        lines.push(format!(
                            "  {} ({}) {} -> {}",
                            e.name, e.kind, e.request_type, e.response_type
                        ));
                    }
                }
                Err(_) => {
                    let endpoints = record
                        .endpoints
                        .iter()
                        .filter(|e| !e.name.starts_with("Debug."));
                    for e in endpoints {
                        let kind = e.metadata.get("stream").map_or("unary", String::as_str);
                        lines.push(format!("  {} ({kind})", e.name));
                    }
                }
            }
        }
        Ok(lines.join("\n"))
    }
}
