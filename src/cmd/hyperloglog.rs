//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST, on string values in
//! Redis's own representation, so an HLL read with GET moves between Redis and Roost:
//!
//! - a 16-byte header: `HYLL`, the encoding (0 dense, 1 sparse), three unused bytes, and
//!   the cached cardinality (little endian; its top bit set means "stale");
//! - dense: 16384 6-bit registers, least significant bits first;
//! - sparse: run-length opcodes, ZERO `00xxxxxx` (1-64 zero registers), XZERO
//!   `01xxxxxx yyyyyyyy` (up to 16384), VAL `1vvvvvxx` (1-4 registers of value 1-32),
//!   edited in place exactly as Redis's `hllSparseSet` does (split, then merge equal
//!   neighbours), and turned dense once a value passes 32 or it would outgrow
//!   `hll-sparse-max-bytes` (3000).
//!
//! Elements are hashed with MurmurHash64A (seed 0xadc83b19); the estimate is Ertl's, as in
//! Redis 5 and later. PFCOUNT of one key caches the estimate in the header, as Redis
//! does, and logs itself so the log and replicas hold the same bytes (a replica's own
//! clients get the estimate without the cache being written).

use bytes::{Bytes, BytesMut};

use super::string::{edit_string, read_string};
use super::{args, command, error, flags::*, Ctx, KeySpec, Outcome, Spec, ALL_KEYS, ONE_KEY};
use crate::notify;
use crate::protocol::Reply;

/// PFDEBUG: the key is the second argument.
const SECOND_KEY: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

pub const COMMANDS: &[Spec] =
    &[
        command!(
            "hyperloglog",
            "pfadd",
            -2,
            WRITE | DENYOOM | FAST,
            ONE_KEY,
            pfadd,
            "2.8.9",
            "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."
        )
        .with_key_specs(super::redis_meta::INSERTS),
        command!("hyperloglog", "pfcount", -2, READONLY | EXCLUSIVE, ALL_KEYS, pfcount, "2.8.9",
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).")
        .with_key_specs(super::redis_meta::PFCOUNT),
        command!(
            "hyperloglog",
            "pfmerge",
            -2,
            WRITE | DENYOOM,
            ALL_KEYS,
            pfmerge,
            "2.8.9",
            "Merges one or more HyperLogLog values into a single key."
        )
        .with_key_specs(super::redis_meta::PFMERGE),
        command!(
            "hyperloglog",
            "pfdebug",
            3,
            WRITE | DENYOOM | ADMIN,
            SECOND_KEY,
            pfdebug,
            "2.8.9",
            "Internal commands for debugging HyperLogLog values."
        )
        .with_key_specs(super::redis_meta::PFDEBUG),
        command!(
            "hyperloglog",
            "pfselftest",
            1,
            ADMIN,
            super::NO_KEYS,
            pfselftest,
            "2.8.9",
            "An internal command for testing HyperLogLog values."
        ),
    ];

const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const Q: u32 = 64 - P;
const HEADER: usize = 16;
const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const SPARSE_MAX_BYTES: usize = 3000;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Redis's MurmurHash64A, as `hllPatLen` calls it.
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = (seed as u64) ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the length of its run of zeros plus one.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------
// Representation
// ---------------------------------------------------------------------------------------

/// A new, empty HLL: sparse, one XZERO opcode, cached cardinality 0.
fn new_hll() -> Vec<u8> {
    let mut hll = vec![0u8; HEADER];
    hll[..4].copy_from_slice(b"HYLL");
    hll[4] = SPARSE;
    let run = REGISTERS - 1;
    hll.push(0x40 | (run >> 8) as u8);
    hll.push((run & 0xff) as u8);
    hll
}

/// Whether a string is an HLL Redis would accept (`isHLLObjectOrReply`).
fn is_hll(value: &[u8]) -> bool {
    value.len() >= HEADER
        && &value[..4] == b"HYLL"
        && value[4] <= SPARSE
        && (value[4] != DENSE || value.len() == DENSE_SIZE)
}

fn invalidate_cache(hll: &mut [u8]) {
    hll[15] |= 0x80;
}

