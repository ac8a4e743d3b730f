//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO (Redis's bitops.c semantics: bit 0 is the most significant bit of the
//! first byte, offsets below `proto-max-bulk-len` bytes, the string zero-padded as it
//! grows). Writes are logged as themselves: each replays to the same bytes. BITCOUNT and
//! BITPOS check their arguments before the key, as Redis 7.2 does (7.0 answered 0 or -1
//! for a missing key whatever the arguments).

use bytes::{Bytes, BytesMut};

use super::string::{edit_string, read_string};
use super::{args, command, error, flags::*, Ctx, KeySpec, Outcome, Spec, ONE_KEY};
use crate::clock;
use crate::notify;
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;
use crate::store::Value;

/// BITOP: the destination, then every source.
const BITOP_KEYS: KeySpec = KeySpec {
    first: 2,
    last: -1,
    step: 1,
};

pub const COMMANDS: &[Spec] = &[
    command!("bitmap", "setbit", 4, WRITE | DENYOOM, ONE_KEY, setbit, "2.2.0",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.")
.with_key_specs(super::redis_meta::READS_AND_UPDATES),
    command!("bitmap", "getbit", 3, READONLY | FAST, ONE_KEY, getbit, "2.2.0",
        "Returns a bit value by offset.")
.with_key_specs(super::redis_meta::READS),
    command!("bitmap", "bitcount", -2, READONLY, ONE_KEY, bitcount, "2.6.0",
        "Counts the number of set bits (population counting) in a string.")
.with_key_specs(super::redis_meta::READS),
    command!("bitmap", "bitpos", -3, READONLY, ONE_KEY, bitpos, "2.8.7",
        "Finds the first set (1) or clear (0) bit in a string.")
.with_key_specs(super::redis_meta::READS),
    command!("bitmap", "bitop", -4, WRITE | DENYOOM, BITOP_KEYS, bitop, "2.6.0",
        "Performs bitwise operations on multiple strings, and stores the result.")
.with_key_specs(super::redis_meta::BITOP),
    command!("bitmap", "bitfield", -2, WRITE | DENYOOM, ONE_KEY, bitfield, "3.2.0",
        "Performs arbitrary bitfield integer operations on strings.")
.with_key_specs(super::redis_meta::BITFIELD),
    command!("bitmap", "bitfield_ro", -2, READONLY | FAST, ONE_KEY, bitfield_ro, "6.0.0",
        "Performs arbitrary read-only bitfield integer operations on strings.")
.with_key_specs(super::redis_meta::READS),
];

/// A bit offset as Redis's `getBitOffsetFromArgument` reads it: `#N` (when `bits` is
/// given) counts fields of that width; the byte it falls in must be below
/// `proto-max-bulk-len`.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], bits: Option<u32>) -> Result<u64, Reply> {
    let (hash, digits) = match (arg.first(), bits) {
        (Some(b'#'), Some(_)) => (true, &arg[1..]),
        _ => (false, arg),
    };
    let mut offset = parse_i64(digits).ok_or(error::BIT_OFFSET)?;
    if hash {
        offset = offset.wrapping_mul(bits.unwrap_or(1) as i64);
    }
    if offset < 0 || (offset as u64 >> 3) >= ctx.shared.config().proto_max_bulk_len {
        return Err(error::BIT_OFFSET);
    }
    Ok(offset as u64)
}

fn bit_at(value: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    match value.get(byte) {
        Some(b) => (b >> (7 - (offset & 7))) & 1,
        None => 0,
    }
}

fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let offset = bit_offset(ctx, &args[2], None)?;
    let on = match parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v as u8,
        _ => return Err(error::BIT_VALUE),
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7);
    let (old, changed) = edit_string(ctx.db(), &args[1], byte + 1, |buf, grown| {
        let old = (buf[byte] >> shift) & 1;
        buf[byte] = (buf[byte] & !(1 << shift)) | (on << shift);
        let changed = grown || old != on;
        ((old, changed), changed)
    })?;
    if changed {
        ctx.propagate(&[b"SETBIT", &args[1], &args[2], &args[3]]);
        ctx.notify(notify::STRING, "setbit", &args[1]);
    }
    Ok(Reply::Integer(old as i64))
}

fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let offset = bit_offset(ctx, &args[2], None)?;
    let value = read_string(ctx.db(), &args[1])?.unwrap_or_default();
    Ok(Reply::Integer(bit_at(&value, offset) as i64))
}

/// A range given as `start end [BYTE|BIT]` turned into inclusive bit offsets within a
/// string of `len` bytes, as Redis clamps it; None when empty.
fn bit_range(start: i64, end: i64, in_bits: bool, len: usize) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end || total == 0 {
        return None;
    }
    if in_bits {
        Some((start as u64, end as u64))
    } else {
        Some((start as u64 * 8, end as u64 * 8 + 7))
    }
}

/// The unit word after a range: `BYTE` or `BIT`.
fn unit(arg: &[u8]) -> Result<bool, Reply> {
    if args::is(arg, "bit") {
        Ok(true)
    } else if args::is(arg, "byte") {
        Ok(false)
    } else {
        Err(error::SYNTAX)
    }
}

/// The ones between bit offsets `from` and `to` (inclusive).
fn count_ones(value: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let mut count: u64 = value[first..=last]
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum();
    // Leave out the bits of the edge bytes outside the range.
    let head = value[first] & !(0xffu8 >> (from & 7));
    let tail = value[last] & (0xffu16 >> ((to & 7) + 1)) as u8;
    count -= head.count_ones() as u64 + tail.count_ones() as u64;
    count
}

fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let range = match args.len() {
        2 => None,
        4 | 5 => {
            let start = args::int(&args[2])?;
            let end = args::int(&args[3])?;
            let in_bits = match args.get(4) {
                Some(word) => unit(word)?,
                None => false,
            };
            if start < 0 && end < 0 && start > end {
                read_string(ctx.db(), &args[1])?;
                return Ok(Reply::Integer(0));
            }
            Some((start, end, in_bits))
        }
        _ => return Err(error::SYNTAX),
    };
    let value = read_string(ctx.db(), &args[1])?.unwrap_or_default();
    let (start, end, in_bits) = range.unwrap_or((0, -1, false));
    Ok(Reply::Integer(
        match bit_range(start, end, in_bits, value.len()) {
            None => 0,
            Some((from, to)) => count_ones(&value, from, to),
        } as i64,
    ))
}

/// The first bit equal to `bit` between bit offsets `from` and `to` (inclusive).
fn first_bit(value: &[u8], from: u64, to: u64, bit: u8) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xff };
    let mut offset = from;
    while offset <= to {
        let byte = (offset >> 3) as usize;
        if offset & 7 == 0 && offset + 7 <= to && value[byte] == skip {
            offset += 8;
            continue;
        }
        if bit_at(value, offset) == bit {
            return Some(offset);
        }
        offset += 1;
    }
    None
}

fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let bit = match args::int(&args[2])? {
        v @ (0 | 1) => v as u8,
        _ => return Err(error::BIT_POS_ARGUMENT),
    };
    if args.len() > 6 {
        return Err(error::SYNTAX);
    }
    let start = args.get(3).map(|a| args::int(a)).transpose()?;
    let in_bits = match args.get(5) {
        Some(word) => unit(word)?,
        None => false,
    };
    let end = args.get(4).map(|a| args::int(a)).transpose()?;
    let Some(value) = read_string(ctx.db(), &args[1])? else {
        return Ok(Reply::Integer(if bit == 1 { -1 } else { 0 }));
    };
    let Some((from, to)) = bit_range(start.unwrap_or(0), end.unwrap_or(-1), in_bits, value.len())
    else {
        return Ok(Reply::Integer(-1));
    };
    Ok(Reply::Integer(match first_bit(&value, from, to, bit) {
        Some(pos) => pos as i64,
        // Past a range without an explicit end the string counts as zero-padded.
        None if bit == 0 && end.is_none() => to as i64 + 1,
        None => -1,
    }))
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    let op = if args::is(&args[1], "and") {
        BitOp::And
    } else if args::is(&args[1], "or") {
        BitOp::Or
    } else if args::is(&args[1], "xor") {
        BitOp::Xor
    } else if args::is(&args[1], "not") {
        BitOp::Not
    } else {
        return Err(error::SYNTAX);
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(error::BITOP_NOT_ONE_KEY);
    }
    let sources = args[3..]
        .iter()
        .map(|key| read_string(ctx.db(), key).map(Option::unwrap_or_default))
        .collect::<Result<Vec<Bytes>, Reply>>()?;
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &Bytes, i: usize| s.get(i).copied().unwrap_or(0);
    let mut result = BytesMut::with_capacity(len);
    for i in 0..len {
        let mut out = byte(&sources[0], i);
        if op == BitOp::Not {
            out = !out;
        }
        for source in &sources[1..] {
            let b = byte(source, i);
            match op {
                BitOp::And => out &= b,
                BitOp::Or => out |= b,
                BitOp::Xor => out ^= b,
                BitOp::Not => {}
            }
        }
        result.extend_from_slice(&[out]);
    }
    let dst = &args[2];
    let now = clock::now_ms();
    if len > 0 {
        ctx.db().insert(dst, Value::Str(result.freeze()), None);
        ctx.notify(notify::STRING, "set", dst);
    } else if ctx.db().remove(dst, now).is_some() {
        ctx.notify(notify::GENERIC, "del", dst);
    } else {
        return Ok(Reply::Integer(0));
    }
    let mut record: Vec<&[u8]> = vec![b"BITOP"];
    record.extend(args[1..].iter().map(|a| a.as_ref()));
    ctx.propagate(&record);
    Ok(Reply::Integer(len as i64))
}

