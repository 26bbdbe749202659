//! The attempts of one call: which nodes were tried, and after a failure,
//! whether to try again and after how long.

use std::sync::Arc;
use std::time::Duration;

use super::ClientOptions;
use super::retry::{RetryBudget, backoff, is_retryable};
use super::wrapper::{ClientBody, ClientRequest};
use crate::selector::NodeInfo;
use crate::{Context, Error};

/// What to do after a failed attempt.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Try again, after `wait` when the failed request had left the client.
    Retry { wait: Option<Duration>, err: Error },
    /// Give up with this error.
    GiveUp(Error),
}

/// The retry state of one call.
#[derive(Debug)]
pub(crate) struct Attempts {
    max_retries: u32,
    retries: u32,
    idempotent: bool,
    streaming: bool,
    tried: Vec<Arc<str>>,
}

impl Attempts {
    /// The state before the first attempt of `req`; `retries` unless the
    /// call's options set their own.
    pub(crate) fn new(req: &ClientRequest, retries: u32) -> Self {
        Self {
            max_retries: req.options.retries.unwrap_or(retries),
            retries: 0,
            idempotent: req.idempotent,
            streaming: matches!(req.body, ClientBody::Stream),
            tried: Vec::new(),
        }
    }

    /// Addresses already tried (selection prefers the others).
    pub(crate) fn tried(&self) -> &[Arc<str>] {
        &self.tried
    }

    /// Records a failed attempt on `node`. The node's advertised metadata
    /// may declare `endpoint` idempotent (`#[micro(idempotent)]` on a
    /// .proto handler), which makes more failures retryable.
    pub(crate) fn failed_on(&mut self, node: &NodeInfo, endpoint: &str) {
        self.idempotent |= node
            .endpoint(endpoint)
            .is_some_and(|e| e.metadata.get("idempotent").is_some_and(|v| v == "true"));
        self.tried.push(node.address.clone());
    }

    /// Whether to retry after `err`: never past the retry count or the
    /// deadline, nor once a stream's request has left; only what is safe to
    /// repeat; a request that reached a node only while the budget lasts
    /// and after a backoff that ends before the deadline.
    pub(crate) fn verdict(
        &mut self,
        err: Error,
        ctx: &Context,
        budget: &RetryBudget,
        options: &ClientOptions,
    ) -> Verdict {
        let stream_sent = self.streaming && !err.is_not_sent();
        if self.retries >= self.max_retries
            || stream_sent
            || ctx.is_expired()
            || !is_retryable(&err, self.idempotent)
        {
            return Verdict::GiveUp(err);
        }
        self.retries += 1;
        if err.is_not_sent() {
            return Verdict::Retry { wait: None, err };
        }
        if !budget.try_retry() {
            tracing::debug!(error = %err, "retry budget spent; not retrying");
            return Verdict::GiveUp(err);
        }
        let wait = backoff(options.backoff_base, options.backoff_max, self.retries);
        if ctx.remaining().is_some_and(|left| left <= wait) {
            return Verdict::GiveUp(err);
        }
        Verdict::Retry {
            wait: Some(wait),
            err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CallOptions;
    use crate::codec::ContentType;
    use crate::endpoint::CallKind;
    use crate::error::Origin;

    fn request(body: ClientBody, idempotent: bool, options: CallOptions) -> ClientRequest {
        ClientRequest {
            service: "svc".into(),
            endpoint: "Svc.Do".into(),
            package: "",
            kind: CallKind::Unary,
            content_type: ContentType::Protobuf,
            ctx: Context::new(),
            options,
            idempotent,
            body,
        }
    }

    fn unary(idempotent: bool) -> ClientRequest {
        request(
            ClientBody::Unary(Default::default()),
            idempotent,
            CallOptions::new(),
        )
    }

    fn options(retries: u32) -> ClientOptions {
        ClientOptions {
            retries,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            ..ClientOptions::default()
        }
    }

    fn refused() -> Error {
        Error::unavailable("refused").with_origin(Origin::NotSent)
    }

    fn retried(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Retry { .. })
    }

    #[test]
    fn a_request_that_never_left_is_retried_at_once_up_to_the_count() {
        let (budget, options) = (RetryBudget::new(0.0, 0.0), options(2));
        let mut attempts = Attempts::new(&unary(false), options.retries);
        for _ in 0..2 {
            let verdict = attempts.verdict(refused(), &Context::new(), &budget, &options);
            assert!(
                matches!(verdict, Verdict::Retry { wait: None, .. }),
                "{verdict:?}"
            );
        }
        let verdict = attempts.verdict(refused(), &Context::new(), &budget, &options);
        assert!(matches!(verdict, Verdict::GiveUp(_)), "{verdict:?}");
    }

    #[test]
    fn the_call_options_count_wins() {
        let req = request(
            ClientBody::Unary(Default::default()),
            false,
            CallOptions::new().retries(0),
        );
        let (budget, options) = (RetryBudget::default(), options(5));
        let mut attempts = Attempts::new(&req, options.retries);
        let verdict = attempts.verdict(refused(), &Context::new(), &budget, &options);
        assert!(!retried(&verdict));
    }

    #[test]
    fn a_sent_request_waits_and_spends_the_budget() {
        let (budget, options) = (RetryBudget::new(0.0, 0.0), options(3));
        let mut attempts = Attempts::new(&unary(false), options.retries);
        let busy = Error::unavailable("busy");
        let verdict = attempts.verdict(busy.clone(), &Context::new(), &budget, &options);
        assert!(
            matches!(verdict, Verdict::GiveUp(_)),
            "empty budget: {verdict:?}"
        );
        let budget = RetryBudget::new(0.0, 1.0);
        let verdict = attempts.verdict(busy, &Context::new(), &budget, &options);
        assert!(
            matches!(verdict, Verdict::Retry { wait: Some(_), .. }),
            "{verdict:?}"
        );
    }

    #[test]
    fn timeouts_are_retried_only_when_idempotent() {
        let (budget, options) = (RetryBudget::default(), options(3));
        let slow = || Error::timeout("slow").with_origin(Origin::Transport);
        let mut once = Attempts::new(&unary(false), options.retries);
        assert!(!retried(&once.verdict(
            slow(),
            &Context::new(),
            &budget,
            &options
        )));
        let mut safe = Attempts::new(&unary(true), options.retries);
        assert!(retried(&safe.verdict(
            slow(),
            &Context::new(),
            &budget,
            &options
        )));
    }

    #[test]
    fn a_stream_is_not_retried_once_sent() {
        let req = request(ClientBody::Stream, true, CallOptions::new());
        let (budget, options) = (RetryBudget::default(), options(3));
        let mut attempts = Attempts::new(&req, options.retries);
        let verdict = attempts.verdict(
            Error::unavailable("busy"),
            &Context::new(),
            &budget,
            &options,
        );
        assert!(!retried(&verdict));
        assert!(retried(&attempts.verdict(
            refused(),
            &Context::new(),
            &budget,
            &options
        )));
    }

    #[test]
    fn nothing_is_retried_past_the_deadline() {
        let (budget, options) = (RetryBudget::default(), options(3));
        let mut attempts = Attempts::new(&unary(true), options.retries);
        let expired = Context::new().with_timeout(Duration::ZERO);
        assert!(!retried(&attempts.verdict(
            refused(),
            &expired,
            &budget,
            &options
        )));
    }
}
