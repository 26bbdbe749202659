//! The README's main command: one process builds the greeter service,
//! registers it (mDNS) and serves it (TCP), then calls each of its four
//! endpoints through the discovering client.
//!
//! Being a one-process demo, it keeps mDNS on the loopback interface and
//! listens on 127.0.0.1 unless `MICRO_MDNS_INTERFACES` / `MICRO_SERVER_ADDRESS`
//! say otherwise.

use std::sync::Arc;

use examples::{Greeter, SERVICE, pb};
use micro_runtime::registry::mdns::{MdnsOptions, MdnsRegistry};
use micro_runtime::{Result, Service};

#[tokio::main]
async fn main() {
    examples::init_logging();
    if let Err(err) = run().await {
        eprintln!("greeter: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let mut mdns = MdnsOptions::from_env()?;
    if mdns.interfaces.is_empty() {
        mdns.interfaces = vec!["lo".into()];
    }
    let address = std::env::var("MICRO_SERVER_ADDRESS").unwrap_or_else(|_| "127.0.0.1:0".into());
    let service = Service::builder()
        .name(SERVICE)
        .version("1.0.0")
        .address(address)
        .registry(Arc::new(MdnsRegistry::new(mdns)?))
        .build()?;
    service.handle(Greeter::default())?;
    service.start().await?;

    let greeter = pb::GreeterClient::new(SERVICE, service.client());
    let result = talk(&greeter).await;
    service.stop().await?;
    result
}

async fn talk(greeter: &pb::GreeterClient) -> Result<()> {
    let rsp = greeter
        .hello(pb::Request {
            name: "John".into(),
        })
        .await?;
    println!("{}", rsp.greeting);

    let mut stream = greeter
        .hello_stream(pb::Request {
            name: "Jane".into(),
        })
        .await?;
    while let Some(rsp) = stream.recv().await? {
        println!("{}", rsp.greeting);
    }

    let collect = greeter.collect().await?;
    for name in ["Ann", "Bob", "Cy"] {
        collect.send(pb::Request { name: name.into() }).await?;
    }
    println!("{}", collect.close_and_recv().await?.greeting);

    let mut chat = greeter.chat().await?;
    for name in ["Dee", "Eve"] {
        chat.send(pb::Request { name: name.into() }).await?;
        if let Some(rsp) = chat.recv().await? {
            println!("{}", rsp.greeting);
        }
    }
    let mut rest = chat.close_send();
    while let Some(rsp) = rest.recv().await? {
        println!("{}", rsp.greeting);
    }
    Ok(())
}
