//! Discovers `com.example.srv.greeter`, calls `Hello` with the name given as
//! the first argument (default `John`), prints the greeting, then the
//! greetings of one `HelloStream` call. Exits non-zero with the error when a
//! call fails.

use examples::{SERVICE, pb};
use micro_runtime::{Client, Result};

#[tokio::main]
async fn main() {
    examples::init_logging();
    let name = std::env::args().nth(1).unwrap_or_else(|| "John".into());
    if let Err(err) = run(name).await {
        eprintln!("greeter-client: {err}");
        std::process::exit(1);
    }
}

async fn run(name: String) -> Result<()> {
    let greeter = pb::GreeterClient::new(SERVICE, Client::from_env()?);
    let rsp = greeter.hello(pb::Request { name: name.clone() }).await?;
    println!("{}", rsp.greeting);
    let mut stream = greeter.hello_stream(pb::Request { name }).await?;
    while let Some(rsp) = stream.recv().await? {
        println!("{}", rsp.greeting);
    }
    Ok(())
}
