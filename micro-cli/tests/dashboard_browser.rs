//! The web dashboard in a real browser: two `greeter-server` nodes, the
//! `micro gateway` process and Chromium (driven by chromedriver) all in a
//! private network namespace, discovering each other over mDNS; the test
//! drives the browser with fantoccini through a bridge from the host's
//! loopback to chromedriver's port inside the namespace.
//!
//! Everything in the namespace keeps mDNS off any real network and away
//! from other tests' services, so "2 nodes" means exactly these two.
//!
//! Needs `chromium`, `chromedriver` and `socat`: without them the tests
//! print why they are skipped, or fail when `MICRO_TEST_REQUIRE_BACKENDS=1`.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{LIMIT, Netns, Place, Proc, SERVICE, unique};

/// A token for the sign-in test.
const TOKEN: &str = "dash-t0ken";

/// The programs the tests need, or why they are skipped.
fn tools() -> Option<()> {
    let missing: Vec<&str> = ["chromium", "chromedriver", "socat"]
        .into_iter()
        .filter(|tool| {
            !std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
        })
        .collect();
    if missing.is_empty() {
        return Some(());
    }
    assert!(
        std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
        "{} not installed and MICRO_TEST_REQUIRE_BACKENDS=1",
        missing.join(", ")
    );
    println!("skipped: {} not installed", missing.join(", "));
    None
}

/// A folder of the test's own for the browser profile and screenshots.
fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// Forwards connections to the host's `127.0.0.1:<port>` to the same
/// port in the namespace (where chromedriver listens: it answers only
/// requests whose `Host` is its own address): a `socat` on the host runs
/// one `socat` inside the namespace per connection.
struct Bridge {
    port: u16,
    _socat: Proc,
}

impl Bridge {
    fn new(ns: &Netns) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        // `nsenter -t PID -n socat` as the namespace runs it.
        let inside = ns.command("socat");
        let mut words: Vec<String> = vec![inside.get_program().to_string_lossy().into_owned()];
        words.extend(inside.get_args().map(|a| a.to_string_lossy().into_owned()));
        words.extend(["STDIO".to_owned(), format!("TCP:127.0.0.1:{port}")]);
        let exec = words.join(" ").replace(':', "\\:");
        let mut cmd = Command::new("socat");
        cmd.arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"))
            .arg(format!("EXEC:{exec}"))
            .stdin(Stdio::null());
        let socat = Proc::spawn("socat bridge", cmd);
        let deadline = Instant::now() + LIMIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the socat bridge never listened on {port}: {}",
                socat.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Bridge {
            port,
            _socat: socat,
        }
    }
}

/// chromedriver and headless Chromium in `ns`, and a WebDriver session.
struct Browser {
    client: Client,
    _driver: Proc,
    _bridge: Bridge,
    dir: PathBuf,
}