// ---------------------------------------------------------------------------------------
// BITFIELD
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// `i1`..`i64`, `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(error::BITFIELD_TYPE),
    };
    match parse_i64(&arg[1..]) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => {
            Ok((signed, bits as u32))
        }
        _ => Err(error::BITFIELD_TYPE),
    }
}

fn parse_fields(ctx: &Ctx<'_>, args: &[Bytes]) -> Result<Vec<Field>, Reply> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let word = &args[j];
        let takes_value = if args::is(word, "get") && left >= 2 {
            false
        } else if (args::is(word, "set") || args::is(word, "incrby")) && left >= 3 {
            true
        } else if args::is(word, "overflow") && left >= 1 {
            j += 1;
            overflow = if args::is(&args[j], "wrap") {
                Overflow::Wrap
            } else if args::is(&args[j], "sat") {
                Overflow::Sat
            } else if args::is(&args[j], "fail") {
                Overflow::Fail
            } else {
                return Err(error::BITFIELD_OVERFLOW_TYPE);
            };
            j += 1;
            continue;
        } else {
            return Err(error::SYNTAX);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], Some(bits))?;
        let op = if !takes_value {
            FieldOp::Get
        } else {
            let value = args::int(&args[j + 3])?;
            if args::is(word, "set") {
                FieldOp::Set(value)
            } else {
                FieldOp::IncrBy(value)
            }
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(fields)
}

fn get_field(buf: &[u8], offset: u64, bits: u32) -> u64 {
    let mut value = 0u64;
    for i in 0..bits as u64 {
        value = (value << 1) | bit_at(buf, offset + i) as u64;
    }
    value
}

fn set_field(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let bit = ((value >> (bits as u64 - 1 - i)) & 1) as u8;
        let at = offset + i;
        let byte = (at >> 3) as usize;
        let shift = 7 - (at & 7);
        buf[byte] = (buf[byte] & !(1 << shift)) | (bit << shift);
    }
}

fn signed_value(raw: u64, bits: u32) -> i64 {
    if bits == 64 {
        raw as i64
    } else if raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Redis's `checkSignedBitfieldOverflow`: whether `value + incr` leaves the range of an
/// `bits`-bit signed field, and what WRAP or SAT makes of it (C's wrapping arithmetic
/// included).
fn signed_overflow(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = max.wrapping_sub(value);
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(if overflow == Overflow::Sat {
            max
        } else {
            wrap()
        })
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if overflow == Overflow::Sat {
            min
        } else {
            wrap()
        })
    } else {
        None
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max: u64 = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if overflow == Overflow::Sat {
            max
        } else {
            wrap()
        })
    } else if incr < 0 && incr < min_incr {
        Some(if overflow == Overflow::Sat { 0 } else { wrap() })
    } else {
        None
    }
}

