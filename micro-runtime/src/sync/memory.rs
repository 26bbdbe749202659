//! Locks and elections inside one process: the same contract as the etcd
//! backend (a queue per name, first come first served; a token that grows
//! with every acquisition; observers), for tests and single-process
//! programs. Nothing expires: a guard holds until released or dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::belief::Belief;
use super::guard::Release;
use super::{Elections, Guard, ID, LeaderInfo, Locks, Observer, check_name};
use crate::{Error, Result};

/// In-process locks and elections. Clones share their state.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> micro_runtime::Result<()> {
/// use std::time::Duration;
/// use micro_runtime::sync::{Locks, memory::MemorySync};
///
/// let sync = MemorySync::new();
/// let guard = sync.acquire("invoices", Duration::from_secs(1)).await?;
/// assert!(sync.acquire("invoices", Duration::from_millis(10)).await.unwrap_err().is_timeout());
/// let token = guard.check()?; // right before acting
/// guard.release().await?;
/// assert!(sync.acquire("invoices", Duration::from_secs(1)).await?.token() > token);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySync {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// The last ticket handed out; tickets are the tokens.
    last: u64,
    names: HashMap<String, Queue>,
}

#[derive(Debug)]
struct Queue {
    /// Ticket -> (value, belief); the first entry holds.
    waiting: BTreeMap<u64, (String, Arc<Belief>)>,
    /// The holder, for waiters and observers.
    holder: watch::Sender<Option<LeaderInfo>>,
}

impl Queue {
    fn front(&self) -> Option<LeaderInfo> {
        self.waiting
            .iter()
            .next()
            .map(|(ticket, (value, _))| LeaderInfo {
                value: value.clone(),
                token: *ticket,
            })
    }
}

/// Takes a ticket out of a queue (on release, drop or timeout).
struct Leave {
    inner: Arc<Mutex<State>>,
    name: String,
    ticket: u64,
}

impl Leave {
    fn now(&self) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = state.names.get_mut(&self.name) else {
            return;
        };
        if let Some((_, belief)) = queue.waiting.remove(&self.ticket) {
            belief.end("released");
        }
        let front = queue.front();
        queue.holder.send_if_modified(|holder| {
            let changed = *holder != front;
            *holder = front;
            changed
        });
        if queue.waiting.is_empty() && queue.holder.receiver_count() == 0 {
            state.names.remove(&self.name);
        }
    }
}

#[async_trait::async_trait]
impl Release for Leave {
    async fn release(&self) -> Result<()> {
        self.now();
        Ok(())
    }
}

/// A queued claim that leaves the queue unless it became a guard.
struct Pending(Option<Leave>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(leave) = self.0.take() {
            leave.now();
        }
    }
}

impl MemorySync {
    /// An empty set of locks and elections.
    pub fn new() -> Self {
        Self::default()
    }

    async fn claim(&self, name: &str, value: &str, timeout: Option<Duration>) -> Result<Guard> {
        let belief = Arc::new(Belief::new(None));
        let (ticket, mut holder) = {
            let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            state.last += 1;
            let ticket = state.last;
            let queue = state.names.entry(name.to_owned()).or_insert_with(|| Queue {
                waiting: BTreeMap::new(),
                holder: watch::Sender::new(None),
            });
            queue
                .waiting
                .insert(ticket, (value.to_owned(), belief.clone()));
            let front = queue.front();
            queue.holder.send_if_modified(|holder| {
                let changed = *holder != front;
                *holder = front;
                changed
            });
            (ticket, queue.holder.subscribe())
        };
        let mut pending = Pending(Some(Leave {
            inner: self.inner.clone(),
            name: name.to_owned(),
            ticket,
        }));
        let turn = async {
            loop {
                if holder
                    .borrow_and_update()
                    .as_ref()
                    .is_some_and(|h| h.token == ticket)
                {
                    return;
                }
                if holder.changed().await.is_err() {
                    // The queue cannot go while this claim is in it.
                    std::future::pending::<()>().await;
                }
            }
        };
        match timeout {
            Some(limit) => tokio::time::timeout(limit, turn).await.map_err(|_| {
                Error::timeout(format!(
                    "{name:?} is still held by another after {} ms",
                    limit.as_millis()
                ))
                .with_id(ID)
            })?,
            None => turn.await,
        }
        let leave = pending.0.take().expect("the claim is pending");
        Ok(Guard::new(name, ticket, belief, Arc::new(leave)))
    }
}

#[async_trait::async_trait]
impl Locks for MemorySync {
    async fn acquire(&self, name: &str, timeout: Duration) -> Result<Guard> {
        check_name("lock", name)?;
        self.claim(name, "", Some(timeout)).await
    }
}

#[async_trait::async_trait]
impl Elections for MemorySync {
    async fn campaign(&self, name: &str, value: &str) -> Result<Guard> {
        check_name("election", name)?;
        self.claim(name, value, None).await
    }

    async fn leader(&self, name: &str) -> Result<Option<LeaderInfo>> {
        check_name("election", name)?;
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(state.names.get(name).and_then(Queue::front))
    }

