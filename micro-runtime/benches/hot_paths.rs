//! Micro-benchmarks of the per-call hot paths: frame encode/decode, request
//! heads, codecs, node selection. `cargo bench -p micro-runtime`.

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use micro_runtime::codec::{ContentType, MessageCodec};
use micro_runtime::endpoint::CallKind;
use micro_runtime::registry::{Node, Service};
use micro_runtime::selector::{LeastLoaded, NodeInfo, Random, RoundRobin, Selector, ServiceNodes};
use micro_runtime::transport::RequestHead;
use micro_runtime::transport::tcp::bench;

#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
struct Request {
    #[prost(string, tag = "1")]
    name: String,
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for size in [16usize, 1024] {
        let body = vec![7u8; size];
        group.throughput(Throughput::Elements(64));
        group.bench_function(format!("encode 64 x {size} B"), |b| {
            let mut buf = BytesMut::with_capacity(64 * (size + 10));
            b.iter(|| {
                buf.clear();
                for i in 0..64 {
                    bench::encode_message_frame(&mut buf, i, black_box(&body));
                }
            })
        });
        let mut encoded = BytesMut::new();
        for i in 0..64 {
            bench::encode_message_frame(&mut encoded, i, &body);
        }
        let encoded = encoded.freeze();
        group.bench_function(format!("parse 64 x {size} B"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&encoded[..]);
                assert_eq!(bench::parse_frames(&mut buf, 4 << 20), 64);
            })
        });
    }
    group.finish();
}

fn heads(c: &mut Criterion) {
    let mut head = RequestHead::new("com.example.srv.greeter", "Greeter.Hello", CallKind::Unary);
    head.timeout = Some(std::time::Duration::from_secs(5));
    head.metadata.insert("x-request-id", "0123456789abcdef");
    c.bench_function("head encode", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            buf.clear();
            bench::encode_head(black_box(&head), &mut buf);
        })
    });
    let mut buf = BytesMut::new();
    bench::encode_head(&head, &mut buf);
    let encoded = buf.freeze();
    c.bench_function("head decode", |b| {
        b.iter(|| {
            let mut payload: Bytes = encoded.clone();
            black_box(bench::decode_head(&mut payload).unwrap());
        })
    });
}

fn codecs(c: &mut Criterion) {
    const CODEC: MessageCodec<Request> = MessageCodec::prost_serde();
    let msg = Request {
        name: "John".into(),
    };
    for ct in [ContentType::Protobuf, ContentType::Json] {
        let bytes = CODEC.encode(ct, &msg).unwrap();
        c.bench_function(&format!("codec {ct} encode"), |b| {
            b.iter(|| CODEC.encode(ct, black_box(&msg)).unwrap())
        });
        c.bench_function(&format!("codec {ct} decode"), |b| {
            b.iter(|| CODEC.decode(ct, black_box(bytes.clone())).unwrap())
        });
    }
}

fn nodes(n: usize) -> ServiceNodes {
    let service = Arc::new(Service {
        name: "s".into(),
        ..Default::default()
    });
    let nodes = (0..n)
        .map(|i| {
            let node = Node {
                id: format!("n{i}"),
                address: format!("10.0.0.{i}:9"),
                ..Default::default()
            };
            Arc::new(NodeInfo::new(node, service.clone()))
        })
        .collect();
    ServiceNodes::new("s".into(), nodes)
}

fn selection(c: &mut Criterion) {
    for n in [3usize, 100] {
        let snapshot = nodes(n);
        let strategies: [(&str, Box<dyn Selector>); 3] = [
            ("leastloaded", Box::new(LeastLoaded)),
            ("roundrobin", Box::new(RoundRobin)),
            ("random", Box::new(Random)),
        ];
        for (name, selector) in strategies {
            c.bench_function(&format!("select {name} of {n}"), |b| {
                b.iter(|| selector.select(black_box(&snapshot), &|_| true).unwrap())
            });
        }
    }
}

criterion_group!(benches, frames, heads, codecs, selection);
criterion_main!(benches);
