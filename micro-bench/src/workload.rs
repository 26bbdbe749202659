//! The workloads: unary calls with a small and a 1 KiB name at several
//! concurrencies, and server streaming.

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
    /// One `HelloStream` call streaming many small messages, repeated.
    Stream,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 3] = [Workload::Small, Workload::Large, Workload::Stream];

    /// Its label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Small => "unary 4B",
            Workload::Large => "unary 1KiB",
            Workload::Stream => "stream",
        }
    }

    /// The request it sends.
    pub fn payload(self) -> Payload {
        match self {
            Workload::Small | Workload::Stream => Payload::new(payload::SMALL_NAME),
            Workload::Large => Payload::new(payload::large_name()),
        }
    }

    /// Whether its rate counts streamed messages rather than calls.
    pub fn is_stream(self) -> bool {
        self == Workload::Stream
    }
}

/// The concurrencies measured by default (calls in flight at once).
pub const DEFAULT_CONCURRENCY: [usize; 4] = [1, 16, 64, 256];
