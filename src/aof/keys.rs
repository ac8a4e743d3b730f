//! A base of key records (format version 2, kind 3): what a rewrite writes, so that a
//! restart loads strings straight into the store instead of parsing and running one
//! `SET` per key.
//!
//! A record is `len u32 | crc32 u32 | payload` (little endian), the CRC covering `len`
//! and the payload, whose first byte says what it is:
//!
//! - `S` select: `db u32 | keys u64`, the database the following records go to and how
//!   many keys it held when the snapshot began (a hint to size its table);
//! - `K` string: `expire_at u64` (Unix ms, 0 for none) `| key_len u32 | key | value`;
//! - `C` command: a RESP array, run through the command handlers as a log record is
//!   (aggregates, function libraries: they are rare next to strings, and the command
//!   records already recreate every detail of them).
//!
//! There are no LSNs: a base stands for everything before the LSN in its name. Unlike a
//! segment, a base is fsynced before it is installed, so anything that does not check
//! out (a torn record included) is damage, reported with its offset.

use bytes::Bytes;

use super::record::{checksum, decode_payload, Stop, MAX_PAYLOAD};

const HEAD: usize = 8;
const SELECT: u8 = b'S';
const STRING: u8 = b'K';
const COMMAND: u8 = b'C';

/// Appends a select record.
pub fn encode_select(db: usize, keys: u64, out: &mut Vec<u8>) {
    let start = begin(out, 1 + 4 + 8, SELECT);
    out.extend_from_slice(&(db as u32).to_le_bytes());
    out.extend_from_slice(&keys.to_le_bytes());
    finish(out, start);
}

/// Appends a string key's record.
pub fn encode_string(key: &[u8], value: &[u8], expire_at: Option<u64>, out: &mut Vec<u8>) {
    let start = begin(out, 1 + 8 + 4 + key.len() + value.len(), STRING);
    out.extend_from_slice(&expire_at.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    finish(out, start);
}

/// Appends a command record.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    let size: usize = args.iter().map(|a| a.len() + 24).sum::<usize>() + 24;
    let start = begin(out, size, COMMAND);
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    finish(out, start);
}

fn begin(out: &mut Vec<u8>, payload: usize, tag: u8) -> usize {
    out.reserve(HEAD + payload);
    let start = out.len();
    out.extend_from_slice(&[0u8; HEAD]);
    out.push(tag);
    start
}

fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - HEAD) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    let crc = checksum(&out[start..start + 4], &out[start + HEAD..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// One record of a keys base.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Select {
        db: usize,
        keys: u64,
    },
    Str {
        key: &'a [u8],
        value: &'a [u8],
        expire_at: Option<u64>,
    },
    Command(Vec<Bytes>),
}

impl Item<'_> {
    /// The command this record stands for (what a base of command records would hold).
    pub fn to_command(&self) -> Vec<Bytes> {
        match self {
            Item::Select { db, .. } => vec![Bytes::from("SELECT"), Bytes::from(db.to_string())],
            Item::Str {
                key,
                value,
                expire_at,
            } => {
                let mut args = vec![
                    Bytes::from("SET"),
                    Bytes::copy_from_slice(key),
                    Bytes::copy_from_slice(value),
                ];
                if let Some(at) = expire_at {
                    args.push(Bytes::from("PXAT"));
                    args.push(Bytes::from(at.to_string()));
                }
                args
            }
            Item::Command(args) => args.clone(),
        }
    }
}

