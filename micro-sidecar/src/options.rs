//! What a sidecar runs: the application, its endpoints, its
//! subscriptions, its health check, and the limits of its HTTP side.

use std::time::Duration;

use micro_runtime::Error;
use micro_runtime::endpoint::DynamicEndpoint;

/// A topic delivered to the application: `TOPIC[:QUEUE]=/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The topic.
    pub topic: String,
    /// The queue group, if any (each event goes to one member).
    pub queue: Option<String>,
    /// Where events are POSTed on the application, e.g. `/events`.
    pub path: String,
}

impl std::str::FromStr for Subscription {
    type Err = Error;

    /// Parses `TOPIC[:QUEUE]=/path`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::bad_request(format!(
                "subscription {text:?} is not TOPIC[:QUEUE]=/path (e.g. user.signup:mailer=/events)"
            ))
        };
        let (topic, path) = text.split_once('=').ok_or_else(bad)?;
        let (topic, queue) = match topic.split_once(':') {
            Some((topic, queue)) => (topic, Some(queue.to_owned())),
            None => (topic, None),
        };
        if topic.is_empty() || queue.as_deref() == Some("") || !path.starts_with('/') {
            return Err(bad());
        }
        Ok(Self {
            topic: topic.to_owned(),
            queue,
            path: path.to_owned(),
        })
    }
}

/// Everything a [`Sidecar`](crate::Sidecar) needs besides its service.
#[derive(Clone, Debug)]
pub struct SidecarOptions {
    /// The application's base URL, `http://127.0.0.1:5000`.
    pub app: String,
    /// The endpoints it serves (calls to `Greeter.Hello` go to
    /// `POST {app}/Greeter.Hello`).
    pub endpoints: Vec<DynamicEndpoint>,
    /// The topics delivered to it.
    pub subscriptions: Vec<Subscription>,
    /// Its health URL path (`/health`): 2xx is up. `None`: up while it
    /// accepts TCP connections.
    pub health: Option<String>,
    /// How often its health is asked (default 2 s).
    pub health_interval: Duration,
    /// The largest body taken from or given to the application (default 4 MiB).
    pub max_body: usize,
    /// How long a call through the sidecar's HTTP side may take when the
    /// request sets no `Timeout` header (default 30 s).
    pub timeout: Duration,
    /// Serve the HTTP side beyond loopback.
    pub insecure: bool,
}

impl SidecarOptions {
    /// Options for the application at `app` serving `endpoints`.
    pub fn new(app: impl Into<String>, endpoints: Vec<DynamicEndpoint>) -> Self {
        Self {
            app: app.into(),
            endpoints,
            subscriptions: Vec::new(),
            health: None,
            health_interval: Duration::from_secs(2),
            max_body: 4 << 20,
            timeout: Duration::from_secs(30),
            insecure: false,
        }
    }

    /// The gateway options of the HTTP side (its `/rpc` and calls).
    pub(crate) fn gateway(&self) -> micro_gateway::GatewayOptions {
        micro_gateway::GatewayOptions::new()
            .dashboard(false)
            .max_body(self.max_body)
            .timeout(self.timeout)
            .insecure(self.insecure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse() {
        let s: Subscription = "user.signup:mailer=/events".parse().unwrap();
        assert_eq!(s.topic, "user.signup");
        assert_eq!(s.queue.as_deref(), Some("mailer"));
        assert_eq!(s.path, "/events");
        let s: Subscription = "t=/e".parse().unwrap();
        assert_eq!(s.queue, None);
        for bad in ["t", "t=e", "=/e", "t:=/e"] {
            let err = bad.parse::<Subscription>().unwrap_err();
            assert_eq!(err.code(), 400, "{bad}");
        }
    }
}
