//! DEBUG DIGEST and DIGEST-VALUE: a SHA-1 fingerprint of the dataset or of single values,
//! computed the way Redis computes it, so a digest taken on Roost equals redis-server's
//! for the same data (tests compare them) and test suites that check a replica against
//! its primary by digest work across the two.
//!
//! Two ways of folding data into a 20-byte digest: *xor* adds the SHA-1 of some bytes by
//! xor, so the order of unordered things (keys, set members, hash fields) does not
//! matter; *mix* xors and then hashes the digest itself, so order does (list elements,
//! a key before its value). Every value starts with its Redis type code (big-endian
//! u32); a key with an expiry time has the fixed string `!!expire!!` xored in (the time
//! itself is not part of it).

use sha1::{Digest as _, Sha1};

use super::{Db, Keyspace, ValueRef};
use crate::protocol::reply::format_double;

/// 20 bytes of SHA-1 output.
pub type Digest = [u8; 20];

fn xor_in(digest: &mut Digest, data: &[u8]) {
    let hash = Sha1::digest(data);
    for (d, h) in digest.iter_mut().zip(hash.iter()) {
        *d ^= h;
    }
}

fn mix_in(digest: &mut Digest, data: &[u8]) {
    xor_in(digest, data);
    let hash = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&hash);
}

/// Redis's type codes (`OBJ_STRING` ...), the first thing mixed into a value's digest.
fn type_code(value: ValueRef<'_>) -> u32 {
    match value {
        ValueRef::Str(_) => 0,
        ValueRef::List(_) => 1,
        ValueRef::Set(_) => 2,
        ValueRef::ZSet(_) => 3,
        ValueRef::Hash(_) => 4,
        ValueRef::Stream(_) => 6,
    }
}

/// Folds one value (and whether it expires) into `digest`, which the caller has
/// started (zeroed, or with the key mixed in).
pub fn fold_value(digest: &mut Digest, value: ValueRef<'_>, expires: bool) {
    mix_in(digest, &type_code(value).to_be_bytes());
    match value {
        ValueRef::Str(s) => mix_in(digest, s),
        ValueRef::List(list) => list.items.iter().for_each(|item| mix_in(digest, item)),
        ValueRef::Set(set) => set.members.iter().for_each(|m| xor_in(digest, m)),
        ValueRef::ZSet(zset) => {
            for (member, score) in zset.iter() {
                let mut element = Digest::default();
                mix_in(&mut element, member);
                mix_in(&mut element, format_double(score).as_bytes());
                xor_in(digest, &element);
            }
        }
        ValueRef::Hash(hash) => {
            for (field, value) in &hash.map {
                let mut element = Digest::default();
                mix_in(&mut element, field);
                mix_in(&mut element, value);
                xor_in(digest, &element);
            }
        }
        ValueRef::Stream(stream) => {
            for entry in stream.entries() {
                mix_in(
                    digest,
                    format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes(),
                );
                entry.fields.iter().for_each(|f| mix_in(digest, f));
            }
        }
    }
    if expires {
        xor_in(digest, b"!!expire!!");
    }
}

/// DEBUG DIGEST-VALUE of one key of `db`: zeros when it does not exist. Like Redis's,
/// it looks past logical expiry.
pub fn key_value_digest(db: &Db, key: &[u8]) -> Digest {
    let mut digest = Digest::default();
    if let Some(entry) = db.peek_raw(key) {
        fold_value(&mut digest, entry.value(), entry.expire_at().is_some());
    }
    digest
}

/// DEBUG DIGEST: every database that has keys contributes its number (mixed, so the
/// same data in another database differs) and the xor of its key-and-value digests;
/// all zeros for an empty dataset.
pub fn dataset_digest(keyspace: &Keyspace) -> Digest {
    let mut total = Digest::default();
    for index in 0..keyspace.databases() {
        let db = keyspace.db(index);
        if db.is_empty() {
            continue;
        }
        mix_in(&mut total, &(index as u32).to_be_bytes());
        db.for_each_key(|key, entry| {
            let mut digest = Digest::default();
            mix_in(&mut digest, key);
            fold_value(&mut digest, entry.value(), entry.expire_at().is_some());
            xor_in(&mut total, &digest);
        });
    }
    total
}

/// The lower-case hex form the replies carry.
pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_depends_on_order_and_xoring_does_not() {
        let (mut ab, mut ba) = (Digest::default(), Digest::default());
        mix_in(&mut ab, b"a");
        mix_in(&mut ab, b"b");
        mix_in(&mut ba, b"b");
        mix_in(&mut ba, b"a");
        assert_ne!(ab, ba);
        let (mut ab, mut ba) = (Digest::default(), Digest::default());
        xor_in(&mut ab, b"a");
        xor_in(&mut ab, b"b");
        xor_in(&mut ba, b"b");
        xor_in(&mut ba, b"a");
        assert_eq!(ab, ba);
        assert_ne!(ab, Digest::default());
    }
}
