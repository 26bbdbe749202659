//! Wrappers: middleware around every call a client makes and every request a
//! handler serves (authentication, logging, rate limiting, metrics, …).
//!
//! A wrapper receives the request and a `next` to call the rest of the chain
//! with; it may change the request, answer without calling `next`, or look at
//! the result. Wrappers run in the order they were added, the first outermost.
//! An empty chain costs nothing: the call goes straight to the handler.
//! Any tower `Layer` whose service has the right shape plugs in through
//! [`TowerHandlerLayer`] and [`TowerClientLayer`].

mod client;
mod handler;
mod subscriber;
mod tower;

pub(crate) use client::ClientChain;
pub use client::{ClientBody, ClientNext, ClientRequest, ClientResponse, ClientWrapper, client_fn};
pub(crate) use handler::{EndpointFn, HandlerChain};
pub use handler::{HandlerRequest, HandlerWrapper, Next, handler_fn};
pub(crate) use subscriber::SubscriberNames;
pub(crate) use subscriber::{SubscriberChain, SubscriberFn};
pub use subscriber::{SubscriberNext, SubscriberRequest, SubscriberWrapper, subscriber_fn};
pub use tower::{ClientNextService, NextService, TowerClientLayer, TowerHandlerLayer};
