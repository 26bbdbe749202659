//! The internal `Debug` handler every service answers (not advertised):
//!
//! * `Debug.Health` -> `{"status":"ok"}`;
//! * `Debug.Describe` -> a [`ServiceDescription`]: every endpoint and
//!   subscription with the JSON Schema of its messages, and the encoded
//!   descriptor sets of its proto packages, so that tools (CLI, gateway,
//!   MCP) need no `.proto` file. [`Describer`] fetches and caches it.

mod describe;
mod describer;
mod health;
mod probe;
mod wire;

pub(crate) use describe::describe;
pub use describe::{
    DESCRIBE, DescribeRequest, DescriptorSet, EndpointDescription, ServiceDescription,
    SubscriptionDescription,
};
pub use describer::Describer;
pub use health::{HEALTH, HealthRequest, HealthResponse};
pub use probe::{NodeHealth, probe_health};

use crate::server::{Handler, HandlerBuilder};

/// The handler serving `Debug.*`; `Debug.Describe` answers `description`.
pub(crate) fn handler(description: ServiceDescription) -> Handler {
    HandlerBuilder::new(description)
        .unary(HEALTH, |_, _, _: HealthRequest| async {
            Ok(HealthResponse {
                status: "ok".into(),
            })
        })
        .unary(DESCRIBE, |description, _, _: DescribeRequest| async move {
            Ok(ServiceDescription::clone(&description))
        })
        .build()
        .internal()
}
