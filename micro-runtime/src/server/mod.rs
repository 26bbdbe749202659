//! The server side: handlers, routing, dispatch.
//!
//! [`HandlerBuilder`] turns typed functions into a [`Handler`]; a service
//! routes `<Handler>.<Method>` names to them behind its handler wrappers.

mod handler;
mod router;
pub(crate) mod wrapper;

pub use handler::{Handler, HandlerBuilder, IntoHandler};
pub(crate) use router::Router;