impl Browser {
    async fn start(ns: &Netns, dir: &Path) -> Self {
        let bridge = Bridge::new(ns);
        let mut cmd = ns.command("chromedriver");
        let log = dir.join("chromedriver.log");
        cmd.arg(format!("--port={}", bridge.port))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null());
        let driver = Proc::spawn("chromedriver", cmd);
        driver.wait_line("ChromeDriver was started successfully", LIMIT);
        let profile = dir.join("profile");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    "--no-first-run", "--disable-extensions",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            LIMIT,
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{}", bridge.port)),
        )
        .await
        .map_err(|_| "no WebDriver session within the limit".to_owned())
        .and_then(|session| session.map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            panic!(
                "starting Chromium through chromedriver: {e}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Browser {
            client,
            _driver: driver,
            _bridge: bridge,
            dir: dir.to_owned(),
        }
    }

    /// Saves a screenshot as `<dir>/<name>.png` and prints its path.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        println!("screenshot: {}", path.display());
        path
    }

    /// Waits (at most [`LIMIT`]) until the element `css` exists and its
    /// text satisfies `wanted`; returns the text.
    async fn wait_text(&self, css: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        let mut last = String::from("(no such element)");
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if wanted(&text) {
                    return text;
                }
                last = text;
            }
            if Instant::now() > deadline {
                let _ = self.screenshot("failure").await;
                panic!("{css} never showed {what} within {LIMIT:?}; last text: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `count(css)` elements exist.
    async fn wait_count(&self, css: &str, count: usize) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let found = self
                .client
                .find_all(Locator::Css(css))
                .await
                .map_or(0, |all| all.len());
            if found == count {
                return;
            }
            if Instant::now() > deadline {
                let _ = self.screenshot("failure").await;
                panic!("{css}: {found} elements, not {count}, within {LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(LIMIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Replaces the value of the input `css` with `text`.
    async fn fill(&self, css: &str, text: &str) {
        let input = self
            .client
            .wait()
            .at_most(LIMIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        input.clear().await.expect("clearing an input");
        input.send_keys(text).await.expect("typing");
    }

    /// Ends the session; the screenshots stay, the browser profile goes.
    async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(self.dir.join("profile"));
    }
}

/// A multi-threaded runtime: the support's waits block a thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `micro gateway ARGS` in `place`, and its base URL.
fn gateway(place: &Place, args: &[&str]) -> (Proc, String) {
    let mut all = vec!["gateway", "--address", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut cmd = place.micro(&all);
    cmd.env_remove("MICRO_GATEWAY_ADDRESS")
        .env_remove("MICRO_GATEWAY_TOKEN")
        .stdin(Stdio::null());
    let proc = Proc::spawn("micro gateway", cmd);
    let line = proc.wait_line("gateway listening on http://", LIMIT);
    let base = line.trim_start_matches("gateway listening on ").to_owned();
    (proc, base)
}

/// The services row of `name`.
fn row(name: &str) -> String {
    format!("#services tr[data-name='{name}']")
}

#[test]
fn the_dashboard_lists_describes_and_calls_services_live() {
    let Some(()) = tools() else { return };
    let dir = test_dir("dashboard");
    let place = Place::mdns();
    let Place::Mdns(ns) = &place else {
        unreachable!()
    };
    let mut nodes = vec![place.greeter("1.0.0", &[]), place.greeter("1.1.0", &[])];
    let (_gateway, base) = gateway(&place, &[]);

    runtime().block_on(async {
        let browser = Browser::start(ns, &dir).await;
        let b = &browser;

        // The list: the greeter with its two nodes, both healthy.
        b.client.goto(&base).await.expect("opening the dashboard");
        b.wait_text(&format!("{} td.nodes", row(SERVICE)), "2 nodes", |t| {
            t == "2"
        })
        .await;
        b.wait_text(&row(SERVICE), "both healthy", |t| t.contains("2/2 healthy"))
            .await;
        b.screenshot("services").await;

        // Its page: both nodes, the endpoints with their kinds.
        b.click(&format!("a[href='/services/{SERVICE}']")).await;
        b.wait_text("#node-count", "2 nodes", |t| t == "2").await;
        let page = b
            .wait_text("main", "the endpoints", |t| {
                t.contains("Greeter.HelloStream") && t.contains("Says hello to one person.")
            })
            .await;
        for node in &nodes {
            assert!(page.contains(&node.address), "{} in {page}", node.address);
        }

        // A unary call from the generated form.
        b.click("button[data-call='Greeter.Hello']").await;
        b.fill("#request-fields input[name='name']", "John").await;
        b.click("#call-send").await;
        b.wait_text("#call-output", "the greeting", |t| t.contains("Hello John"))
            .await;
        let status = b
            .wait_text("#call-status", "200", |t| t.contains("200"))
            .await;
        assert!(status.contains(" ms"), "the latency is shown: {status}");
        b.click("details.copy summary").await;
        let micro = b
            .wait_text("#copy-micro", "a micro call", |t| !t.is_empty())
            .await;
        assert_eq!(
            micro,
            format!("micro call {SERVICE} Greeter.Hello '{{\"name\":\"John\"}}'")
        );
        let curl = b.wait_text("#copy-curl", "a curl", |t| !t.is_empty()).await;
        assert!(
            curl.starts_with(&format!("curl '{base}/api/{SERVICE}/Greeter.Hello'")),
            "{curl}"
        );
        b.screenshot("service").await;

        // A server stream: its three messages as they arrive.
        b.click("button[data-call='Greeter.HelloStream']").await;
        b.fill("#request-fields input[name='name']", "Ann").await;
        b.click("#call-send").await;
        b.wait_text("#call-status", "the end of the stream", |t| {
            t.starts_with("Done")
        })
        .await;
        b.wait_count("#call-messages li", 3).await;
        let messages = b
            .wait_text("#call-messages", "greetings", |t| t.contains("Ann"))
            .await;
        assert_eq!(messages.matches("Hello Ann").count(), 3, "{messages}");
        b.screenshot("stream").await;

        // An unknown endpoint through the raw form: the gateway's 404.
        b.click("#mode-raw").await;
        b.fill("#call-endpoint", "Greeter.Nope").await;
        b.fill("#request-raw", "{}").await;
        b.click("#call-send").await;
        let status = b
            .wait_text("#call-status", "404", |t| t.contains("404"))
            .await;
        assert!(
            status.contains("Greeter.Nope"),
            "the detail names it: {status}"
        );
        let output = b
            .wait_text("#call-output", "the error", |t| t.contains("detail"))
            .await;
        assert!(output.contains("\"code\": 404"), "{output}");
        b.screenshot("not-found").await;

        // Live: a service that starts appears, a node that stops leaves,
        // without a reload.
        b.click("nav a[href='/']").await;
        b.wait_text(&format!("{} td.nodes", row(SERVICE)), "2 nodes", |t| {
            t == "2"
        })
        .await;
        b.client
            .execute("window.__sameLoad = true;", vec![])
            .await
            .unwrap();
        let second = "com.example.srv.second";
        let _second = place.greeter("2.0.0", &[("GREETER_NAME", second)]);
        b.wait_text(&row(second), "the new service", |t| t.contains(second))
            .await;
        nodes.pop().unwrap().stop();
        b.wait_text(&format!("{} td.nodes", row(SERVICE)), "1 node", |t| {
            t == "1"
        })
        .await;
        let same = b
            .client
            .execute("return window.__sameLoad === true;", vec![])
            .await
            .unwrap();
        assert_eq!(same, json!(true), "the page was not reloaded");

        // The search box filters.
        b.fill("#search", "second").await;
        let shown = b
            .client
            .execute(
                "return [...document.querySelectorAll('#services tbody tr')]\
                 .filter(r => !r.hidden).map(r => r.dataset.name);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(shown, json!([second]));
        b.screenshot("live").await;
        browser.close().await;
    });
}

#[test]
fn a_browser_signs_in_with_the_token_and_calls() {
    let Some(()) = tools() else { return };
    let dir = test_dir("dashboard-token");
    let place = Place::mdns();
    let Place::Mdns(ns) = &place else {
        unreachable!()
    };
    let _node = place.greeter("1.0.0", &[]);
    let (_gateway, base) = gateway(&place, &["--auth-token", TOKEN]);

    runtime().block_on(async {
        let browser = Browser::start(ns, &dir).await;
        let b = &browser;
        // A page load without the token: the sign-in page.
        b.client
            .goto(&format!("{base}/services/{SERVICE}"))
            .await
            .unwrap();
        b.wait_text("h1", "the sign-in page", |t| t == "Sign in")
            .await;
        b.fill("#token", "not-the-token").await;
        b.click("form.login button[type='submit']").await;
        b.wait_text(".alert", "the refusal", |t| {
            t.contains("not the gateway's token")
        })
        .await;
        b.fill("#token", TOKEN).await;
        b.click("form.login button[type='submit']").await;
        // Back where it was going, and calls work with the cookie.
        b.wait_text("#service-name", "the service page", |t| t == SERVICE)
            .await;
        b.click("button[data-call='Greeter.Hello']").await;
        b.fill("#request-fields input[name='name']", "Token").await;
        b.click("#call-send").await;
        b.wait_text("#call-output", "the greeting", |t| {
            t.contains("Hello Token")
        })
        .await;
        // The cookie is out of scripts' reach.
        let cookies = b
            .client
            .execute("return document.cookie;", vec![])
            .await
            .unwrap();
        assert_eq!(cookies, json!(""));
        b.screenshot("signed-in").await;

        // Events: a live tail of a topic sees what the page publishes.
        b.click("nav a[href='/events']").await;
        b.fill("#tail-topic", "dash.events").await;
        b.click("#tail-start").await;
        b.wait_text("#tail-status", "the subscription", |t| {
            t.starts_with("Listening")
        })
        .await;
        b.fill("#publish-topic", "dash.events").await;
        b.fill("#publish-message", r#"{"seq": 7}"#).await;
        // The subscription reaches the registry a moment after it opens:
        // publish until the tail shows the message (every wait bounded).
        let deadline = Instant::now() + LIMIT;
        loop {
            b.click("#publish button[type='submit']").await;
            b.wait_text("#publish-result", "the answer", |t| t.contains("Published"))
                .await;
            let tail = b.client.find(Locator::Css("#tail-messages")).await.unwrap();
            let shown = tail.text().await.unwrap_or_default();
            if shown.contains("\"seq\": 7") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the tail never showed the message"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        b.screenshot("events").await;
        b.click("#tail-stop").await;
        b.wait_text("#tail-status", "the end", |t| t.starts_with("Stopped"))
            .await;
        // Signing out: the next page load asks again.
        b.click("form.signout button").await;
        b.wait_text("h1", "the sign-in page", |t| t == "Sign in")
            .await;
        browser.close().await;
    });
}
