//! `micro publish` and `micro subscribe` with the default HTTP broker (no
//! broker server), over mDNS in a private network namespace: bodies and
//! envelopes, headers, stdin, topics kept apart, queue groups.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{LIMIT, Place, Proc, interrupt, line_where};

fn next_json(proc: &Proc) -> Value {
    let line = line_where(proc, "a message", |_| true);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn a_published_message_reaches_every_subscriber_of_its_topic() {
    let place = Place::mdns();
    let mut bodies = place.spawn("micro subscribe t", &["subscribe", "t"]);
    bodies.wait_stderr("subscribed to t (Ctrl-C to stop)", LIMIT);
    let mut envelopes = place.spawn(
        "micro subscribe t -o json",
        &["subscribe", "t", "-o", "json"],
    );
    envelopes.wait_stderr("subscribed to t (Ctrl-C to stop)", LIMIT);

    let out = place.run(&["publish", "t", r#"{"a":1}"#]);
    assert_eq!(out.success(), "");
    assert_eq!(out.stderr.trim(), "published to t");
    assert_eq!(next_json(&bodies), json!({"a": 1}));
    let envelope = next_json(&envelopes);
    assert_eq!(envelope["topic"], "t", "{envelope:#}");
    assert_eq!(envelope["body"], json!({"a": 1}));
    assert_eq!(envelope["redelivered"], false);
    assert_eq!(envelope["headers"]["content-type"], "application/json");

    // From stdin, with headers.
    let out = place.run_with_stdin(
        &[
            "publish",
            "t",
            "-",
            "-m",
            "tenant=acme",
            "--metadata",
            "k=v",
        ],
        "{\"b\":[1,2]}\n",
    );
    out.success();
    assert_eq!(next_json(&bodies), json!({"b": [1, 2]}));
    let envelope = next_json(&envelopes);
    assert_eq!(envelope["body"], json!({"b": [1, 2]}));
    assert_eq!(envelope["headers"]["tenant"], "acme", "{envelope:#}");
    assert_eq!(envelope["headers"]["k"], "v", "{envelope:#}");

    // Another topic's message is not delivered here; `-o json` says what
    // was published.
    assert_eq!(
        place
            .run(&["publish", "other", r#"{"x":0}"#, "-o", "json"])
            .json(),
        json!({"topic": "other", "published": true})
    );
    place.run(&["publish", "t", r#"{"c":true}"#]).success();
    assert_eq!(next_json(&bodies), json!({"c": true}));
    assert_eq!(next_json(&envelopes)["body"], json!({"c": true}));

    interrupt(&mut bodies);
    interrupt(&mut envelopes);
    assert_eq!(bodies.rest(), Vec::<String>::new());
    // Nothing more was delivered (with `-o json`, the interruption may
    // follow as an error object).
    let more: Vec<String> = envelopes
        .rest()
        .into_iter()
        .filter(|l| !l.starts_with(r#"{"error":"#))
        .collect();
    assert_eq!(more, Vec::<String>::new());
}

#[test]
fn a_queue_group_shares_the_messages_while_a_plain_subscriber_gets_them_all() {
    let place = Place::mdns();
    let mut workers: Vec<Proc> = (1..=2)
        .map(|i| {
            let worker = place.spawn(
                &format!("micro subscribe --queue workers ({i})"),
                &["subscribe", "jobs", "--queue", "workers"],
            );
            worker.wait_stderr("subscribed to jobs in queue workers", LIMIT);
            worker
        })
        .collect();
    let mut audit = place.spawn("micro subscribe jobs", &["subscribe", "jobs"]);
    audit.wait_stderr("subscribed to jobs (Ctrl-C to stop)", LIMIT);

    const COUNT: u64 = 6;
    for n in 0..COUNT {
        place
            .run(&["publish", "jobs", &format!(r#"{{"n":{n}}}"#)])
            .success();
    }
    let mut all: Vec<u64> = (0..COUNT)
        .map(|_| next_json(&audit)["n"].as_u64().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..COUNT).collect::<Vec<_>>());

    // Each message to one member of the group.
    let mut taken: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let deadline = Instant::now() + LIMIT;
    while taken.values().map(Vec::len).sum::<usize>() < COUNT as usize {
        assert!(
            Instant::now() < deadline,
            "the group took only {taken:?} of {COUNT} messages"
        );
        for (i, worker) in workers.iter().enumerate() {
            if let Some(line) = worker.next_line(Duration::from_millis(50)) {
                let n = serde_json::from_str::<Value>(&line).unwrap()["n"]
                    .as_u64()
                    .unwrap();
                taken.entry(n).or_default().push(i);
            }
        }
    }
    for worker in &mut workers {
        interrupt(worker);
        for line in worker.rest() {
            let n = serde_json::from_str::<Value>(&line).unwrap()["n"]
                .as_u64()
                .unwrap();
            taken.entry(n).or_default().push(usize::MAX);
        }
    }
    assert_eq!(
        taken.keys().copied().collect::<Vec<_>>(),
        (0..COUNT).collect::<Vec<_>>()
    );
    assert!(
        taken.values().all(|members| members.len() == 1),
        "each message went to exactly one member: {taken:?}"
    );
    interrupt(&mut audit);
}