fn dense_get(registers: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = registers[byte] as u16;
    let b1 = registers.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(registers: &mut [u8], i: usize, value: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = value as u16;
    registers[byte] = ((registers[byte] as u16 & !(63u16 << fb)) | (v << fb)) as u8;
    if byte + 1 < registers.len() {
        let fb8 = 8 - fb;
        registers[byte + 1] = ((registers[byte + 1] as u16 & !(63u16 >> fb8)) | (v >> fb8)) as u8;
    }
}

/// One sparse opcode: how many registers it covers, their value, its length in bytes.
#[derive(Clone, Copy)]
struct Op {
    run: usize,
    value: u8,
    bytes: usize,
}

fn read_op(sparse: &[u8], at: usize) -> Option<Op> {
    let b = *sparse.get(at)?;
    Some(if b & 0x80 != 0 {
        Op {
            run: (b & 3) as usize + 1,
            value: ((b >> 2) & 0x1f) + 1,
            bytes: 1,
        }
    } else if b & 0xc0 == 0 {
        Op {
            run: (b & 0x3f) as usize + 1,
            value: 0,
            bytes: 1,
        }
    } else {
        let low = *sparse.get(at + 1)? as usize;
        Op {
            run: ((((b & 0x3f) as usize) << 8) | low) + 1,
            value: 0,
            bytes: 2,
        }
    })
}

fn val_op(value: u8, run: usize) -> u8 {
    ((value - 1) << 2) | (run as u8 - 1) | 0x80
}

fn push_zeros(out: &mut Vec<u8>, run: usize) {
    if run > ZERO_MAX_LEN {
        out.push(0x40 | ((run - 1) >> 8) as u8);
        out.push(((run - 1) & 0xff) as u8);
    } else {
        out.push((run - 1) as u8);
    }
}

/// Every register of a sparse or dense HLL; None if the sparse opcodes do not cover
/// exactly 16384 registers.
fn registers(hll: &[u8]) -> Option<Vec<u8>> {
    if hll[4] == DENSE {
        return Some(
            (0..REGISTERS)
                .map(|i| dense_get(&hll[HEADER..], i))
                .collect(),
        );
    }
    let mut out = Vec::with_capacity(REGISTERS);
    let mut at = HEADER;
    while at < hll.len() {
        let op = read_op(hll, at)?;
        if out.len() + op.run > REGISTERS {
            return None;
        }
        out.extend(std::iter::repeat_n(op.value, op.run));
        at += op.bytes;
    }
    (out.len() == REGISTERS).then_some(out)
}

/// `hllSparseToDense`: the header kept (cache included), the registers written out.
fn to_dense(hll: &mut Vec<u8>) -> Option<()> {
    if hll[4] == DENSE {
        return Some(());
    }
    let regs = registers(hll)?;
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&hll[..HEADER]);
    dense[4] = DENSE;
    for (i, &v) in regs.iter().enumerate() {
        if v != 0 {
            dense_set(&mut dense[HEADER..], i, v);
        }
    }
    *hll = dense;
    Some(())
}

