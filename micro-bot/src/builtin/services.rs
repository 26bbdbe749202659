//! `list services`: one line per service with its versions, nodes and
//! endpoints.

use std::collections::BTreeMap;

use async_trait::async_trait;
use micro_runtime::Client;

use super::exactly;
use crate::command::Command;

/// Lists what is registered.
pub struct ListServices {
    client: Client,
}

impl ListServices {
    /// Lists through `client`'s registry.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Command for ListServices {
    fn name(&self) -> &str {
        "list services"
    }

    fn usage(&self) -> String {
        "list services — what runs: name, versions, nodes, endpoints".into()
    }

    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
        exactly::<0>(args, "list services")?;
        // name -> (versions, nodes, callable endpoints)
        let mut by_name: BTreeMap<String, (Vec<String>, usize, Vec<String>)> = BTreeMap::new();
        for service in self.client.services().await? {
            let entry = by_name.entry(service.name).or_default();
            entry.0.push(service.version);
            entry.1 += service.nodes.len();
            entry.2.extend(
                service
                    .endpoints
                    .into_iter()
                    .filter(|e| {
                        !e.name.starts_with("Debug.") && !e.metadata.contains_key("subscriber")
                    })
                    .map(|e| e.name),
            );
        }
        if by_name.is_empty() {
            return Ok("no services are registered".into());
        }
        let lines: Vec<String> = by_name
            .into_iter()
            .map(|(name, (versions, nodes, mut endpoints))| {
                endpoints.sort();
                endpoints.dedup();
                format!(
                    "{name} {} ({} {}, {} {})",
                    versions.join(", "),
                    nodes,
                    plural(nodes, "node"),
                    endpoints.len(),
                    plural(endpoints.len(), "endpoint"),
                )
            })
            .collect();
        Ok(lines.join("\n"))
    }
}

/// `node` or `nodes`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}
