//! Limits on what clients may ask of the gateway: requests per client
//! address ([`rate`], 429) and calls in flight per service
//! ([`in_flight`], 503), and who a client is ([`client`]).

pub(crate) mod client;
pub(crate) mod in_flight;
pub(crate) mod rate;
