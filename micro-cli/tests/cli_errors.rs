//! Bad input against a running greeter (mDNS, private network namespace):
//! each failure is one line on stderr, `micro: <status> (<code>): <detail>`,
//! exit code 1, never a panic or a backtrace; with `-o json` the error is
//! on stdout too.

mod support;

use serde_json::{Value, json};
use support::{LIMIT, Place, SERVICE, greeting, interrupt};

#[test]
fn unknown_names_fail_with_404_and_what_there_is() {
    let place = Place::mdns();
    let _node = place.greeter("1.0.0", &[]);

    // An unknown service: 404 and the close name.
    let out = place.run(&["call", "greter", "hello"]);
    assert_eq!(
        out.fails_with(404),
        r#"micro: not found (404): service "greter"; did you mean "com.example.srv.greeter"?"#
    );
    assert_eq!(out.stdout, "");
    let out = place.run(&["call", "greter", "hello", "-o", "json"]);
    out.fails_with(404);
    let error: Value = serde_json::from_str(out.stdout.trim()).expect("the error as JSON");
    assert_eq!(
        error,
        json!({"error": {
            "code": 404,
            "status": "not found",
            "detail": "service \"greter\"; did you mean \"com.example.srv.greeter\"?"
        }})
    );
    for args in [
        &["describe", "greter"][..],
        &["get", "service", "greter"],
        &["greter", "hello", "--name", "x"],
        &["stream", "greter", "chat", r#"{"name":"x"}"#],
    ] {
        let line = place.run(args).fails_with(404).to_owned();
        assert!(
            line.contains(r#"did you mean "com.example.srv.greeter"?"#),
            "{line}"
        );
    }
    let line = place.run(&["health", "nothing"]).fails_with(404).to_owned();
    assert!(line.contains(r#"service "nothing""#), "{line}");

    // An unknown endpoint: 404 listing what the service serves.
    for args in [
        &["call", "greeter", "goodbye"][..],
        &["greeter", "goodbye", "--name", "x"],
    ] {
        let out = place.run(args);
        let line = out.fails_with(404);
        assert!(
            line.contains(r#"endpoint "goodbye" on service "com.example.srv.greeter""#),
            "{line}"
        );
        for endpoint in [
            "Greeter.Chat",
            "Greeter.Collect",
            "Greeter.Hello",
            "Greeter.HelloStream",
        ] {
            assert!(line.contains(&format!("\"{endpoint}\"")), "{line}");
        }
    }
    // No node of that version.
    let out = place.run(&["call", "greeter", "hello", "--version", "9.9.9"]);
    assert!(out.fails_with(404).contains("\"9.9.9\""), "{out}");
}

#[test]
fn a_request_that_does_not_fit_fails_with_400_naming_the_problem() {
    let place = Place::mdns();
    let _node = place.greeter("1.0.0", &[]);

    // A request that does not fit the schema: 400 naming the field.
    let out = place.run(&["call", "greeter", "hello", r#"{"name":5}"#]);
    let line = out.fails_with(400);
    assert!(line.contains("field \"name\""), "{line}");
    let out = place.run(&["call", "greeter", "hello", r#"{"nme":"x"}"#]);
    assert!(out.fails_with(400).contains("nme"), "{out}");
    let out = place.run(&["greeter", "hello", "--nme", "x"]);
    assert!(out.fails_with(400).contains("nme"), "{out}");

    // Malformed JSON: 400, from the argument or stdin.
    let out = place.run(&["call", "greeter", "hello", r#"{"name":"#]);
    assert!(out.fails_with(400).contains("not valid JSON"), "{out}");
    let out = place.run_with_stdin(&["call", "greeter", "hello", "-"], "not json\n");
    assert!(out.fails_with(400).contains("not valid JSON"), "{out}");
    let out = place.run(&["publish", "t", "{oops"]);
    assert!(out.fails_with(400).contains("not valid JSON"), "{out}");
    // A stream's bad line is named by its number.
    let out = place.run_with_stdin(
        &["stream", "greeter", "chat"],
        "{\"name\":\"fine\"}\n{\"name\":5}\n",
    );
    let line = out.fails_with(400);
    assert!(line.contains("line 2"), "{line}");
    let out = place.run_with_stdin(&["stream", "greeter", "collect"], "{\"name\":\n");
    let line = out.fails_with(400);
    assert!(
        line.contains("line 1") && line.contains("not valid JSON"),
        "{line}"
    );

    // Usage errors of the dynamic form: exit 2, one line.
    let out = place.run(&["greeter", "hello", "--timeout"]);
    assert!(out.fails(2).contains("--timeout"), "{out}");
    let out = place.run(&["greeter", "hello", "name"]);
    out.fails(2);
}

#[test]
fn a_short_name_that_two_services_end_with_is_ambiguous() {
    let place = Place::mdns();
    let _node = place.greeter("1.0.0", &[]);
    // The HTTP broker registers subscribers of topic `greeter` as the
    // service `micro.broker.greeter`.
    let mut subscriber = place.spawn("micro subscribe greeter", &["subscribe", "greeter"]);
    subscriber.wait_stderr("subscribed to greeter", LIMIT);

    let out = place.run(&["call", "greeter", "hello"]);
    let line = out.fails_with(400);
    assert!(
        line.contains(r#"service "greeter" is ambiguous"#)
            && line.contains(r#""com.example.srv.greeter""#)
            && line.contains(r#""micro.broker.greeter""#),
        "{line}"
    );
    // The full name still works.
    let out = place.run(&["call", SERVICE, "hello", r#"{"name":"Full"}"#]);
    assert_eq!(out.json(), greeting("Full"));
    interrupt(&mut subscriber);
}
