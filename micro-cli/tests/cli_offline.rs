//! `micro` with no service running: usage errors (exit code 2), help and
//! completions, a registry that cannot be reached (503 naming it), unknown
//! backends, and a stdout closed under it (`| head`). Run in a private
//! network namespace so that nothing reaches the host's network.

mod support;

use support::{Place, no_panic, run_with_closed_stdout, squeeze};

#[test]
fn a_wrong_command_line_exits_2() {
    let place = Place::mdns();
    for (args, says) in [
        (&["call", "greeter", "hello", "--bogus"][..], "'--bogus'"),
        (&["services", "--bogus"], "'--bogus'"),
        (&["call", "greeter", "hello", "-m", "novalue"], "KEY=VALUE"),
        (&["call", "greeter", "hello", "--timeout", "soon"], "soon"),
        (&["-o", "yaml", "services"], "yaml"),
        (&["describe"], "<SERVICE>"),
        (&["get", "pod", "x"], "pod"),
        (&["completions", "tcsh"], "tcsh"),
        (&[], "Usage"),
    ] {
        let out = place.run(args);
        assert_eq!(out.code, Some(2), "{out}");
        no_panic(&out.stderr);
        assert!(out.stderr.contains(says), "{says:?} in: {out}");
        assert_eq!(out.stdout, "", "{out}");
    }
}

#[test]
fn help_version_and_completions_print_on_stdout() {
    let place = Place::mdns();
    let help = place.run(&["--help"]).ok().to_owned();
    for wanted in [
        "services",
        "describe",
        "call",
        "stream",
        "Exit codes:",
        "130",
    ] {
        assert!(help.contains(wanted), "{wanted:?} in:\n{help}");
    }
    let help = squeeze(place.run(&["call", "--help"]).ok());
    assert!(help.contains("--timeout <TIMEOUT>"), "{help}");
    assert!(place.run(&["--version"]).ok().starts_with("micro "));

    let bash = place.run(&["completions", "bash"]).ok().to_owned();
    assert!(bash.contains("_micro()"), "{bash}");
    assert!(bash.contains("complete -F _micro"), "{bash}");
    for command in ["services", "describe", "subscribe", "completions"] {
        assert!(bash.contains(command), "{command} in the bash script");
    }
    assert!(
        place
            .run(&["completions", "zsh"])
            .ok()
            .contains("#compdef micro")
    );
    assert!(
        place
            .run(&["completions", "fish"])
            .ok()
            .contains("complete -c micro")
    );
}

#[cfg(feature = "etcd")]
#[test]
fn a_registry_that_cannot_be_reached_is_503_naming_its_address() {
    let place = Place::mdns();
    let dead = ["--registry", "etcd", "--registry-address", "127.0.0.1:1"];
    for command in [
        &["services"][..],
        &["describe", "greeter"],
        &["call", "greeter", "hello"],
        &["greeter", "hello", "--name", "x"],
        &["health"],
        &["watch"],
    ] {
        let args: Vec<&str> = command.iter().chain(&dead).copied().collect();
        let out = place.run(&args);
        let line = out.fails_with(503);
        assert!(line.contains("127.0.0.1:1"), "the address in: {out}");
        assert_eq!(out.stdout, "", "{out}");
    }
    // From the environment, with the error on stdout as JSON too.
    let mut cmd = place.micro(&["services", "-o", "json"]);
    cmd.env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", "127.0.0.1:1");
    let out = support::run(cmd, None);
    let line = out.fails_with(503).to_owned();
    assert!(line.contains("127.0.0.1:1"), "{out}");
    let error: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).expect("the error as JSON");
    assert_eq!(error["error"]["code"], 503);
    assert_eq!(error["error"]["status"], "service unavailable");
    assert!(
        error["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.1:1")),
        "{error}"
    );
}

#[test]
fn unknown_backends_are_400() {
    let place = Place::mdns();
    let out = place.run(&["services", "--registry", "zookeeper"]);
    assert!(out.fails_with(400).contains("zookeeper"), "{out}");
    let out = place.run(&["publish", "t", "{}", "--broker", "pigeon"]);
    assert!(out.fails_with(400).contains("pigeon"), "{out}");
}

#[test]
fn a_closed_stdout_is_an_error_line_not_a_panic() {
    let place = Place::mdns();
    let out = run_with_closed_stdout(place.micro(&["completions", "bash"]));
    let line = out.fails(1);
    assert!(line.contains("cannot write to stdout"), "{out}");

    // The error's JSON cannot be printed either: the line on stderr says it.
    let out =
        run_with_closed_stdout(place.micro(&["services", "-o", "json", "--registry", "zookeeper"]));
    assert!(out.fails_with(400).contains("zookeeper"), "{out}");
}
