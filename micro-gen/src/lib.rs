//! The one generator of micro's service code, shared by `micro-codegen`
//! (from `.proto` files, at build time) and `micro-macros` (from a
//! `#[service]` impl, at compile time), so both produce the same typed
//! client, endpoint descriptors and handler registration.

#![forbid(unsafe_code)]

mod client;
mod model;
mod register;
mod trait_def;

pub use client::client;
pub use model::{Codecs, Kind, Method, Schemas, ServiceDef, SubscriberMethod, type_name};
pub use register::register_handler;
pub use trait_def::handler_trait;
