//! The queue from a connection's reader to one remote stream's reader.
//!
//! Cheaper per message than a channel: a push is one short lock that wakes
//! the reader only when it waits, and the reader takes everything queued
//! at once, then reads it without locking. A push may be a whole run of
//! messages ([`MessageRun`]), which the reader takes apart. It has no bound
//! of its own: the connection's reader charges every message to the
//! stream's flow-control window first ([`super::InboundBudget`]), and each
//! costs at least [`super::MESSAGE_OVERHEAD`] bytes of it, so a window
//! bounds the queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use super::StreamItem;
use super::run::MessageRun;

/// What a push queues: one item, or a run of messages.
enum Queued {
    Item(StreamItem),
    Run(MessageRun),
}

struct Shared {
    state: Mutex<State>,
}

struct State {
    items: VecDeque<Queued>,
    /// The reader waiting for an item.
    waker: Option<Waker>,
    /// Live [`Inbound`] handles; at zero the reader sees the end.
    writers: usize,
    /// The reader is gone: pushes fail.
    reader_gone: bool,
}

/// A queue for one stream: the writing handle (kept by the connection's
/// reader) and the reading end.
pub(crate) fn inbound() -> (Inbound, InboundReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waker: None,
            writers: 1,
            reader_gone: false,
        }),
    });
    (
        Inbound {
            shared: shared.clone(),
        },
        InboundReceiver {
            shared,
            run: MessageRun::empty(),
            taken: VecDeque::new(),
        },
    )
}

/// Pushes a stream's items; the reader sees the end once every handle is
/// dropped.
pub(crate) struct Inbound {
    shared: Arc<Shared>,
}