/// Applies one SET or INCRBY: its reply (null when OVERFLOW FAIL refused it) and
/// whether it changed the bits.
fn write_field(buf: &mut [u8], field: &Field) -> (Reply, bool) {
    let raw = get_field(buf, field.offset, field.bits);
    let (new_raw, reply, refused) = if field.signed {
        let old = signed_value(raw, field.bits);
        let (target, incr) = match field.op {
            FieldOp::IncrBy(incr) => (old, incr),
            FieldOp::Set(value) => (value, 0),
            FieldOp::Get => unreachable!("only writes"),
        };
        let (new, overflowed) = match signed_overflow(target, incr, field.bits, field.overflow) {
            Some(limited) => (limited, true),
            None => (target.wrapping_add(incr), false),
        };
        let reply = if matches!(field.op, FieldOp::IncrBy(_)) {
            new
        } else {
            old
        };
        (
            new as u64,
            reply,
            overflowed && field.overflow == Overflow::Fail,
        )
    } else {
        let (target, incr) = match field.op {
            FieldOp::IncrBy(incr) => (raw, incr),
            FieldOp::Set(value) => (value as u64, 0),
            FieldOp::Get => unreachable!("only writes"),
        };
        let (new, overflowed) = match unsigned_overflow(target, incr, field.bits, field.overflow) {
            Some(limited) => (limited, true),
            None => (target.wrapping_add(incr as u64), false),
        };
        let reply = if matches!(field.op, FieldOp::IncrBy(_)) {
            new as i64
        } else {
            raw as i64
        };
        (new, reply, overflowed && field.overflow == Overflow::Fail)
    };
    if refused {
        return (Reply::Null, false);
    }
    let mask = if field.bits == 64 {
        u64::MAX
    } else {
        (1u64 << field.bits) - 1
    };
    set_field(buf, field.offset, field.bits, new_raw & mask);
    (Reply::Integer(reply), raw != new_raw & mask)
}

fn bitfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Outcome {
    bitfield_generic(ctx, args, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> Outcome {
    let fields = parse_fields(ctx, args)?;
    let writes = fields.iter().any(|f| f.op != FieldOp::Get);
    if !writes {
        let value = read_string(ctx.db(), &args[1])?.unwrap_or_default();
        return Ok(Reply::Array(
            fields.iter().map(|f| read_field(&value, f)).collect(),
        ));
    }
    if read_only {
        return Err(error::BITFIELD_RO_GET_ONLY);
    }
    let highest = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + f.bits as u64 - 1)
        .max()
        .expect("a write");
    let (replies, changes, grown) = edit_string(
        ctx.db(),
        &args[1],
        (highest >> 3) as usize + 1,
        |buf, grown| {
            let mut changes = 0;
            let replies: Vec<Reply> = fields
                .iter()
                .map(|field| {
                    if field.op == FieldOp::Get {
                        return read_field(buf, field);
                    }
                    let (reply, changed) = write_field(buf, field);
                    if !matches!(reply, Reply::Null) && (changed || grown) {
                        changes += 1;
                    }
                    reply
                })
                .collect();
            ((replies, changes, grown), changes > 0)
        },
    )?;
    if changes > 0 || grown {
        let mut record: Vec<&[u8]> = vec![b"BITFIELD"];
        record.extend(args[1..].iter().map(|a| a.as_ref()));
        ctx.propagate(&record);
    }
    if changes > 0 {
        ctx.notify(notify::STRING, "setbit", &args[1]);
    }
    Ok(Reply::Array(replies))
}

fn read_field(value: &[u8], field: &Field) -> Reply {
    let raw = get_field(value, field.offset, field.bits);
    Reply::Integer(if field.signed {
        signed_value(raw, field.bits)
    } else {
        raw as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ones_are_counted_within_bit_ranges() {
        let value = [0xffu8, 0x0f, 0xf0];
        assert_eq!(count_ones(&value, 0, 23), 16);
        assert_eq!(count_ones(&value, 1, 7), 7);
        assert_eq!(count_ones(&value, 4, 11), 4);
        assert_eq!(count_ones(&value, 12, 16), 5);
        assert_eq!(count_ones(&value, 9, 9), 0);
    }

    #[test]
    fn fields_read_and_write_across_bytes() {
        let mut buf = [0u8; 3];
        set_field(&mut buf, 4, 8, 0xab);
        assert_eq!(buf, [0x0a, 0xb0, 0]);
        assert_eq!(get_field(&buf, 4, 8), 0xab);
        assert_eq!(signed_value(0xff, 8), -1);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Sat), Some(127));
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(3, -1, 8, Overflow::Sat), None);
    }
}
