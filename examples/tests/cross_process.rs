//! Two programs find and call each other with nothing configured: greeter
//! servers and clients as separate processes, discovering over mDNS in a
//! private network namespace.

mod common;

use std::time::Duration;

use common::{CLIENT, Netns, Proc, server, stop_server};

#[test]
fn a_client_process_calls_servers_it_discovers_and_both_get_calls() {
    let ns = Netns::new();
    let first = server(&ns, "server-1", &[]);
    let second = server(&ns, "server-2", &[]);
    for name in ["Ada", "Bob", "Cy", "Dee"] {
        let mut client = Proc::spawn("greeter-client", {
            let mut cmd = ns.command(CLIENT);
            cmd.arg(name);
            cmd
        });
        assert_eq!(
            client.wait_line("Hello", Duration::from_secs(20)),
            format!("Hello {name}")
        );
        assert!(
            client.wait_exit(Duration::from_secs(20)).success(),
            "{}",
            client.stderr()
        );
        let rest = client.rest();
        assert_eq!(
            rest,
            (1..=3)
                .map(|i| format!("Hello {name} #{i}"))
                .collect::<Vec<_>>()
        );
    }
    let (a, b) = (stop_server(first), stop_server(second));
    assert_eq!(a + b, 8, "4 clients made 2 calls each");
    assert!(
        a > 0 && b > 0,
        "calls spread over both servers: {a} and {b}"
    );
}

#[test]
fn a_client_exits_non_zero_with_the_error_when_no_server_runs() {
    let ns = Netns::new();
    let mut client = Proc::spawn("greeter-client", ns.command(CLIENT));
    let status = client.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let stderr = client.stderr();
    assert!(
        stderr.contains("404") && stderr.contains("com.example.srv.greeter"),
        "{stderr}"
    );
}
