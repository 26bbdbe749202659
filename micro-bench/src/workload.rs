//! The workloads: unary calls with a small and a 1 KiB name at several
//! concurrencies, and the three kinds of streams.

use serde::Serialize;

use crate::payload::{self, Payload};

/// What a cell measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Unary `Hello` with the name "John".
    Small,
    /// Unary `Hello` with a 1024-byte name.
    Large,
    /// Server streaming: one `HelloStream` call streaming many small
    /// messages back, repeated.
    Stream,
    /// Client streaming: one `Collect` call sending many small requests,
    /// answered by one response, repeated.
    ClientStream,
    /// Bidirectional streaming: one `Chat` call sending many small requests
    /// while reading the response to each, repeated.
    Bidi,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 5] = [
        Workload::Small,
        Workload::Large,
        Workload::Stream,
        Workload::ClientStream,
        Workload::Bidi,
    ];

    /// Its label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Small => "unary 4B",
            Workload::Large => "unary 1KiB",
            Workload::Stream => "server stream",
            Workload::ClientStream => "client stream",
            Workload::Bidi => "bidi stream",
        }
    }

    /// The request it sends.
    pub fn payload(self) -> Payload {
        match self {
            Workload::Large => Payload::new(payload::large_name()),
            _ => Payload::new(payload::SMALL_NAME),
        }
    }

    /// Whether its rate counts streamed messages rather than calls.
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Workload::Stream | Workload::ClientStream | Workload::Bidi
        )
    }
}

/// The concurrencies measured by default (calls in flight at once).
pub const DEFAULT_CONCURRENCY: [usize; 4] = [1, 16, 64, 256];