/// Reads the records of a keys base in order; stops at the first that does not check
/// out.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader of the records that begin at `start` of `data` (after the header).
    pub fn at(data: &'a [u8], start: usize) -> Reader<'a> {
        Reader {
            data,
            pos: start.min(data.len()),
        }
    }

    /// Offset just past the last good record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next record, `Ok(None)` at the end, or where and why the data is damaged.
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>, Stop> {
        let offset = self.pos;
        let rest = &self.data[offset..];
        if rest.is_empty() {
            return Ok(None);
        }
        let corrupt = |reason: &str| Stop::Corrupt {
            offset,
            reason: reason.to_string(),
        };
        if rest.len() < HEAD {
            return Err(Stop::TornTail { offset });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 || len > MAX_PAYLOAD {
            return Err(corrupt("impossible record length"));
        }
        if rest.len() < HEAD + len {
            return Err(Stop::TornTail { offset });
        }
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let payload = &rest[HEAD..HEAD + len];
        if checksum(&rest[0..4], payload) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let body = &payload[1..];
        let item = match payload[0] {
            SELECT if body.len() == 12 => Item::Select {
                db: u32::from_le_bytes(body[0..4].try_into().expect("4 bytes")) as usize,
                keys: u64::from_le_bytes(body[4..12].try_into().expect("8 bytes")),
            },
            STRING if body.len() >= 12 => {
                let at = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
                let key_len = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
                let key_len = key_len as usize;
                if body.len() - 12 < key_len {
                    return Err(corrupt("key runs past its record"));
                }
                Item::Str {
                    key: &body[12..12 + key_len],
                    value: &body[12 + key_len..],
                    expire_at: (at != 0).then_some(at),
                }
            }
            COMMAND => match decode_payload(body) {
                Some(args) => Item::Command(args),
                None => return Err(corrupt("payload is not a command")),
            },
            _ => return Err(corrupt("unknown record")),
        };
        self.pos += HEAD + len;
        Ok(Some(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        encode_select(3, 2, &mut out);
        encode_string(b"k", b"value", Some(1234), &mut out);
        encode_string(b"", b"", None, &mut out);
        encode_command(&[b"SADD", b"s", b"a"], &mut out);
        out
    }

    fn read_all(data: &[u8]) -> (Vec<Item<'_>>, Option<Stop>) {
        let mut reader = Reader::at(data, 0);
        let mut items = Vec::new();
        loop {
            match reader.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return (items, None),
                Err(stop) => return (items, Some(stop)),
            }
        }
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let (items, stop) = read_all(&data);
        assert_eq!(stop, None);
        assert_eq!(
            items,
            [
                Item::Select { db: 3, keys: 2 },
                Item::Str {
                    key: b"k",
                    value: b"value",
                    expire_at: Some(1234)
                },
                Item::Str {
                    key: b"",
                    value: b"",
                    expire_at: None
                },
                Item::Command(vec![
                    Bytes::from("SADD"),
                    Bytes::from("s"),
                    Bytes::from("a")
                ]),
            ]
        );
    }

    #[test]
    fn golden_string_record() {
        let mut out = Vec::new();
        encode_string(b"ab", b"xyz", Some(7), &mut out);
        let mut payload = vec![b'K'];
        payload.extend_from_slice(&7u64.to_le_bytes());
        payload.extend_from_slice(&2u32.to_le_bytes());
        payload.extend_from_slice(b"abxyz");
        assert_eq!(&out[..4], &(payload.len() as u32).to_le_bytes());
        assert_eq!(&out[8..], &payload[..]);
        assert_eq!(&out[4..8], &checksum(&out[..4], &payload).to_le_bytes());
    }

    #[test]
    fn every_flipped_byte_is_found_at_its_record() {
        let data = sample();
        let (items, _) = read_all(&data);
        let mut starts = vec![0];
        let mut reader = Reader::at(&data, 0);
        for _ in &items {
            reader.next_item().unwrap();
            starts.push(reader.position());
        }
        for at in 0..data.len() {
            let mut damaged = data.clone();
            damaged[at] ^= 0x40;
            let (_, stop) = read_all(&damaged);
            let record_start = *starts.iter().rfind(|s| **s <= at).unwrap();
            match stop {
                Some(Stop::Corrupt { offset, .. }) | Some(Stop::TornTail { offset }) => {
                    assert_eq!(offset, record_start, "flip at {at}")
                }
                None => panic!("flip at {at} not found"),
            }
        }
    }

    #[test]
    fn a_cut_base_stops_at_the_cut_record() {
        let data = sample();
        let mut one = Vec::new();
        encode_select(3, 2, &mut one);
        for cut in one.len() + 1..one.len() + 20 {
            let (items, stop) = read_all(&data[..cut]);
            assert_eq!(items.len(), 1);
            assert_eq!(stop, Some(Stop::TornTail { offset: one.len() }));
        }
    }
}
