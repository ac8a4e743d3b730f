//! The log's record format and a reader that tells a torn tail from corruption.
//!
//! A record is `len u32 | crc32 u32 | lsn u64 | payload` (little endian), where `len` is
//! the payload length, the CRC covers `len`, `lsn` and the payload, and the payload is
//! the command as a RESP array of bulk strings, the same bytes a client would send.
//!
//! A crash can leave the last record incomplete. Such a torn tail is dropped with a
//! warning. Anything else that does not check out (a bad CRC, an LSN out of sequence,
//! or an "incomplete" record followed by a valid one, as a damaged length field would
//! look) is corruption, which the reader reports with the offset instead of guessing.

use bytes::{Bytes, BytesMut};

use crate::protocol::reply::Digits;
use crate::protocol::{Decoder, Limits};

pub const HEADER_LEN: usize = 16;
/// No command Roost writes is near this; a larger length is damage, not data.
pub const MAX_PAYLOAD: usize = 1 << 30;

/// Appends one record for `args` to `out`.
pub fn encode(lsn: u64, args: &[&[u8]], out: &mut Vec<u8>) {
    let start = out.len();
    // Each argument's `$<len>\r\n` and `\r\n` fit in 24 bytes: one allocation at most.
    let payload: usize = args.iter().map(|arg| arg.len() + 24).sum::<usize>() + 24;
    out.reserve(HEADER_LEN + payload);
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    line(out, b'*', args.len());
    for arg in args {
        line(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    let payload_len = (out.len() - start - HEADER_LEN) as u32;
    out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[start + 8..start + 16].copy_from_slice(&lsn.to_le_bytes());
    let crc = checksum(&out[start..start + 4], &out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// `<tag><n>\r\n`, as RESP frames an array or a bulk string.
fn line(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(Digits::of(n as i64).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// How many whole records `bytes` (encoded records, as queued for the log) holds, and
/// the LSN of the first; for saying what could not be written.
pub fn span(bytes: &[u8]) -> (usize, Option<u64>) {
    let mut rest = bytes;
    let mut count = 0;
    let mut first = None;
    while rest.len() >= HEADER_LEN {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if first.is_none() {
            let mut lsn = [0u8; 8];
            lsn.copy_from_slice(&rest[8..16]);
            first = Some(u64::from_le_bytes(lsn));
        }
        count += 1;
        rest = &rest[(HEADER_LEN + len).min(rest.len())..];
    }
    (count, first)
}

pub(super) fn checksum(len: &[u8], rest: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(rest);
    hasher.finalize()
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    pub args: Vec<Bytes>,
    /// Offset of the record's first byte in the file.
    pub offset: usize,
}

/// Why reading stopped before the end of the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The last record is incomplete: a crash during its write. Safe to truncate here.
    TornTail { offset: usize },
    /// Damage before the end of the log.
    Corrupt { offset: usize, reason: String },
}

/// Reads the records in `data`, in order. Stops at the first torn or corrupt record.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    expected_lsn: Option<u64>,
}

impl<'a> Reader<'a> {
    /// `first_lsn` is the LSN the first record must carry, if known.
    pub fn new(data: &'a [u8], first_lsn: Option<u64>) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            expected_lsn: first_lsn,
        }
    }

    /// A reader of the records that begin at `start` of `data` (after a file's header);
    /// offsets stay those of `data`.
    pub fn at(data: &'a [u8], start: usize, first_lsn: Option<u64>) -> Reader<'a> {
        Reader {
            data,
            pos: start.min(data.len()),
            expected_lsn: first_lsn,
        }
    }

    /// Offset just past the last good record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next record, `Ok(None)` at a clean end, or why reading must stop.
    pub fn next_record(&mut self) -> Result<Option<Record>, Stop> {
        let offset = self.pos;
        let rest = &self.data[offset..];
        if rest.is_empty() {
            return Ok(None);
        }
        let parsed = parse_at(rest);
        match parsed {
            Parsed::Complete {
                lsn,
                payload,
                total,
            } => {
                if let Some(expected) = self.expected_lsn {
                    if lsn != expected {
                        return Err(Stop::Corrupt {
                            offset,
                            reason: format!("expected LSN {expected}, found {lsn}"),
                        });
                    }
                }
                let Some(args) = decode_payload(payload) else {
                    return Err(Stop::Corrupt {
                        offset,
                        reason: "payload is not a command".into(),
                    });
                };
                self.pos += total;
                self.expected_lsn = Some(lsn + 1);
                Ok(Some(Record { lsn, args, offset }))
            }
            Parsed::Incomplete => {
                if valid_record_after(rest) {
                    Err(Stop::Corrupt {
                        offset,
                        reason: "record length runs past a valid record".into(),
                    })
                } else {
                    Err(Stop::TornTail { offset })
                }
            }
            Parsed::BadChecksum => Err(Stop::Corrupt {
                offset,
                reason: "checksum mismatch".into(),
            }),
            Parsed::BadLength => Err(Stop::Corrupt {
                offset,
                reason: "impossible record length".into(),
            }),
        }
    }
}

enum Parsed<'a> {
    Complete {
        lsn: u64,
        payload: &'a [u8],
        total: usize,
    },
    Incomplete,
    BadChecksum,
    BadLength,
}

fn parse_at(rest: &[u8]) -> Parsed<'_> {
    if rest.len() < HEADER_LEN {
        return Parsed::Incomplete;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_PAYLOAD {
        return Parsed::BadLength;
    }
    let total = HEADER_LEN + len;
    if rest.len() < total {
        return Parsed::Incomplete;
    }
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if checksum(&rest[0..4], &rest[8..total]) != crc {
        return Parsed::BadChecksum;
    }
    let lsn = u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes"));
    Parsed::Complete {
        lsn,
        payload: &rest[HEADER_LEN..total],
        total,
    }
}

/// True if a complete record with a valid checksum starts anywhere after the first byte
/// of `rest`. Only runs when a record looks torn, which for a real torn tail means
/// scanning less than one record.
fn valid_record_after(rest: &[u8]) -> bool {
    (1..rest.len()).any(|i| matches!(parse_at(&rest[i..]), Parsed::Complete { .. }))
}

/// The command in a payload, or `None` if it is not exactly one RESP array.
pub(super) fn decode_payload(payload: &[u8]) -> Option<Vec<Bytes>> {
    let mut buf = BytesMut::from(payload);
    let mut decoder = Decoder::new();
    let limits = Limits {
        max_bulk_len: i64::MAX,
        authenticated: true,
    };
    let args = decoder.decode(&mut buf, limits).ok()??;
    (buf.is_empty() && !args.is_empty()).then_some(args)
}

/// Parses the first record of a stream (replication): `Ok(None)` when more bytes are
/// needed, else the record and its length in bytes. Unlike a file there is no torn tail
/// to forgive: anything that does not check out is an error.
pub fn parse_stream(data: &[u8]) -> Result<Option<(u64, Vec<Bytes>, usize)>, String> {
    match parse_at(data) {
        Parsed::Complete {
            lsn,
            payload,
            total,
        } => match decode_payload(payload) {
            Some(args) => Ok(Some((lsn, args, total))),
            None => Err("record payload is not a command".into()),
        },
        Parsed::Incomplete => Ok(None),
        Parsed::BadChecksum => Err("record checksum mismatch".into()),
        Parsed::BadLength => Err("impossible record length".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(commands: &[&[&[u8]]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in commands.iter().enumerate() {
            encode(i as u64 + 1, c, &mut out);
        }
        out
    }

    fn read_all(data: &[u8]) -> (Vec<Record>, Option<Stop>) {
        let mut reader = Reader::new(data, Some(1));
        let mut records = Vec::new();
        loop {
            match reader.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => return (records, None),
                Err(stop) => return (records, Some(stop)),
            }
        }
    }

    #[test]
    fn round_trip() {
        let data = log_of(&[&[b"SET", b"k", b"v"], &[b"DEL", b"k"]]);
        let (records, stop) = read_all(&data);
        assert_eq!(stop, None);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].args, vec![Bytes::from("DEL"), Bytes::from("k")]);
        assert_eq!(records[1].lsn, 2);
    }

    #[test]
    fn payload_is_the_command_in_resp() {
        let value = vec![b'x'; 1234];
        let mut out = vec![7u8];
        encode(42, &[b"SET", b"key", &value, b""], &mut out);
        let mut payload = b"*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$1234\r\n".to_vec();
        payload.extend_from_slice(&value);
        payload.extend_from_slice(b"\r\n$0\r\n\r\n");
        assert_eq!(out[0], 7);
        let record = &out[1..];
        assert_eq!(&record[..4], &(payload.len() as u32).to_le_bytes());
        assert_eq!(&record[8..16], &42u64.to_le_bytes());
        assert_eq!(&record[HEADER_LEN..], &payload[..]);
        assert_eq!(
            &record[4..8],
            &checksum(&record[..4], &record[8..]).to_le_bytes()
        );
    }

    #[test]
    fn every_truncation_of_the_last_record_is_a_torn_tail() {
        let data = log_of(&[&[b"SET", b"a", b"1"], &[b"SET", b"b", b"22222222"]]);
        let first_len = {
            let mut one = Vec::new();
            encode(1, &[b"SET", b"a", b"1"], &mut one);
            one.len()
        };
        for cut in first_len + 1..data.len() {
            let (records, stop) = read_all(&data[..cut]);
            assert_eq!(records.len(), 1, "cut at {cut}");
            assert_eq!(
                stop,
                Some(Stop::TornTail { offset: first_len }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_byte_mid_file_is_corruption() {
        let data = log_of(&[
            &[b"SET", b"a", b"1"],
            &[b"SET", b"b", b"2"],
            &[b"SET", b"c", b"3"],
        ]);
        for at in 0..data.len() * 2 / 3 {
            let mut damaged = data.clone();
            damaged[at] ^= 0x40;
            let (_, stop) = read_all(&damaged);
            assert!(
                matches!(stop, Some(Stop::Corrupt { .. })),
                "flip at {at}: {stop:?}"
            );
        }
    }

    #[test]
    fn lsn_gaps_are_corruption() {
        let mut data = Vec::new();
        encode(1, &[b"PING"], &mut data);
        encode(3, &[b"PING"], &mut data);
        let (records, stop) = read_all(&data);
        assert_eq!(records.len(), 1);
        assert!(matches!(stop, Some(Stop::Corrupt { .. })));
    }
}
