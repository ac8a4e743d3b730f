//! Redis's packed containers as they appear inside RDB strings: listpacks (7.0 on),
//! ziplists (before 7.0), intsets and zipmaps (before 2.6). Reading checks every
//! length against the blob, so a damaged blob is an error, never a panic; writing
//! produces listpacks and intsets as Redis lays them out.

use bytes::Bytes;

/// One element of a packed container: Redis stores integers apart from strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Bytes(Bytes),
    Int(i64),
}

impl Element {
    pub fn into_bytes(self) -> Bytes {
        match self {
            Element::Bytes(b) => b,
            Element::Int(n) => Bytes::from(n.to_string()),
        }
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64)
}

/// Sign-extends the low `bits` of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// The elements of a listpack: a 4-byte total size, a 2-byte count, entries (encoding,
/// data, back-length), and 0xFF.
pub fn listpack_elements(blob: &[u8]) -> Option<Vec<Element>> {
    if blob.len() < 7 || le(&blob[0..4]) as usize != blob.len() || *blob.last()? != 0xFF {
        return None;
    }
    let mut elements = Vec::new();
    let mut i = 6;
    let end = blob.len() - 1;
    while i < end {
        let b = blob[i];
        let (element, size) = if b & 0x80 == 0 {
            (Element::Int((b & 0x7f) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let len = (b & 0x3f) as usize;
            (Element::Bytes(slice(blob, i + 1, len, end)?), 1 + len)
        } else if b & 0xE0 == 0xC0 {
            let v = ((b & 0x1f) as u64) << 8 | *blob.get(i + 1)? as u64;
            (Element::Int(signed(v, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            let len = ((b & 0x0f) as usize) << 8 | *blob.get(i + 1)? as usize;
            (Element::Bytes(slice(blob, i + 2, len, end)?), 2 + len)
        } else {
            let int = |n: usize| -> Option<(Element, usize)> {
                let raw = blob.get(i + 1..i + 1 + n)?;
                Some((Element::Int(signed(le(raw), n as u32 * 8)), 1 + n))
            };
            match b {
                0xF0 => {
                    let len = le(blob.get(i + 1..i + 5)?) as usize;
                    (Element::Bytes(slice(blob, i + 5, len, end)?), 5 + len)
                }
                0xF1 => int(2)?,
                0xF2 => int(3)?,
                0xF3 => int(4)?,
                0xF4 => int(8)?,
                _ => return None,
            }
        };
        i += size + backlen_size(size);
        if i > end {
            return None;
        }
        elements.push(element);
    }
    let count = le(&blob[4..6]) as usize;
    (count == 65535 || count == elements.len()).then_some(elements)
}

fn slice(blob: &[u8], from: usize, len: usize, end: usize) -> Option<Bytes> {
    let to = from.checked_add(len)?;
    (to <= end).then(|| Bytes::copy_from_slice(&blob[from..to]))
}

/// Bytes the back-length of an entry of `size` bytes takes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

fn push_backlen(out: &mut Vec<u8>, size: usize) {
    let n = backlen_size(size);
    for k in (0..n).rev() {
        let group = ((size >> (7 * k)) & 127) as u8;
        // The first byte (highest group) has no continuation bit.
        out.push(if k == n - 1 { group } else { group | 128 });
    }
}

/// Redis's strict integer test (string2ll): what a listpack stores as an integer.
pub fn as_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == s).then_some(n)
}

/// A listpack holding `items`, integers encoded as integers (as Redis encodes them).
pub fn listpack<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lp = Listpack::new();
    for item in items {
        lp.push(item);
    }
    lp.finish()
}

/// Builds a listpack element by element (streams mix integers and strings).
pub struct Listpack {
    out: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Listpack {
        Listpack::new()
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack {
            out: vec![0u8; 6],
            count: 0,
        }
    }

    /// A string, stored as an integer when it reads as one (as Redis's lpAppend).
    pub fn push(&mut self, item: &[u8]) {
        match as_int(item) {
            Some(v) => self.push_int(v),
            None => self.push_str(item),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let out = &mut self.out;
        let start = out.len();
        if (0..=127).contains(&v) {
            out.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            out.push(0xC0 | (u >> 8) as u8);
            out.push(u as u8);
        } else {
            let (tag, n) = if (-32768..=32767).contains(&v) {
                (0xF1, 2)
            } else if (-8_388_608..=8_388_607).contains(&v) {
                (0xF2, 3)
            } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
                (0xF3, 4)
            } else {
                (0xF4, 8)
            };
            out.push(tag);
            out.extend_from_slice(&v.to_le_bytes()[..n]);
        }
        self.end_element(start);
    }

    fn push_str(&mut self, item: &[u8]) {
        let out = &mut self.out;
        let start = out.len();
        if item.len() < 64 {
            out.push(0x80 | item.len() as u8);
        } else if item.len() < 4096 {
            out.push(0xE0 | (item.len() >> 8) as u8);
            out.push(item.len() as u8);
        } else {
            out.push(0xF0);
            out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(item);
        self.end_element(start);
    }

    fn end_element(&mut self, start: usize) {
        let size = self.out.len() - start;
        push_backlen(&mut self.out, size);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(0xFF);
        let total = self.out.len() as u32;
        self.out[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(65535) as u16;
        self.out[4..6].copy_from_slice(&count.to_le_bytes());
        self.out
    }
}

/// The elements of a ziplist: 4-byte size, 4-byte tail offset, 2-byte count, entries
/// (previous length, encoding, data), 0xFF.
pub fn ziplist_elements(blob: &[u8]) -> Option<Vec<Element>> {
    if blob.len() < 11 || le(&blob[0..4]) as usize != blob.len() || *blob.last()? != 0xFF {
        return None;
    }
    let end = blob.len() - 1;
    let mut elements = Vec::new();
    let mut i = 10;
    while i < end {
        i += if blob[i] < 254 { 1 } else { 5 };
        let b = *blob.get(i)?;
        let (element, size) = match b >> 6 {
            0 => {
                let len = (b & 0x3f) as usize;
                (Element::Bytes(slice(blob, i + 1, len, end)?), 1 + len)
            }
            1 => {
                let len = ((b & 0x3f) as usize) << 8 | *blob.get(i + 1)? as usize;
                (Element::Bytes(slice(blob, i + 2, len, end)?), 2 + len)
            }
            2 => {
                let raw = blob.get(i + 1..i + 5)?;
                let len = u32::from_be_bytes(raw.try_into().ok()?) as usize;
                (Element::Bytes(slice(blob, i + 5, len, end)?), 5 + len)
            }
            _ => {
                let int = |n: usize| -> Option<(Element, usize)> {
                    let raw = blob.get(i + 1..i + 1 + n)?;
                    Some((Element::Int(signed(le(raw), n as u32 * 8)), 1 + n))
                };
                match b {
                    0xC0 => int(2)?,
                    0xD0 => int(4)?,
                    0xE0 => int(8)?,
                    0xF0 => int(3)?,
                    0xFE => int(1)?,
                    0xF1..=0xFD => (Element::Int((b & 0x0f) as i64 - 1), 1),
                    _ => return None,
                }
            }
        };
        i += size;
        if i > end {
            return None;
        }
        elements.push(element);
    }
    let count = le(&blob[8..10]) as usize;
    (count == 65535 || count == elements.len()).then_some(elements)
}

/// The members of an intset: a 4-byte width (2, 4 or 8), a 4-byte count, the integers.
pub fn intset_members(blob: &[u8]) -> Option<Vec<i64>> {
    if blob.len() < 8 {
        return None;
    }
    let width = le(&blob[0..4]) as usize;
    let count = le(&blob[4..8]) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    Some(
        blob[8..]
            .chunks_exact(width)
            .map(|c| signed(le(c), width as u32 * 8))
            .collect(),
    )
}

/// An intset of `members` (sorted here), in the narrowest width that holds them all.
pub fn intset(members: &mut [i64]) -> Vec<u8> {
    members.sort_unstable();
    let fits = |lo: i64, hi: i64| members.iter().all(|m| (lo..=hi).contains(m));
    let width: usize = if fits(i16::MIN as i64, i16::MAX as i64) {
        2
    } else if fits(i32::MIN as i64, i32::MAX as i64) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for m in members.iter() {
        out.extend_from_slice(&m.to_le_bytes()[..width]);
    }
    out
}

/// The field/value pairs of a zipmap (Redis before 2.6): a count byte, then entries of
/// length, key, length, free byte count, value, free bytes; 0xFF ends it.
pub fn zipmap_pairs(blob: &[u8]) -> Option<Vec<(Bytes, Bytes)>> {
    let mut i = 1;
    let mut pairs = Vec::new();
    let length = |i: &mut usize| -> Option<Option<usize>> {
        let b = *blob.get(*i)?;
        *i += 1;
        Some(match b {
            0..=253 => Some(b as usize),
            254 => {
                let raw = blob.get(*i..*i + 4)?;
                *i += 4;
                Some(le(raw) as usize)
            }
            255 => None,
        })
    };
    loop {
        let Some(klen) = length(&mut i)? else {
            return Some(pairs);
        };
        let key = slice(blob, i, klen, blob.len())?;
        i += klen;
        let vlen = length(&mut i)??;
        let free = *blob.get(i)? as usize;
        i += 1;
        let value = slice(blob, i, vlen, blob.len())?;
        i += vlen + free;
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpacks_round_trip_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"01",
            b"+1",
            b"",
            b"hello",
            &mid,
            &long,
        ];
        let blob = listpack(items.iter().copied());
        let back: Vec<Bytes> = listpack_elements(&blob)
            .unwrap()
            .into_iter()
            .map(Element::into_bytes)
            .collect();
        let expected: Vec<Bytes> = items.iter().map(|i| Bytes::copy_from_slice(i)).collect();
        assert_eq!(back, expected);
        assert_eq!(listpack_elements(&blob[..blob.len() - 1]), None);
    }

    #[test]
    fn ziplists_of_redis_before_7_decode_every_encoding() {
        let mut entries: Vec<Vec<u8>> = vec![
            vec![0x02, b'a', b'b'],
            vec![0xF6],
            vec![0xFE, 0x9C],
            vec![0xC0, 0x2C, 0x01],
            vec![0xF0, 0xA0, 0x86, 0x01],
            vec![0xD0, 0x00, 0xCA, 0x9A, 0x3B],
            vec![0x40, 70],
        ];
        entries[6].extend(vec![b'z'; 70]);
        let mut last = vec![0xE0];
        last.extend((-5i64).to_le_bytes());
        entries.push(last);
        let mut blob = vec![0u8; 10];
        let mut previous = 0;
        for e in &entries {
            blob.push(previous as u8);
            blob.extend(e);
            previous = e.len() + 1;
        }
        blob.push(0xFF);
        let total = blob.len() as u32;
        blob[0..4].copy_from_slice(&total.to_le_bytes());
        blob[8..10].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        let decoded = ziplist_elements(&blob).unwrap();
        assert_eq!(
            decoded,
            [
                Element::Bytes(Bytes::from_static(b"ab")),
                Element::Int(5),
                Element::Int(-100),
                Element::Int(300),
                Element::Int(100_000),
                Element::Int(1_000_000_000),
                Element::Bytes(Bytes::from(vec![b'z'; 70])),
                Element::Int(-5),
            ]
        );
        assert_eq!(ziplist_elements(&blob[..blob.len() - 2]), None);
    }

    #[test]
    fn zipmaps_of_redis_before_2_6_decode() {
        // Two pairs, the second value with two free bytes after it.
        let blob = [
            2, 1, b'a', 2, 0, b'x', b'y', 1, b'b', 1, 2, b'z', 0, 0, 0xFF,
        ];
        assert_eq!(
            zipmap_pairs(&blob),
            Some(vec![
                (Bytes::from_static(b"a"), Bytes::from_static(b"xy")),
                (Bytes::from_static(b"b"), Bytes::from_static(b"z")),
            ])
        );
    }

    #[test]
    fn intsets_pick_the_narrowest_width() {
        let blob = intset(&mut [5, -3, 70000]);
        assert_eq!(&blob[0..4], &4u32.to_le_bytes());
        assert_eq!(intset_members(&blob), Some(vec![-3, 5, 70000]));
        assert_eq!(intset_members(&blob[..blob.len() - 1]), None);
    }
}
