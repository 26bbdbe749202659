//! `micro stream` against greeter-server processes over mDNS in a private
//! network namespace: server, client and bidirectional streams through
//! stdin and stdout, responses printed as they arrive, and Ctrl-C
//! cancelling a call in flight.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{LIMIT, Place, SERVICE, greeting, interrupt, line_where};

#[test]
fn server_client_and_bidi_streams_go_through_stdin_and_stdout() {
    let place = Place::mdns();
    let _a = place.greeter("1.0.0", &[]);
    let _b = place.greeter("1.1.0", &[]);
    let three = |name: &str| {
        vec![
            greeting(&format!("{name} #1")),
            greeting(&format!("{name} #2")),
            greeting(&format!("{name} #3")),
        ]
    };

    // Server streaming: the request as an argument or as stdin's line.
    let out = place.run(&["stream", "greeter", "hello-stream", r#"{"name":"z"}"#]);
    out.ok();
    assert_eq!(out.json_lines(), three("z"));
    let out = place.run_with_stdin(
        &[
            "stream",
            SERVICE,
            "Greeter.HelloStream",
            "--version",
            "1.1.0",
        ],
        "{\"name\":\"y\"}\n",
    );
    out.ok();
    assert_eq!(out.json_lines(), three("y"));
    // `call` of a streaming endpoint prints its responses the same way.
    let out = place.run(&["call", "greeter", "HelloStream", r#"{"name":"c"}"#]);
    out.ok();
    assert_eq!(out.json_lines(), three("c"));

    // Client streaming: every line is a request, one response at the end.
    let out = place.run_with_stdin(
        &["stream", "greeter", "collect"],
        "{\"name\":\"a\"}\n\n{\"name\":\"b\"}\n",
    );
    out.ok();
    assert_eq!(out.json_lines(), [greeting("a, b")]);

    // Bidi, all at once.
    let out = place.run_with_stdin(
        &["stream", "greeter", "chat"],
        "{\"name\":\"A\"}\n{\"name\":\"B\"}\n{\"name\":\"C\"}\n",
    );
    out.ok();
    assert_eq!(
        out.json_lines(),
        [greeting("A"), greeting("B"), greeting("C")]
    );
}

#[test]
fn a_bidi_stream_answers_each_line_before_the_next_is_written() {
    let place = Place::mdns();
    let _a = place.greeter("1.0.0", &[]);
    let _b = place.greeter("1.1.0", &[]);
    let (mut chat, mut stdin) =
        place.spawn_with_stdin("micro stream chat", &["stream", "greeter", "chat"]);
    for name in ["one", "two", "three"] {
        writeln!(stdin, "{{\"name\":\"{name}\"}}").unwrap();
        stdin.flush().unwrap();
        // The answer arrives while stdin is still open: it streams.
        let line = line_where(&chat, "a greeting", |_| true);
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(answer, greeting(name), "{line}");
    }
    drop(stdin);
    let status = chat.wait_exit(LIMIT);
    assert!(status.success(), "{status}: {}", chat.stderr());
    assert_eq!(chat.rest(), Vec::<String>::new());
    assert_eq!(chat.stderr(), "");
}

#[test]
fn ctrl_c_cancels_a_call_in_flight() {
    let place = Place::mdns();
    // Every call takes ten minutes, the call's deadline is as long, and
    // stopping waits as long for calls in flight: the server stops
    // promptly only if Ctrl-C cancelled the call.
    let slow = place.greeter(
        "1.0.0",
        &[
            ("GREETER_DELAY_MS", "600000"),
            ("MICRO_SERVER_GRACE", "600s"),
        ],
    );
    let mut call = place.spawn(
        "micro call (slow)",
        &[
            "call",
            "greeter",
            "hello",
            r#"{"name":"late"}"#,
            "--timeout",
            "10m",
        ],
    );
    // The call is made once micro is connected to the node (it described
    // it first on the same connection).
    let port = slow.address.rsplit(':').next().unwrap().to_owned();
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut ss = place.command("ss");
        ss.args([
            "-Htn",
            "state",
            "established",
            "( dport = :PORT )".replace("PORT", &port).as_str(),
        ]);
        let out = ss.output().expect("running ss (iproute2)");
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "micro never connected to {}; stderr:\n{}",
            slow.address,
            call.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(call.next_line(Duration::ZERO).is_none(), "no answer yet");

    interrupt(&mut call);
    // Would wait out the grace (ten minutes) with the call still running.
    slow.stop();
}
