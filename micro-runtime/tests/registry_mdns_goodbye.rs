//! A forged mDNS goodbye (TTL 0) for a live node, sent by the test as a raw
//! multicast packet on loopback, on a port of the test's own (so parallel
//! tests and the machine's network are untouched): no peer drops the node,
//! its own process announces it again; its real goodbye still removes it.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use micro_runtime::registry::mdns::{MdnsOptions, MdnsRegistry, SERVICE_TYPE};
use micro_runtime::registry::{Action, Event, Node, Registry, Service, Watcher};

const NAME: &str = "com.example.srv.goodbye-test";

fn options(port: u16) -> MdnsOptions {
    MdnsOptions {
        interfaces: vec!["lo".into()],
        port: Some(port),
    }
}

fn record() -> Service {
    Service {
        name: NAME.into(),
        version: "1.0.0".into(),
        nodes: vec![Node {
            id: "node-real".into(),
            address: "127.0.0.1:4111".into(),
            ..Node::default()
        }],
        ..Service::default()
    }
}

/// A third daemon on the same port: what an attacker on the network
/// hears, and the test's view of what goes over the wire.
struct Spy {
    daemon: mdns_sd::ServiceDaemon,
    events: mdns_sd::Receiver<mdns_sd::ServiceEvent>,
}

impl Spy {
    fn new(port: u16) -> Self {
        let daemon = mdns_sd::ServiceDaemon::new_with_port(port).unwrap();
        daemon.disable_interface(mdns_sd::IfKind::All).unwrap();
        daemon
            .enable_interface(mdns_sd::IfKind::Name("lo".into()))
            .unwrap();
        let events = daemon.browse(SERVICE_TYPE).unwrap();
        Self { daemon, events }
    }

    /// Waits (at most 15 s) for the first event `pick` returns something for.
    fn wait<T>(&self, what: &str, pick: impl Fn(&mdns_sd::ServiceEvent) -> Option<T>) -> T {
        loop {
            match self.events.recv_timeout(Duration::from_secs(15)) {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
                Err(e) => panic!("the spy never saw {what}: {e}"),
            }
        }
    }

    /// The full instance name the node announces.
    fn instance(&self) -> String {
        self.wait("the node", |event| match event {
            mdns_sd::ServiceEvent::ServiceResolved(found)
                if found.fullname.starts_with("com-example-srv-goodbye-test") =>
            {
                Some(found.fullname.clone())
            }
            _ => None,
        })
    }

    /// Waits for the goodbye of `instance` to take effect, then for the
    /// instance to be announced again.
    fn goodbye_then_announced(&self, instance: &str) {
        self.wait("the goodbye", |event| match event {
            mdns_sd::ServiceEvent::ServiceRemoved(_, name) if name == instance => Some(()),
            _ => None,
        });
        self.wait("the node announced again", |event| match event {
            mdns_sd::ServiceEvent::ServiceResolved(found) if found.fullname == instance => Some(()),
            _ => None,
        });
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// A DNS name in wire form.
fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// An mDNS response saying goodbye to `instance`: its PTR under the micro
/// service type with TTL 0 (RFC 6762, section 10.1).
fn goodbye_packet(instance: &str) -> Vec<u8> {
    let mut packet = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    packet.extend(dns_name(SERVICE_TYPE));
    packet.extend_from_slice(&12u16.to_be_bytes()); // PTR
    packet.extend_from_slice(&1u16.to_be_bytes()); // IN
    packet.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: goodbye
    let target = dns_name(instance);
    packet.extend_from_slice(&(target.len() as u16).to_be_bytes());
    packet.extend(target);
    packet
}

/// Multicasts `packet` on loopback to the mDNS group at `port`.
fn multicast_on_lo(packet: &[u8], port: u16) {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    socket.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    socket.set_multicast_loop_v4(true).unwrap();
    let group = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), port);
    socket.send_to(packet, &group.into()).unwrap();
}

async fn next_event(watch: &mut Watcher, what: &str) -> Event {
    tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .unwrap_or_else(|_| panic!("no event within 15 s: {what}"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_goodbye_drops_nothing_and_a_real_one_still_does() {
    let port = 20000 + fastrand::u16(..20000);
    let owner = MdnsRegistry::new(options(port)).unwrap();
    let peer = MdnsRegistry::new(options(port)).unwrap();
    let mut watch = peer.watch(Some(NAME)).await.unwrap();
    let node = record();
    owner
        .register(&node, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut watch, "create").await.action,
        Action::Create
    );

    let spy = std::sync::Arc::new(Spy::new(port));
    let watcher = spy.clone();
    let instance = tokio::task::spawn_blocking(move || watcher.instance())
        .await
        .unwrap();
    let forged = goodbye_packet(&instance);
    tokio::task::spawn_blocking(move || multicast_on_lo(&forged, port))
        .await
        .unwrap();

    // The goodbye takes effect on the wire (the spy forgets the node) and
    // the owner, hearing a goodbye it did not send, announces the node
    // again; the peer held the node all along.
    let watcher = spy.clone();
    tokio::task::spawn_blocking(move || watcher.goodbye_then_announced(&instance))
        .await
        .unwrap();
    while let Ok(event) = tokio::time::timeout(Duration::ZERO, watch.next()).await {
        let event = event.unwrap();
        assert_ne!(
            event.action,
            Action::Delete,
            "the forged goodbye dropped the node"
        );
    }
    assert_eq!(
        peer.get_service(NAME).await.unwrap()[0].nodes,
        node.nodes,
        "the node is still there"
    );

    // The node's own goodbye removes it (within the grace a goodbye gets).
    owner.deregister(&node).await.unwrap();
    loop {
        let event = next_event(&mut watch, "the real goodbye").await;
        if event.action == Action::Delete {
            break;
        }
    }
    assert!(peer.get_service(NAME).await.unwrap_err().is_not_found());
}
