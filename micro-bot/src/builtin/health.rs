//! `health NAME`: `Debug.Health` of every node of a service, one line each
//! (`ok`, or what is wrong, and the latency); 503 when a node is not
//! healthy, after the lines.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use micro_runtime::debug::probe_health;
use micro_runtime::{Client, Error};

use super::exactly;
use crate::command::Command;

/// How long one node may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Checks one service's nodes.
pub struct Health {
    client: Client,
}

impl Health {
    /// Checks through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Command for Health {
    fn name(&self) -> &str {
        "health"
    }

    fn usage(&self) -> String {
        "health NAME — Debug.Health of each of its nodes".into()
    }

    async fn run(&self, args: Vec<String>) -> micro_runtime::Result<String> {
        let [wanted] = exactly::<1>(args, "health NAME")?;
        let name = self.client.resolve_service(&wanted).await?;
        let services = self.client.services().await?;
        let nodes = services
            .iter()
            .filter(|s| s.name == name)
            .flat_map(|s| s.nodes.iter().map(move |n| (s, n)));
        let name = name.as_str();
        let checks = join_all(nodes.map(|(service, node)| async move {
            let answer = probe_health(&self.client, name, &node.address, TIMEOUT).await;
            let line = format!(
                "{} {name} {} {} {:.1}ms",
                answer.status,
                service.version,
                node.address,
                answer.latency.as_secs_f64() * 1000.0
            );
            (answer.healthy, line)
        }))
        .await;
        let down = checks.iter().filter(|(healthy, _)| !healthy).count();
        let mut lines: Vec<String> = checks.into_iter().map(|(_, line)| line).collect();
        if down > 0 {
            lines.push(crate::reply::error_line(&Error::unavailable(format!(
                "{down} of {} nodes are not healthy",
                lines.len()
            ))));
        }
        Ok(lines.join("\n"))
    }
}
