//! Wrappers: middleware around every call a client makes, every request a
//! handler serves and every message a subscriber handles (authentication,
//! logging, rate limiting, metrics, …).
//!
//! All three kinds are one [`Wrapper`] trait over their request and
//! response types, run by one chain: a wrapper receives the request and a
//! [`Next`] to call the rest of the chain with; it may change the request,
//! answer without calling `next`, or look at the result. Wrappers run in
//! the order they were added, the first outermost. An empty chain costs
//! nothing: the call goes straight to the client, handler or subscriber.
//! Any tower `Layer` whose service has the right shape plugs in through
//! [`TowerLayer`] (aliases [`TowerHandlerLayer`], [`TowerClientLayer`],
//! [`TowerSubscriberLayer`]).
//!
//! This module only gathers them: each kind lives beside what it wraps
//! (`client`, `server`, `broker`), the chain below all three.

pub use crate::broker::wrapper::{
    SubscriberNext, SubscriberNextService, SubscriberRequest, SubscriberWrapper,
    TowerSubscriberLayer, subscriber_fn,
};
pub use crate::chain::{Chained, Next, NextService, TowerLayer, Wrapper, wrapper_fn};
pub use crate::client::wrapper::{
    ClientBody, ClientNext, ClientNextService, ClientRequest, ClientResponse, ClientWrapper,
    TowerClientLayer, client_fn,
};
pub use crate::server::wrapper::{
    HandlerNext, HandlerNextService, HandlerRequest, HandlerResponse, HandlerWrapper,
    TowerHandlerLayer, handler_fn,
};
