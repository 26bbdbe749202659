//! `micro bot` as a real process: scripted on the console against a
//! greeter-server, in an IRC channel on a real ngircd, and with a command
//! that a service serves appearing and going with that service.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{LIMIT, Place, Proc, bot_command_echo, no_panic};

/// The bot's answers, one line each (a reply of several lines is joined).
fn answer(bot: &Proc, stdin: &mut impl Write, line: &str) -> String {
    writeln!(stdin, "{line}").expect("writing to the bot");
    bot.next_line(LIMIT).unwrap_or_else(|| {
        panic!(
            "no answer to {line:?} within {LIMIT:?}; stderr:\n{}",
            bot.stderr()
        )
    })
}

#[test]
fn console_script_against_a_greeter() {
    let place = Place::mdns();
    let _greeter = place.greeter("1.0.0", &[]);
    let script = [
        "ping",
        "list services",
        r#"call greeter Greeter.Hello {"name":"John"}"#,
        "frobnicate now",
        r#"call greeter Greeter.Hello {"name":"#,
        "call greeter Greeter.Nope {}",
        "get service greeter",
        "health greeter",
        "ping",
    ];
    let out = place.run_with_stdin(&["bot", "--input", "console"], &(script.join("\n") + "\n"));
    let stdout = out.success().to_owned();
    no_panic(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "pong", "{out}");
    assert_eq!(
        lines[1], "com.example.srv.greeter 1.0.0 (1 node, 4 endpoints)",
        "{out}"
    );
    assert_eq!(lines[2], r#"{"greeting":"Hello John"}"#, "{out}");
    assert_eq!(
        lines[3], r#"error: not found (404): unknown command "frobnicate"; try "help""#,
        "{out}"
    );
    assert!(
        lines[4].starts_with("error: bad request (400): the request is not valid JSON: "),
        "{out}"
    );
    assert!(
        lines[5].starts_with(r#"error: not found (404): endpoint "Greeter.Nope" on service "com.example.srv.greeter""#),
        "{out}"
    );
    assert!(
        lines[6].starts_with("com.example.srv.greeter 1.0.0: 1 node (127.0.0.1:"),
        "{out}"
    );
    for endpoint in [
        "Greeter.Hello (unary)",
        "Greeter.HelloStream (server)",
        "Greeter.Collect (client)",
        "Greeter.Chat (bidi)",
    ] {
        let line = format!("  {endpoint} greeter.v1.Request -> greeter.v1.Response");
        assert!(lines[7..11].contains(&line.as_str()), "{line:?} in {out}");
    }
    let health = lines
        .iter()
        .find(|l| l.starts_with("ok com.example.srv.greeter 1.0.0 127.0.0.1:"))
        .unwrap_or_else(|| panic!("a health line: {out}"));
    assert!(health.ends_with("ms"), "{out}");
    // Still serving after the bad input.
    assert_eq!(lines.last(), Some(&"pong"), "{out}");
}

#[test]
fn a_service_adds_a_command_while_it_runs() {
    let place = Place::mdns();
    let (bot, mut stdin) = place.spawn_with_stdin("micro bot", &["bot"]);
    let mut echo = Proc::spawn("bot-command-echo", {
        let mut cmd = place.command(bot_command_echo());
        cmd.stdin(Stdio::null());
        cmd
    });
    echo.wait_line("listening on ", LIMIT);
    bot.wait_stderr(r#"command "echo" is available (micro.bot.echo)"#, LIMIT);

    assert_eq!(answer(&bot, &mut stdin, "echo hello  world"), "hello world");
    assert_eq!(
        answer(&bot, &mut stdin, "help echo"),
        "echo WORDS... — says the words back"
    );
    assert_eq!(
        answer(&bot, &mut stdin, "echo"),
        "error: internal server error (500): nothing to echo: say echo WORDS... (from micro.bot.echo)"
    );
    writeln!(stdin, "help").unwrap();
    let mut help = Vec::new();
    while help
        .last()
        .is_none_or(|l: &String| !l.starts_with("publish "))
    {
        help.push(bot.next_line(LIMIT).expect("the help lines"));
    }
    assert!(
        help.iter()
            .any(|l| l == "echo WORDS... — says the words back"),
        "{help:#?}"
    );

    // Stopped, it deregisters: the command goes.
    support::wait_catching(&echo, 15);
    echo.signal("TERM");
    assert!(echo.wait_exit(LIMIT).success(), "{}", echo.stderr());
    bot.wait_stderr(r#"command "echo" is gone"#, LIMIT);
    assert_eq!(
        answer(&bot, &mut stdin, "echo hi"),
        r#"error: not found (404): unknown command "echo"; try "help""#
    );
    drop(stdin);
    let mut bot = bot;
    assert!(bot.wait_exit(LIMIT).success(), "{}", bot.stderr());
    no_panic(&bot.stderr());
}

/// `ngircd`, or `None` (with a printed line) when it is not installed;
/// required with `MICRO_TEST_REQUIRE_BACKENDS=1`.
fn ngircd() -> Option<&'static str> {
    let installed = Command::new("ngircd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Some("ngircd");
    }
    assert!(
        std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
        "ngircd is not installed and MICRO_TEST_REQUIRE_BACKENDS=1"
    );
    println!("skipped: ngircd not installed");
    None
}

/// An IRC client on a plain TCP stream.
struct IrcClient {
    writer: TcpStream,
    lines: BufReader<TcpStream>,
    seen: Vec<String>,
}

impl IrcClient {
    fn connect(address: &str, nick: &str) -> Self {
        let deadline = Instant::now() + LIMIT;
        let stream = loop {
            match TcpStream::connect(address) {
                Ok(stream) => break stream,
                Err(err) => {
                    assert!(
                        Instant::now() < deadline,
                        "connecting to ngircd at {address}: {err}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        let mut client = IrcClient {
            writer: stream.try_clone().unwrap(),
            lines: BufReader::new(stream),
            seen: Vec::new(),
        };
        client.send(&format!("NICK {nick}"));
        client.send(&format!("USER {nick} 0 * :test"));
        client
    }

    fn send(&mut self, line: &str) {
        write!(self.writer, "{line}\r\n").expect("writing to ngircd");
    }

    /// Reads lines (answering PINGs) until one satisfies `wanted`.
    fn until(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no {what} within {LIMIT:?}: {:#?}",
                self.seen
            );
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                Ok(0) => panic!("ngircd closed the connection: {:#?}", self.seen),
                Ok(_) => {}
                Err(err) => panic!("reading from ngircd: {err}; {:#?}", self.seen),
            }
            let line = line.trim_end().to_owned();
            if let Some(token) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {token}"));
            }
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
        }
    }
}

#[test]
fn irc_channel_against_a_real_server() {
    let Some(ngircd) = ngircd() else { return };
    let dir = std::env::temp_dir().join(support::unique("micro-bot-irc"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("ngircd.conf");
    std::fs::write(
        &config,
        format!(
            "[Global]\nName = irc.micro.test\nInfo = micro bot test\nListen = 127.0.0.1\n\
             Ports = {port}\nMotdPhrase = \"micro bot test\"\n\
             [Limits]\nMaxConnectionsIP = 0\n\
             [Options]\nDNS = no\nIdent = no\nPAM = no\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(ngircd);
    server
        .args(["--nodaemon", "--config"])
        .arg(&config)
        .stdin(Stdio::null());
    let server = Proc::spawn("ngircd", server);
    let address = format!("127.0.0.1:{port}");

    let place = Place::loopback();
    let _greeter = place.greeter("1.0.0", &[]);
    let bot = {
        let mut cmd = place.micro(&[
            "bot",
            "--input",
            "irc",
            "--irc-server",
            &address,
            "--irc-nick",
            "microbot",
            "--irc-channel",
            "#micro",
        ]);
        cmd.stdin(Stdio::null());
        Proc::spawn("micro bot", cmd)
    };

    let mut client = IrcClient::connect(&address, "tester");
    client.until("the welcome", |l| l.split(' ').nth(1) == Some("001"));
    client.send("JOIN #micro");
    // The bot is in the channel: in the names list, or joining after us.
    let names = client.until("the names list", |l| l.split(' ').nth(1) == Some("366"));
    let listed = client
        .seen
        .iter()
        .any(|l| l.split(' ').nth(1) == Some("353") && l.contains("microbot"));
    if !listed {
        client.until("the bot joining", |l| {
            l.starts_with(":microbot!") && l.contains(" JOIN ")
        });
    }
    drop(names);

    client.send(r#"PRIVMSG #micro :call greeter Greeter.Hello {"name":"John"}"#);
    let reply = client.until("the greeting", |l| {
        l.starts_with(":microbot!") && l.contains("PRIVMSG")
    });
    assert!(
        reply.ends_with(r#"#micro :{"greeting":"Hello John"}"#),
        "{reply}"
    );

    // Chatter is left alone; a bad command addressed to the bot gets one
    // error line, and the bot keeps serving.
    client.send("PRIVMSG #micro :good morning everyone");
    client.send("PRIVMSG #micro :microbot: frobnicate");
    let reply = client.until("the error", |l| {
        l.starts_with(":microbot!") && l.contains("PRIVMSG")
    });
    assert!(
        reply.ends_with(
            r#"#micro :error: not found (404): unknown command "frobnicate"; try "help""#
        ),
        "{reply}"
    );
    client.send("PRIVMSG microbot :ping");
    let reply = client.until("pong", |l| {
        l.starts_with(":microbot!") && l.contains("PRIVMSG")
    });
    assert!(reply.ends_with("PRIVMSG tester :pong"), "{reply}");
    no_panic(&bot.stderr());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