/// Raises register `index` to `count` (Redis's `hllSparseSet` and `hllDenseSet`):
/// whether it changed; None for a corrupted HLL.
fn set_register(hll: &mut Vec<u8>, index: usize, count: u8) -> Option<bool> {
    if hll[4] == DENSE {
        let regs = &mut hll[HEADER..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Some(true);
        }
        return Some(false);
    }
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Step 1: the opcode covering the register.
    let (mut at, mut first, mut prev) = (HEADER, 0usize, None);
    let op = loop {
        let op = read_op(hll, at)?;
        if index < first + op.run {
            break op;
        }
        prev = Some(at);
        at += op.bytes;
        first += op.run;
        if at >= hll.len() {
            return None;
        }
    };
    let last = first + op.run - 1;
    let is_val = op.value > 0;
    if is_val {
        if op.value >= count {
            return Some(false);
        }
        if op.run == 1 {
            hll[at] = val_op(count, 1);
            merge(hll, prev.unwrap_or(HEADER));
            return Some(true);
        }
    }
    if !is_val && op.bytes == 1 && op.run == 1 {
        hll[at] = val_op(count, 1);
        merge(hll, prev.unwrap_or(HEADER));
        return Some(true);
    }
    // Step 2: split the opcode around the register.
    let mut seq = Vec::with_capacity(5);
    if is_val {
        if index != first {
            seq.push(val_op(op.value, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(op.value, last - index));
        }
    } else {
        if index != first {
            push_zeros(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            push_zeros(&mut seq, last - index);
        }
    }
    // Step 3: put it in place, unless that grows the HLL past its limit.
    if seq.len() > op.bytes && hll.len() + seq.len() - op.bytes > SPARSE_MAX_BYTES {
        return promote(hll, index, count);
    }
    hll.splice(at..at + op.bytes, seq);
    merge(hll, prev.unwrap_or(HEADER));
    Some(true)
}

fn promote(hll: &mut Vec<u8>, index: usize, count: u8) -> Option<bool> {
    to_dense(hll)?;
    let regs = &mut hll[HEADER..];
    if dense_get(regs, index) < count {
        dense_set(regs, index, count);
    }
    Some(true)
}

/// Step 4 of `hllSparseSet`: merges equal adjacent VAL opcodes, looking at up to five
/// opcodes from `at`.
fn merge(hll: &mut Vec<u8>, mut at: usize) {
    let mut scan = 5;
    while at < hll.len() && scan > 0 {
        scan -= 1;
        let b = hll[at];
        if b & 0xc0 == 0x40 {
            at += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            at += 1;
            continue;
        }
        if at + 1 < hll.len() && hll[at + 1] & 0x80 != 0 {
            let (v1, v2) = (((b >> 2) & 0x1f) + 1, ((hll[at + 1] >> 2) & 0x1f) + 1);
            if v1 == v2 {
                let len = (b & 3) as usize + 1 + (hll[at + 1] & 3) as usize + 1;
                if len <= VAL_MAX_LEN {
                    hll[at + 1] = val_op(v1, len);
                    hll.remove(at);
                    continue;
                }
            }
        }
        at += 1;
    }
}

/// Ertl's estimate from the register histogram (Redis's `hllCount`).
fn estimate(regs: &[u8]) -> u64 {
    let m = REGISTERS as f64;
    let mut histogram = [0u32; 64];
    for &r in regs {
        histogram[r as usize] += 1;
    }
    let mut z = m * tau((m - histogram[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

fn cached(hll: &[u8]) -> Option<u64> {
    (hll[15] & 0x80 == 0).then(|| u64::from_le_bytes(hll[8..16].try_into().expect("8 bytes")))
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

/// The HLL at `key`: None if absent, WRONGTYPE for another type or a string that is
/// not an HLL.
fn read_hll(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match read_string(ctx.db(), key)? {
        None => Ok(None),
        Some(value) if is_hll(&value) => Ok(Some(value)),
        Some(_) => Err(error::NOT_AN_HLL),
    }
}

/// Replaces the HLL at `key` (created if absent) with what `f` makes of it; `f` says
/// whether it changed it.
fn edit_hll<R>(
    ctx: &Ctx<'_>,
    key: &Bytes,
    f: impl FnOnce(&mut Vec<u8>) -> (R, bool),
) -> Result<R, Reply> {
    edit_string(ctx.db(), key, 0, |buf: &mut BytesMut, _| {
        let mut hll = buf.to_vec();
        let (result, changed) = f(&mut hll);
        if changed {
            buf.clear();
            buf.extend_from_slice(&hll);
        }
        (result, changed)
    })
}

fn pfadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let existing = read_hll(ctx, &args[1])?;
    let created = existing.is_none();
    let updated = edit_hll(ctx, &args[1], |hll| {
        if created {
            *hll = new_hll();
        }
        let mut updated = created;
        for element in &args[2..] {
            let (index, count) = pattern(element);
            match set_register(hll, index, count) {
                None => return (Err(error::INVALID_HLL), updated),
                Some(true) => updated = true,
                Some(false) => {}
            }
        }
        if updated {
            invalidate_cache(hll);
        }
        (Ok(updated), updated)
    })??;
    if updated {
        let mut record: Vec<&[u8]> = vec![b"PFADD"];
        record.extend(args[1..].iter().map(|a| a.as_ref()));
        ctx.propagate(&record);
        ctx.notify(notify::STRING, "pfadd", &args[1]);
    }
    Ok(Reply::Integer(updated as i64))
}

fn pfcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    if args.len() > 2 {
        let mut max = vec![0u8; REGISTERS];
        for key in &args[1..] {
            let Some(hll) = read_hll(ctx, key)? else {
                continue;
            };
            let regs = registers(&hll).ok_or(error::INVALID_HLL)?;
            for (m, r) in max.iter_mut().zip(regs) {
                *m = (*m).max(r);
            }
        }
        return Ok(Reply::Integer(estimate(&max) as i64));
    }
    let Some(hll) = read_hll(ctx, &args[1])? else {
        return Ok(Reply::Integer(0));
    };
    if let Some(card) = cached(&hll) {
        return Ok(Reply::Integer(card as i64));
    }
    let card = estimate(&registers(&hll).ok_or(error::INVALID_HLL)?);
    // A replica's own clients read; only the primary's stream writes its copy.
    if !ctx.shared.repl.is_replica() || ctx.client.from_primary {
        edit_hll(ctx, &args[1], |hll| {
            hll[8..16].copy_from_slice(&card.to_le_bytes());
            ((), true)
        })?;
        ctx.propagate(&[b"PFCOUNT", &args[1]]);
    }
    Ok(Reply::Integer(card as i64))
}

fn pfmerge(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let mut max = vec![0u8; REGISTERS];
    let mut dense = false;
    for key in &args[1..] {
        let Some(hll) = read_hll(ctx, key)? else {
            continue;
        };
        dense |= hll[4] == DENSE;
        let regs = registers(&hll).ok_or(error::INVALID_HLL)?;
        for (m, r) in max.iter_mut().zip(regs) {
            *m = (*m).max(r);
        }
    }
    let created = read_hll(ctx, &args[1])?.is_none();
    edit_hll(ctx, &args[1], |hll| {
        if created {
            *hll = new_hll();
        }
        if dense && to_dense(hll).is_none() {
            return (Err(error::INVALID_HLL), false);
        }
        for (i, &m) in max.iter().enumerate() {
            if m != 0 && set_register(hll, i, m).is_none() {
                return (Err(error::INVALID_HLL), false);
            }
        }
        invalidate_cache(hll);
        (Ok(()), true)
    })??;
    let mut record: Vec<&[u8]> = vec![b"PFMERGE"];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    ctx.notify(notify::STRING, "pfadd", &args[1]);
    Ok(Reply::simple("OK"))
}

fn pfdebug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let sub = &args[1];
    let hll = read_hll(ctx, &args[2])?.ok_or(error::PFDEBUG_NO_KEY)?;
    let densify = |ctx: &mut Ctx<'_>| -> Result<bool, Reply> {
        if hll[4] == DENSE {
            return Ok(false);
        }
        edit_hll(ctx, &args[2], |h| match to_dense(h) {
            Some(()) => (Ok(true), true),
            None => (Err(error::INVALID_HLL), false),
        })??;
        ctx.propagate(&[b"PFDEBUG", b"TODENSE", &args[2]]);
        Ok(true)
    };
    if args::is(sub, "getreg") {
        densify(ctx)?;
        let regs = registers(&hll).ok_or(error::INVALID_HLL)?;
        Ok(Reply::Array(
            regs.into_iter().map(|r| Reply::Integer(r as i64)).collect(),
        ))
    } else if args::is(sub, "decode") {
        if hll[4] != SPARSE {
            return Err(error::HLL_NOT_SPARSE);
        }
        let mut parts = Vec::new();
        let mut at = HEADER;
        while let Some(op) = read_op(&hll, at) {
            parts.push(match (op.value, op.bytes) {
                (0, 1) => format!("z:{}", op.run),
                (0, _) => format!("Z:{}", op.run),
                (v, _) => format!("v:{},{}", v, op.run),
            });
            at += op.bytes;
        }
        Ok(Reply::Bulk(Bytes::from(parts.join(" "))))
    } else if args::is(sub, "encoding") {
        Ok(Reply::simple(if hll[4] == DENSE {
            "dense"
        } else {
            "sparse"
        }))
    } else if args::is(sub, "todense") {
        Ok(Reply::Integer(densify(ctx)? as i64))
    } else {
        Err(error::unknown_pfdebug_subcommand(&args::text(sub)))
    }
}

/// Checks the representation against itself: registers set through the sparse form
/// read back the same from the dense form, and the estimate stays within its error.
fn pfselftest(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Outcome {
    let mut sparse = new_hll();
    let mut dense = new_hll();
    to_dense(&mut dense).ok_or(error::HLL_SELFTEST_FAILED)?;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for n in 1..=20_000u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (index, count) = pattern(&seed.to_le_bytes());
        let a = set_register(&mut sparse, index, count).ok_or(error::HLL_SELFTEST_FAILED)?;
        let b = set_register(&mut dense, index, count).ok_or(error::HLL_SELFTEST_FAILED)?;
        if a != b && sparse[4] == SPARSE {
            return Err(error::HLL_SELFTEST_FAILED);
        }
        if n % 1000 == 0 {
            let regs = registers(&sparse).ok_or(error::HLL_SELFTEST_FAILED)?;
            if Some(&regs) != registers(&dense).as_ref() {
                return Err(error::HLL_SELFTEST_FAILED);
            }
            let error_rate = (estimate(&regs) as f64 - n as f64).abs() / n as f64;
            // 1.04 / sqrt(16384) is 0.81%; five standard errors is far out.
            if error_rate > 0.0406 {
                return Err(error::HLL_SELFTEST_FAILED);
            }
        }
    }
    Ok(Reply::simple("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HEADER];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_hll();
        let mut dense = new_hll();
        to_dense(&mut dense).unwrap();
        for i in 0..5000u32 {
            let (index, count) = pattern(&i.to_le_bytes());
            set_register(&mut sparse, index, count).unwrap();
            set_register(&mut dense, index, count).unwrap();
        }
        assert_eq!(registers(&sparse), registers(&dense));
        let n = estimate(&registers(&dense).unwrap()) as f64;
        assert!((n - 5000.0).abs() / 5000.0 < 0.05, "{n}");
    }
}