impl Inbound {
    /// Queues `item`; gives it back when the reader is gone.
    pub(crate) fn try_send(&self, item: StreamItem) -> Result<(), StreamItem> {
        let waker = {
            let mut state = self.shared.state.lock().unwrap();
            if state.reader_gone {
                return Err(item);
            }
            state.items.push_back(Queued::Item(item));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Queues every message of `run`, then `end` when there is one, under
    /// one lock with at most one wake-up; false when the reader is gone.
    pub(crate) fn send_run(&self, run: MessageRun, end: Option<StreamItem>) -> bool {
        let waker = {
            let mut state = self.shared.state.lock().unwrap();
            if state.reader_gone {
                return false;
            }
            state.items.push_back(Queued::Run(run));
            if let Some(end) = end {
                state.items.push_back(Queued::Item(end));
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// True when the reader is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.state.lock().unwrap().reader_gone
    }
}

impl Clone for Inbound {
    fn clone(&self) -> Self {
        self.shared.state.lock().unwrap().writers += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.state.lock().unwrap();
            state.writers -= 1;
            if state.writers > 0 {
                return;
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Reads a stream's items in order.
pub(crate) struct InboundReceiver {
    shared: Arc<Shared>,
    /// The run being read.
    run: MessageRun,
    /// Items taken from the queue, not yet read.
    taken: VecDeque<Queued>,
}

impl InboundReceiver {
    /// The next item; `None` once every writer is gone and all was read.
    #[cfg(test)]
    pub(crate) fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<StreamItem>> {
        self.poll_recv_with(cx, &mut |buf, len| buf.split_to(len))
            .map(|item| {
                item.map(|item| match item {
                    Received::Read(_, body) => StreamItem::Message(body),
                    Received::Item(item) => item,
                })
            })
    }

    /// The next item, a message of a run handed to `read` in place (see
    /// [`MessageRun::read_next`]); `None` once every writer is gone and
    /// all was read.
    pub(crate) fn poll_recv_with<R>(
        &mut self,
        cx: &mut TaskContext<'_>,
        read: &mut impl FnMut(&mut bytes::Bytes, usize) -> R,
    ) -> Poll<Option<Received<R>>> {
        loop {
            if let Some(item) = self.next_taken(read) {
                return Poll::Ready(Some(item));
            }
            let mut state = self.shared.state.lock().unwrap();
            if !state.items.is_empty() {
                // Swap, so both queues keep their allocations.
                std::mem::swap(&mut state.items, &mut self.taken);
                continue;
            }
            if state.writers == 0 {
                return Poll::Ready(None);
            }
            match &mut state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
    }

    /// The next item of what was taken, without locking.
    fn next_taken<R>(
        &mut self,
        read: &mut impl FnMut(&mut bytes::Bytes, usize) -> R,
    ) -> Option<Received<R>> {
        loop {
            if let Some((len, made)) = self.run.read_next(&mut *read) {
                return Some(Received::Read(len, made));
            }
            match self.taken.pop_front()? {
                Queued::Item(item) => return Some(Received::Item(item)),
                Queued::Run(run) => self.run = run,
            }
        }
    }
}

/// What [`InboundReceiver::poll_recv_with`] gives.
pub(crate) enum Received<R> {
    /// A message of a run, `len` bytes, and what the reader made of it.
    Read(usize, R),
    /// A queued item (a message pushed on its own, or the end).
    Item(StreamItem),
}

impl Drop for InboundReceiver {
    fn drop(&mut self) {
        let items = {
            let mut state = self.shared.state.lock().unwrap();
            state.reader_gone = true;
            state.waker = None;
            std::mem::take(&mut state.items)
        };
        // Dropped outside the lock.
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::FutureExt as _;

    async fn recv(rx: &mut InboundReceiver) -> Option<StreamItem> {
        std::future::poll_fn(|cx| rx.poll_recv(cx)).await
    }

    fn body(item: Option<StreamItem>) -> Option<Bytes> {
        match item {
            Some(StreamItem::Message(body)) => Some(body),
            _ => None,
        }
    }

    #[tokio::test]
    async fn items_arrive_in_order_then_the_end() {
        let (tx, mut rx) = inbound();
        for n in 0..3u8 {
            tx.try_send(StreamItem::Message(Bytes::from(vec![n])))
                .unwrap();
        }
        assert_eq!(body(recv(&mut rx).await).as_deref(), Some(&[0u8][..]));
        tx.try_send(StreamItem::Message(Bytes::from_static(&[3])))
            .unwrap();
        for n in 1..4u8 {
            assert_eq!(body(recv(&mut rx).await).as_deref(), Some(&[n][..]));
        }
        let second = tx.clone();
        drop(tx);
        assert!(recv(&mut rx).now_or_never().is_none(), "a writer is left");
        drop(second);
        assert!(recv(&mut rx).await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken() {
        let (tx, mut rx) = inbound();
        let reader = tokio::spawn(async move { body(recv(&mut rx).await) });
        tokio::task::yield_now().await;
        tx.try_send(StreamItem::Message(Bytes::from_static(b"x")))
            .unwrap();
        assert_eq!(reader.await.unwrap().as_deref(), Some(&b"x"[..]));
    }

    #[tokio::test]
    async fn a_run_is_read_message_by_message_before_what_follows() {
        let (tx, mut rx) = inbound();
        let mut buf = bytes::BytesMut::new();
        for m in [&b"a"[..], b"bc"] {
            buf.extend_from_slice(&(m.len() as u32).to_be_bytes());
            buf.extend_from_slice(m);
        }
        let run = MessageRun::new(buf.freeze(), 4, 2, 3, 2);
        assert!(tx.send_run(run, Some(StreamItem::End(Ok(())))));
        assert_eq!(body(recv(&mut rx).await).as_deref(), Some(&b"a"[..]));
        assert_eq!(body(recv(&mut rx).await).as_deref(), Some(&b"bc"[..]));
        assert!(matches!(recv(&mut rx).await, Some(StreamItem::End(Ok(())))));
        drop(rx);
        assert!(
            !tx.send_run(MessageRun::empty(), None),
            "the reader is gone"
        );
    }

    #[test]
    fn pushes_fail_once_the_reader_is_gone() {
        let (tx, rx) = inbound();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert!(tx.try_send(StreamItem::End(Ok(()))).is_err());
    }
}
