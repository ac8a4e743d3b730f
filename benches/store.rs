//! The keyspace without the network: inserts, hits, misses, TTL'd inserts, a walk of a
//! million-key database the way active expiry and SCAN walk it, and choosing a key to
//! evict in databases of 10,000 and 1,000,000 keys (the cost must not grow with them).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use roost::store::{Evictor, Keyspace, Policy, Value};

fn bench_store(c: &mut Criterion) {
    let keyspace = Keyspace::new(1);
    let db = keyspace.db(0);
    let value = Bytes::from(vec![b'v'; 1024]);
    let keys: Vec<Bytes> = (0..100_000)
        .map(|i| Bytes::from(format!("session:{i}")))
        .collect();
    for k in &keys {
        db.insert(k, Value::Str(value.clone()), None);
    }
    let now = roost::clock::now_ms();
    let mut i = 0;
    c.bench_function("store/get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            db.get(&keys[i], now).is_some()
        })
    });
    c.bench_function("store/get_miss", |b| {
        b.iter(|| db.get(b"no-such-session", now).is_some())
    });
    c.bench_function("store/insert_overwrite", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            db.insert(&keys[i], Value::Str(value.clone()), None)
        })
    });
    c.bench_function("store/insert_with_ttl", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            db.insert(&keys[i], Value::Str(value.clone()), Some(now + 1_800_000))
        })
    });

    let big = Keyspace::new(1);
    let big_db = big.db(0);
    let small = Bytes::from_static(b"x");
    for n in 0..1_000_000u32 {
        big_db.insert(
            &Bytes::from(n.to_be_bytes().to_vec()),
            Value::Str(small.clone()),
            Some(now + 3_600_000),
        );
    }
    c.bench_function("store/walk_1m_keys_all_shards", |b| {
        b.iter(|| {
            let mut expired = 0;
            for shard in 0..big_db.shard_count() {
                big_db.visit_shard(shard, |_, e| expired += e.is_expired(now) as usize);
            }
            expired
        })
    });
}

fn bench_eviction(c: &mut Criterion) {
    let value = Value::Str(Bytes::from(vec![b'v'; 100]));
    for size in [10_000u32, 1_000_000] {
        let keyspace = Keyspace::new(16);
        let db = keyspace.db(0);
        for n in 0..size {
            db.insert(&Bytes::from(n.to_be_bytes().to_vec()), value.clone(), None);
        }
        let mut evictor = Evictor::default();
        let mut next = size;
        // Each round evicts one key and adds one, so the database keeps its size.
        c.bench_function(&format!("store/evict_lru_and_insert_{size}_keys"), |b| {
            b.iter(|| {
                assert!(evictor.evict_one(&keyspace, Policy::AllKeysLru, 5));
                next += 1;
                db.insert(
                    &Bytes::from(next.to_be_bytes().to_vec()),
                    value.clone(),
                    None,
                );
            })
        });
    }
}

criterion_group!(benches, bench_store, bench_eviction);
criterion_main!(benches);
