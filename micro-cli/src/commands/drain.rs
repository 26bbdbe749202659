//! How a server command (`micro gateway`, `micro mcp serve --address`)
//! stops: on Ctrl-C or SIGTERM it lets the requests in flight finish, for a
//! bounded time; a second signal stops it at once.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Shared;

/// How long requests in flight may take to finish after the signal.
pub(crate) const DRAIN: Duration = Duration::from_secs(10);

/// The first Ctrl-C or SIGTERM, shared by whoever waits for it.
pub(crate) type Signal = Shared<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// The shutdown signal, its handlers installed now: call it before printing
/// that the server listens, so a signal sent on reading that line stops it
/// gracefully instead of killing it.
pub(crate) fn signal() -> Signal {
    let signal: Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(micro_runtime::shutdown_signal());
    let signal = signal.shared();
    // Polled once, the handlers are installed.
    let _ = signal.clone().now_or_never();
    signal
}

/// Runs `served` (which drains on `signal`) to its end; `None` when it had
/// not ended `bound` after the signal, or at a second signal.
pub(crate) async fn bounded<T>(
    served: impl Future<Output = T>,
    signal: Signal,
    bound: Duration,
) -> Option<T> {
    let gave_up = async {
        signal.await;
        tokio::select! {
            () = tokio::time::sleep(bound) => {}
            () = micro_runtime::shutdown_signal() => {}
        }
    };
    tokio::select! {
        served = served => Some(served),
        () = gave_up => None,
    }
}
