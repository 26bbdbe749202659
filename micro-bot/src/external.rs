//! Commands that services serve: a service named `<namespace>.bot.<name>`
//! with `Command.Help` and `Command.Exec` (proto/bot.proto) is the bot
//! command `<name>` while it is registered. A registry watch keeps the
//! list current.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::registry::Watcher;
use micro_runtime::{CallOptions, Client, Error, Result};
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::command::Command;

/// The endpoint that says how to use a command.
pub(crate) const HELP: &str = "Command.Help";
/// The endpoint that runs a command.
pub(crate) const EXEC: &str = "Command.Exec";

/// How long to wait before watching again after the watch broke.
const RETRY: Duration = Duration::from_secs(1);

/// Follows the registry for command services of one namespace.
pub struct External {
    client: Client,
    prefix: String,
    commands: Mutex<BTreeMap<String, Arc<dyn Command>>>,
    notice: Box<dyn Fn(&str) + Send + Sync>,
}

impl External {
    /// Commands served by `<namespace>.bot.*` services, found through
    /// `client`.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            prefix: format!("{namespace}.bot."),
            commands: Mutex::new(BTreeMap::new()),
            notice: Box::new(|_| {}),
        }
    }

    /// Calls `notice` with a line when a command appears or goes (`command
    /// "echo" is available (micro.bot.echo)`).
    pub fn on_notice(mut self, notice: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.notice = Box::new(notice);
        self
    }

    /// The commands known now.
    pub fn commands(&self) -> Vec<Arc<dyn Command>> {
        self.commands.lock().unwrap().values().cloned().collect()
    }

    /// Follows the registry in a task (aborted when the bot stops): looks
    /// once, then again on each change of a command service. A registry
    /// that cannot be reached is tried again after a pause; the bot's
    /// other commands work meanwhile.
    pub fn follow(self: Arc<Self>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let mut changes = match self.client.watch(None).await {
                    Ok(changes) => changes,
                    Err(err) => {
                        tracing::warn!("watching the registry for bot commands: {err}");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                };
                loop {
                    if let Err(err) = self.refresh().await {
                        // Looked again after a pause, change or not.
                        tracing::warn!("listing bot commands: {err}");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                    if let Err(err) = self.next_change(&mut changes).await {
                        tracing::warn!("registry watch: {err}");
                        tokio::time::sleep(RETRY).await;
                        break;
                    }
                }
            }
        })
    }

    /// Waits for a change of a command service.
    async fn next_change(&self, changes: &mut Watcher) -> Result<()> {
        loop {
            if changes.next().await?.service.name.starts_with(&self.prefix) {
                return Ok(());
            }
        }
    }

    /// Lists the command services and updates the table.
    async fn refresh(&self) -> Result<()> {
        let mut found = BTreeMap::new();
        for service in self.client.services().await? {
            let Some(name) = service.name.strip_prefix(&self.prefix) else {
                continue;
            };
            let serves = |endpoint: &str| service.endpoints.iter().any(|e| e.name == endpoint);
            if name.is_empty() || service.nodes.is_empty() || !serves(HELP) || !serves(EXEC) {
                continue;
            }
            found.insert(name.replace('.', " "), service.name.clone());
        }
        let known: Vec<String> = self.commands.lock().unwrap().keys().cloned().collect();
        for (name, service) in &found {
            if known.contains(name) {
                continue;
            }
            let usage = self.usage(name, service).await;
            let command = Arc::new(Remote {
                name: name.clone(),
                service: service.clone(),
                usage,
                client: self.client.clone(),
            });
            self.commands.lock().unwrap().insert(name.clone(), command);
            (self.notice)(&format!("command {name:?} is available ({service})"));
        }
        for name in &known {
            if !found.contains_key(name) {
                self.commands.lock().unwrap().remove(name);
                (self.notice)(&format!("command {name:?} is gone"));
            }
        }
        Ok(())
    }

    /// What `Command.Help` says, or a plain line when it does not answer.
    async fn usage(&self, name: &str, service: &str) -> String {
        let answer = self
            .client
            .call_raw(
                service,
                HELP,
                ContentType::Json,
                Bytes::from_static(b"{}"),
                &CallOptions::new(),
            )
            .await
            .ok()
            .and_then(|body| serde_json::from_slice::<HelpResponse>(&body).ok());
        match answer {
            Some(help) if !help.usage.trim().is_empty() => {
                let usage = help.usage.trim();
                let description = help.description.trim();
                if description.is_empty() {
                    usage.to_owned()
                } else {
                    format!("{usage} — {description}")
                }
            }
            _ => format!("{name} ... — served by {service}"),
        }
    }
}

/// `Command.Help`'s answer (proto3 JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HelpResponse {
    usage: String,
    description: String,
}

/// `Command.Exec`'s answer (proto3 JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExecResponse {
    result: String,
    error: String,
}

/// A command a service runs.
struct Remote {
    name: String,
    service: String,
    usage: String,
    client: Client,
}

#[async_trait]
impl Command for Remote {
    fn name(&self) -> &str {
        &self.name
    }

    fn usage(&self) -> String {
        self.usage.clone()
    }

    async fn run(&self, args: Vec<String>) -> Result<String> {
        let body = serde_json::json!({ "args": args }).to_string();
        let answer = self
            .client
            .call_raw(
                &self.service,
                EXEC,
                ContentType::Json,
                Bytes::from(body),
                &CallOptions::new(),
            )
            .await?;
        let answer: ExecResponse = serde_json::from_slice(&answer).map_err(|e| {
            Error::internal(format!("{EXEC} answered what is not an ExecResponse: {e}"))
                .with_id(self.service.clone())
        })?;
        if !answer.error.is_empty() {
            // The command ran and failed: its own words, as a failed call.
            return Err(Error::internal(answer.error).with_id(self.service.clone()));
        }
        Ok(answer.result)
    }
}
