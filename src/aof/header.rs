//! The header that starts every log file Roost writes, so a file says what it is.
//!
//! `ROOSTLOG` (8 bytes) | format version u32 | kind u32, little endian: 16 bytes, then
//! the records. Kind 1 is a segment, kind 2 a base of command records (what a replica
//! receives in a full sync), both format version 1; kind 3, new in format version 2, a
//! rewrite's base of key records (`aof::keys`). A file of a newer version, of another
//! kind than its name says, or that is not a Roost log at all is refused by name rather
//! than misread.
//!
//! Files written before headers existed (format version 0) start directly with a
//! record. They are still read, so an upgrade loses nothing: a file without the magic
//! whose first record checks out (length, CRC, LSN) is version 0; anything else is
//! foreign. The replication stream carries records only, without this header: it is a
//! stream of records, not a file, and its peers agree on it in the handshake.

use std::path::Path;

use super::record::{Reader, HEADER_LEN};

pub const MAGIC: &[u8; 8] = b"ROOSTLOG";
/// The newest format version this Roost reads (and writes, for a base of keys; the
/// files of command records are still version 1, readable by older Roosts).
pub const VERSION: u32 = 2;
pub const LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Segment,
    /// A base of command records.
    Base,
    /// A base of key records (format version 2).
    KeysBase,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Segment => 1,
            Kind::Base => 2,
            Kind::KeysBase => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Base | Kind::KeysBase => "base",
        }
    }

    /// The kind a file of `version` says it is by `code`.
    fn from_code(code: u32, version: u32) -> Option<Kind> {
        match code {
            1 => Some(Kind::Segment),
            2 => Some(Kind::Base),
            3 if version >= 2 => Some(Kind::KeysBase),
            _ => None,
        }
    }

    /// The format version a file of this kind is written as.
    fn version(self) -> u32 {
        match self {
            Kind::Segment | Kind::Base => 1,
            Kind::KeysBase => 2,
        }
    }

    /// Whether a file named as `named` may hold this kind.
    fn fits(self, named: Kind) -> bool {
        self == named || (self == Kind::KeysBase && named == Kind::Base)
    }
}

/// The header a new file of `kind` starts with.
pub fn encode(kind: Kind) -> [u8; LEN] {
    let mut header = [0u8; LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&kind.version().to_le_bytes());
    header[12..16].copy_from_slice(&kind.code().to_le_bytes());
    header
}

/// What a file's first bytes say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// 0 for a file written before headers.
    pub version: u32,
    /// Where the records begin.
    pub records_at: usize,
    /// What the file holds (`Base` for a file named as a base holds command records,
    /// `KeysBase` key records).
    pub kind: Kind,
}

