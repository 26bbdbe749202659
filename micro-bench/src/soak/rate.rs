//! The fixed-rate load: calls are started on a schedule (not when the
//! previous one ends), so a slow server shows up as latency and calls in
//! flight rather than as a lower rate.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::SoakArgs;
use crate::load::{Outcome, Tally};
use crate::payload;
use crate::pb;

/// How often the scheduler starts the calls that are due.
const TICK: Duration = Duration::from_millis(5);

/// Calls in flight at most; a call due beyond it fails as "client behind"
/// (the run then measures the client, not the servers).
const MAX_IN_FLIGHT: u32 = 20_000;

/// How long calls still in flight at the end may take.
const FINAL_GRACE: Duration = Duration::from_secs(30);

/// The load and what it counted.
pub(super) struct Load {
    greeter: pb::GreeterClient,
    rate: u32,
    stream_every: u32,
    stream_messages: u32,
    in_flight: Arc<Semaphore>,
    window: Mutex<(Tally, Instant)>,
    totals: Mutex<Tally>,
}

impl Load {
    pub(super) fn new(greeter: pb::GreeterClient, args: &SoakArgs) -> Self {
        Self {
            greeter,
            rate: args.rate.max(1),
            stream_every: args.stream_every,
            stream_messages: args.stream_messages.max(1),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize)),
            window: Mutex::new((Tally::new(), Instant::now())),
            totals: Mutex::new(Tally::new()),
        }
    }

    /// Starts calls on schedule until `end`, waits for the last ones, and
    /// returns the totals.
    pub(super) async fn drive(self: Arc<Self>, end: Instant) -> Outcome {
        let start = Instant::now();
        let mut started: u64 = 0;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = Instant::now();
            if now >= end {
                break;
            }
            let due = ((now - start).as_secs_f64() * f64::from(self.rate)) as u64;
            while started < due {
                let stream =
                    self.stream_every > 0 && started.is_multiple_of(u64::from(self.stream_every));
                started += 1;
                match self.in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let load = self.clone();
                        tokio::spawn(async move {
                            load.one(stream).await;
                            drop(permit);
                        });
                    }
                    Err(_) => self.count(Err("client behind: too many calls in flight".into())),
                }
            }
        }
        let all = MAX_IN_FLIGHT;
        let drained = tokio::time::timeout(FINAL_GRACE, self.in_flight.acquire_many(all)).await;
        if drained.is_err() {
            let stuck = all as usize - self.in_flight.available_permits();
            for _ in 0..stuck {
                self.count(Err(format!(
                    "still in flight {FINAL_GRACE:?} after the end"
                )));
            }
        }
        let totals = std::mem::take(&mut *self.totals.lock().expect("totals lock"));
        totals.into_outcome(start.elapsed())
    }

    /// What was counted since the last call, as one window.
    pub(super) fn take_window(&self) -> Outcome {
        let mut window = self.window.lock().expect("window lock");
        let (tally, since) = std::mem::replace(&mut *window, (Tally::new(), Instant::now()));
        tally.into_outcome(since.elapsed())
    }

    async fn one(&self, stream: bool) {
        let begun = Instant::now();
        let result = if stream {
            self.stream().await
        } else {
            self.hello().await
        };
        self.count(result.map(|()| begun.elapsed()));
    }

    async fn hello(&self) -> Result<(), String> {
        let response = self
            .greeter
            .hello(pb::Request {
                name: "John".into(),
            })
            .await
            .map_err(|e| e.to_string())?;
        check(
            response.greeting == payload::greeting("John"),
            "a wrong greeting",
        )
    }

    async fn stream(&self) -> Result<(), String> {
        let request = pb::Request {
            name: payload::stream_request("John", self.stream_messages),
        };
        let mut responses = self
            .greeter
            .hello_stream(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut received = 0;
        while responses.recv().await.map_err(|e| e.to_string())?.is_some() {
            received += 1;
        }
        check(
            received == self.stream_messages,
            &format!(
                "a stream of {received} of {} messages",
                self.stream_messages
            ),
        )
    }

    fn count(&self, result: Result<Duration, String>) {
        let mut totals = self.totals.lock().expect("totals lock");
        let mut window = self.window.lock().expect("window lock");
        match result {
            Ok(latency) => {
                totals.record(latency);
                window.0.record(latency);
            }
            Err(error) => {
                totals.fail(error.clone());
                window.0.fail(error);
            }
        }
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}