    async fn observe(&self, name: &str) -> Result<Observer> {
        check_name("election", name)?;
        let holder = {
            let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let queue = state.names.entry(name.to_owned()).or_insert_with(|| Queue {
                waiting: BTreeMap::new(),
                holder: watch::Sender::new(None),
            });
            queue.holder.subscribe()
        };
        let changes =
            futures_util::stream::unfold((holder, true), |(mut holder, first)| async move {
                if !first && holder.changed().await.is_err() {
                    return None;
                }
                let now = holder.borrow_and_update().clone();
                Some((Ok(now), (holder, false)))
            });
        Ok(Observer::new(changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn one_holder_at_a_time_and_tokens_grow() {
        let sync = MemorySync::new();
        let first = sync.acquire("a", LONG).await.unwrap();
        assert!(first.is_held());
        assert_eq!(first.deadline(), None);
        let busy = sync
            .acquire("a", Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(busy.is_timeout(), "{busy}");
        assert_eq!(busy.id(), "micro.sync");
        // Another name is independent.
        let other = sync.acquire("b", LONG).await.unwrap();

        let waiter = tokio::spawn({
            let sync = sync.clone();
            async move { sync.acquire("a", LONG).await }
        });
        let token = first.token();
        first.release().await.unwrap();
        let second = waiter.await.unwrap().unwrap();
        assert!(second.token() > token);
        assert!(second.token() > other.token());
    }

    #[tokio::test]
    async fn waiters_are_served_in_order() {
        let sync = MemorySync::new();
        let holder = sync.acquire("q", LONG).await.unwrap();
        let (tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let mut waiters = Vec::new();
        for i in 0..3 {
            let shared = sync.clone();
            let tx = tx.clone();
            waiters.push(tokio::spawn(async move {
                let guard = shared.acquire("q", LONG).await.unwrap();
                tx.send((i, guard.token())).unwrap();
                guard.release().await.unwrap();
            }));
            // Each waiter queues before the next one starts.
            while sync.inner.lock().unwrap().names["q"].waiting.len() < i + 2 {
                tokio::task::yield_now().await;
            }
        }
        holder.release().await.unwrap();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let mut last = 0;
        for expected in 0..3 {
            let (i, token) = order.recv().await.unwrap();
            assert_eq!(i, expected);
            assert!(token > last);
            last = token;
        }
    }

    #[tokio::test]
    async fn a_timed_out_or_dropped_claim_leaves_the_queue() {
        let sync = MemorySync::new();
        let holder = sync.acquire("t", LONG).await.unwrap();
        assert!(sync.acquire("t", Duration::from_millis(5)).await.is_err());
        let dropped = tokio::spawn({
            let sync = sync.clone();
            async move { sync.acquire("t", LONG).await }
        });
        while sync.inner.lock().unwrap().names["t"].waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        dropped.abort();
        let _ = dropped.await;
        assert_eq!(sync.inner.lock().unwrap().names["t"].waiting.len(), 1);
        drop(holder);
        // The dropped guard released: the lock is free at once.
        sync.acquire("t", Duration::from_millis(100)).await.unwrap();
    }

    #[tokio::test]
    async fn a_released_guard_reports_lost_and_refuses_to_act() {
        let sync = MemorySync::new();
        let guard = sync.campaign("e", "node-1").await.unwrap();
        let token = guard.check().unwrap();
        let lost = tokio::spawn({
            let sync = sync.clone();
            async move {
                let mut observer = sync.observe("e").await.unwrap();
                observer.next().await.unwrap()
            }
        });
        assert_eq!(
            lost.await.unwrap(),
            Some(LeaderInfo {
                value: "node-1".into(),
                token
            })
        );
        // `lost` resolves when the guard ends (here: release through a clone of the state).
        let leave = Leave {
            inner: sync.inner.clone(),
            name: "e".into(),
            ticket: token,
        };
        leave.now();
        let err = guard.lost().await;
        assert!(err.is_conflict(), "{err}");
        assert!(guard.check().unwrap_err().detail().contains("released"));
        assert!(!guard.is_held());
    }

    #[tokio::test]
    async fn observers_follow_the_leaders() {
        let sync = MemorySync::new();
        let mut observer = sync.observe("o").await.unwrap();
        assert_eq!(observer.next().await.unwrap(), None);
        let first = sync.campaign("o", "a").await.unwrap();
        assert_eq!(observer.next().await.unwrap().unwrap().value, "a");
        let second = tokio::spawn({
            let sync = sync.clone();
            async move { sync.campaign("o", "b").await.unwrap() }
        });
        while sync.inner.lock().unwrap().names["o"].waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        first.release().await.unwrap();
        let now = observer.next().await.unwrap().unwrap();
        assert_eq!(now.value, "b");
        let second = second.await.unwrap();
        assert_eq!(now.token, second.token());
        assert_eq!(sync.leader("o").await.unwrap(), Some(now));
        second.release().await.unwrap();
        assert_eq!(observer.next().await.unwrap(), None);
        assert_eq!(sync.leader("o").await.unwrap(), None);
    }

    #[tokio::test]
    async fn empty_names_are_refused() {
        let sync = MemorySync::new();
        let err = sync.acquire("", LONG).await.unwrap_err();
        assert!(err.is_bad_request(), "{err}");
        assert!(sync.campaign(" ", "v").await.unwrap_err().is_bad_request());
        assert!(sync.observe("").await.unwrap_err().is_bad_request());
        assert!(sync.leader("").await.unwrap_err().is_bad_request());
    }
}