/// Reads the header of `data`, the contents of the file `path`, which should be a file
/// of `kind` (`Base` stands for either kind of base) whose first record carries `first_lsn` (if known). An empty file, or one
/// cut inside its header (a crash while it was created), holds no records. The error
/// names the file and says what was found.
pub fn read(
    data: &[u8],
    kind: Kind,
    first_lsn: Option<u64>,
    path: &Path,
) -> Result<Format, String> {
    if data.len() < LEN && encode(kind).starts_with(data) {
        return Ok(Format {
            version: kind.version(),
            records_at: data.len(),
            kind,
        });
    }
    if data.starts_with(MAGIC) && data.len() >= LEN {
        let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
        let code = u32::from_le_bytes([data[12], data[13], data[14], data[15]]);
        if version == 0 || version > VERSION {
            return Err(format!(
                "{} is a Roost log file of format version {version}; this Roost reads \
                 versions 0 to {VERSION} (was it written by a newer Roost?)",
                path.display()
            ));
        }
        return match Kind::from_code(code, version) {
            Some(found) if found.fits(kind) => Ok(Format {
                version,
                records_at: LEN,
                kind: found,
            }),
            Some(found) => Err(format!(
                "{} is a Roost log {}, but its name says it is a {}",
                path.display(),
                found.name(),
                kind.name()
            )),
            None => Err(format!(
                "{} is a Roost log file of unknown kind {code}",
                path.display()
            )),
        };
    }
    // Written before headers: the file must start with a record that checks out.
    if data.len() >= HEADER_LEN && matches!(Reader::new(data, first_lsn).next_record(), Ok(Some(_)))
    {
        return Ok(Format {
            version: 0,
            records_at: 0,
            kind,
        });
    }
    Err(format!(
        "{} is not a Roost log: it starts with \"{}\" where a Roost log starts with \
         \"ROOSTLOG\" (or, before format version 1, with a record)",
        path.display(),
        data.iter()
            .take(LEN)
            .flat_map(|b| std::ascii::escape_default(*b))
            .map(char::from)
            .collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::record::{encode as encode_record, Stop};
    use bytes::Bytes;

    /// A segment starting at LSN 7 with `SELECT 0` and `SET k v`, written out by hand:
    /// this pins the format. If it has to change, the version changes with it.
    const GOLDEN: &[u8] = b"ROOSTLOG\x01\x00\x00\x00\x01\x00\x00\x00\
        \x17\x00\x00\x00\x18\xbf\x88\x7e\x07\x00\x00\x00\x00\x00\x00\x00\
        *2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
        \x1b\x00\x00\x00\x7a\x1a\xe4\xf2\x08\x00\x00\x00\x00\x00\x00\x00\
        *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    fn path() -> &'static Path {
        Path::new("00000000000000000007.aof")
    }

    #[test]
    fn golden_segment_decodes() {
        let format = read(GOLDEN, Kind::Segment, Some(7), path()).unwrap();
        assert_eq!(
            format,
            Format {
                version: 1,
                records_at: 16,
                kind: Kind::Segment,
            }
        );
        let mut reader = Reader::at(GOLDEN, format.records_at, Some(7));
        let first = reader.next_record().unwrap().unwrap();
        assert_eq!((first.lsn, first.offset), (7, 16));
        assert_eq!(first.args, [Bytes::from("SELECT"), Bytes::from("0")]);
        let second = reader.next_record().unwrap().unwrap();
        assert_eq!((second.lsn, second.offset), (8, 16 + 16 + 23));
        assert_eq!(
            second.args,
            [Bytes::from("SET"), Bytes::from("k"), Bytes::from("v")]
        );
        assert_eq!(reader.next_record(), Ok(None));
    }

    #[test]
    fn golden_segment_encodes_exactly() {
        let mut out = encode(Kind::Segment).to_vec();
        encode_record(7, &[b"SELECT", b"0"], &mut out);
        encode_record(8, &[b"SET", b"k", b"v"], &mut out);
        assert_eq!(out, GOLDEN);
    }

    #[test]
    fn a_base_has_its_own_kind() {
        assert_eq!(&encode(Kind::Base)[12..], &[2, 0, 0, 0]);
        let mut base = encode(Kind::Base).to_vec();
        base.extend_from_slice(&GOLDEN[16..]);
        assert!(read(&base, Kind::Base, None, path()).is_ok());
        let err = read(&base, Kind::Segment, None, path()).unwrap_err();
        assert!(err.contains("is a Roost log base, but its name says it is a segment"));
    }

    #[test]
    fn a_keys_base_is_version_2_and_named_as_a_base() {
        let header = encode(Kind::KeysBase);
        assert_eq!(&header[8..], &[2, 0, 0, 0, 3, 0, 0, 0]);
        let format = read(&header, Kind::Base, Some(1), path()).unwrap();
        assert_eq!((format.version, format.kind), (2, Kind::KeysBase));
        let err = read(&header, Kind::Segment, Some(1), path()).unwrap_err();
        assert!(err.contains("is a Roost log base, but its name says it is a segment"));
        // Kind 3 did not exist in version 1.
        let mut old = header;
        old[8] = 1;
        let err = read(&old, Kind::Base, Some(1), path()).unwrap_err();
        assert!(err.contains("of unknown kind 3"), "{err}");
    }

    #[test]
    fn a_newer_version_is_refused_by_name() {
        let mut newer = GOLDEN.to_vec();
        newer[8] = 3;
        let err = read(&newer, Kind::Segment, Some(7), path()).unwrap_err();
        assert!(err.starts_with("00000000000000000007.aof is a Roost log file of format version 3"));
    }

    #[test]
    fn files_from_before_headers_are_version_0() {
        let old = &GOLDEN[16..];
        assert_eq!(
            read(old, Kind::Segment, Some(7), path()),
            Ok(Format {
                version: 0,
                records_at: 0,
                kind: Kind::Segment,
            })
        );
        // The same bytes with the wrong first LSN do not check out: not a log.
        assert!(read(old, Kind::Segment, Some(1), path()).is_err());
    }

    #[test]
    fn foreign_files_are_refused_saying_what_they_start_with() {
        let aof = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
        let err = read(aof, Kind::Segment, Some(1), path()).unwrap_err();
        assert!(
            err.contains("is not a Roost log: it starts with \"*2\\r\\n$6"),
            "{err}"
        );
        assert!(read(b"REDIS0009", Kind::Base, None, path()).is_err());
    }

    #[test]
    fn an_empty_or_half_written_header_holds_nothing() {
        for len in 0..LEN {
            let format = read(&GOLDEN[..len], Kind::Segment, Some(7), path()).unwrap();
            assert_eq!(format.records_at, len);
            let mut reader = Reader::at(&GOLDEN[..len], format.records_at, Some(7));
            assert_eq!(reader.next_record(), Ok(None));
        }
        // A torn first record after a whole header is a torn tail, as anywhere else.
        let cut = &GOLDEN[..20];
        let format = read(cut, Kind::Segment, Some(7), path()).unwrap();
        let mut reader = Reader::at(cut, format.records_at, Some(7));
        assert_eq!(reader.next_record(), Err(Stop::TornTail { offset: 16 }));
    }
}
