//! The label sets of micro's series, and the cap on how many a family may
//! hold: names that come from callers (a gateway forwards any path) must
//! not grow a scrape without bound.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;

/// Most distinct (service, endpoint) pairs, or topics, a family tracks;
/// later ones share the series labelled [`OVERFLOW`].
pub(crate) const MAX_SERIES: usize = 1000;

/// The label value of the series that takes what is over [`MAX_SERIES`].
pub(crate) const OVERFLOW: &str = "_other";

/// An endpoint of a service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    pub(crate) service: Arc<str>,
    pub(crate) endpoint: Arc<str>,
}

/// An endpoint of a service and how a call ended: `200`, or the error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CodeLabels {
    pub(crate) service: Arc<str>,
    pub(crate) endpoint: Arc<str>,
    pub(crate) code: u16,
}

impl EndpointLabels {
    /// These labels with `code`.
    pub(crate) fn with_code(&self, code: u16) -> CodeLabels {
        CodeLabels {
            service: self.service.clone(),
            endpoint: self.endpoint.clone(),
            code,
        }
    }
}

/// A service.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ServiceLabels {
    pub(crate) service: Arc<str>,
}

/// A topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabels {
    pub(crate) topic: Arc<str>,
}

/// A topic and how a publish or a delivery ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicCodeLabels {
    pub(crate) topic: Arc<str>,
    pub(crate) code: u16,
}

/// The `code` label of a result: 200, or the error's code.
pub(crate) fn code_of<T>(result: &crate::Result<T>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(err) => err.code(),
    }
}
