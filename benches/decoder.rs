//! Request decoding: Roost's resumable decoder on the requests sessions produce, and the
//! `redis-protocol` crate's decoder on the same bytes for comparison.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use roost::protocol::{Decoder, Limits};

fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n", a.len()).into_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn decode_all(input: &[u8]) -> usize {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(input);
    let mut n = 0;
    while let Ok(Some(_)) = decoder.decode(&mut buf, Limits::default()) {
        n += 1;
    }
    n
}

fn bench_decoder(c: &mut Criterion) {
    let value = vec![b'v'; 1024];
    let set = request(&[b"SET", b"session:4f1c2a", &value, b"EX", b"1800"]);
    let get = request(&[b"GET", b"session:4f1c2a"]);
    let pipeline: Vec<u8> = (0..100).flat_map(|_| set.clone()).collect();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get", |b| b.iter(|| decode_all(&get)));
    group.bench_function("set_1kb_ex", |b| b.iter(|| decode_all(&set)));
    group.bench_function("inline_ping", |b| b.iter(|| decode_all(b"PING\r\n")));
    group.bench_function("redis_protocol_crate/get", |b| {
        b.iter(|| {
            redis_protocol::resp2::decode::decode(&get)
                .unwrap()
                .unwrap()
                .1
        })
    });
    group.bench_function("redis_protocol_crate/set_1kb_ex", |b| {
        b.iter(|| {
            redis_protocol::resp2::decode::decode(&set)
                .unwrap()
                .unwrap()
                .1
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("pipeline_100_sets", |b| b.iter(|| decode_all(&pipeline)));
    group.finish();

    // A 1 MB argument arriving in 16 KB reads: each read must cost O(read), not O(total).
    let big = request(&[b"SET", b"k", &vec![b'x'; 1 << 20]]);
    c.bench_function("decode/1mb_in_16kb_reads", |b| {
        b.iter_batched(
            || big.clone(),
            |input| {
                let mut decoder = Decoder::new();
                let mut buf = BytesMut::new();
                let mut done = 0;
                for chunk in input.chunks(16 * 1024) {
                    buf.extend_from_slice(chunk);
                    if let Ok(Some(_)) = decoder.decode(&mut buf, Limits::default()) {
                        done += 1;
                    }
                }
                done
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_decoder);
criterion_main!(benches);
