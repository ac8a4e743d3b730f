//! Reading RDB values (DUMP payloads) and files.

use std::collections::{HashMap, VecDeque};
use std::io::Read;

use bytes::Bytes;

use super::packed::{self, Element};
use super::{kind, lzf, module_name, opcode, Error, READ_VERSION};
use crate::crc64;
use crate::store::list::ListObj;
use crate::store::stream::{
    Consumer, Group, NodeItem, Pending, StreamCounters, StreamId, StreamObj,
};
use crate::store::zset::{AddFlags, ZSetObj};
use crate::store::{HashObj, SetObj, Value};

/// A byte source that counts what it consumed, keeps the CRC of it, and knows how much
/// is left, so no length read from it is allocated for unless that much is there.
struct Input<R: Read> {
    inner: R,
    offset: u64,
    remaining: u64,
    crc: u64,
}

type Result<T> = std::result::Result<T, Error>;

/// A length as RDB writes it, or the marker of a specially encoded string.
enum Length {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Input<R> {
    fn new(inner: R, len: u64) -> Input<R> {
        Input {
            inner,
            offset: 0,
            remaining: len,
            crc: 0,
        }
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(Error {
            offset: self.offset,
            message: message.into(),
        })
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.remaining {
            return self.fail("unexpected end of data");
        }
        if let Err(e) = self.inner.read_exact(buf) {
            return self.fail(format!("read failed: {e}"));
        }
        self.crc = crc64::update(self.crc, buf);
        self.offset += buf.len() as u64;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.remaining {
            return self.fail(format!("length {n} runs past the end of the data"));
        }
        let mut buf = vec![0u8; n as usize];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn length_or_encoding(&mut self) -> Result<Length> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Length::Plain((first & 0x3f) as u64),
            1 => Length::Plain(((first & 0x3f) as u64) << 8 | self.byte()? as u64),
            2 => match first {
                0x80 => Length::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Length::Plain(u64::from_be_bytes(self.array()?)),
                _ => return self.fail(format!("unknown length encoding {first:#x}")),
            },
            _ => Length::Encoded(first & 0x3f),
        })
    }

    fn length(&mut self) -> Result<u64> {
        match self.length_or_encoding()? {
            Length::Plain(n) => Ok(n),
            Length::Encoded(_) => self.fail("a string encoding where a length was expected"),
        }
    }

    /// A count of items that each take at least one byte: more than are left is damage.
    fn count(&mut self) -> Result<usize> {
        let n = self.length()?;
        if n > self.remaining {
            return self.fail(format!("count {n} runs past the end of the data"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<Bytes> {
        Ok(match self.length_or_encoding()? {
            Length::Plain(n) => Bytes::from(self.bytes(n)?),
            Length::Encoded(0) => Bytes::from((self.byte()? as i8).to_string()),
            Length::Encoded(1) => Bytes::from(i16::from_le_bytes(self.array()?).to_string()),
            Length::Encoded(2) => Bytes::from(i32::from_le_bytes(self.array()?).to_string()),
            Length::Encoded(3) => {
                let compressed = self.length()?;
                let len = self.length()?;
                let data = self.bytes(compressed)?;
                // A match of 3 bytes yields at most 264: nothing expands past 88 times.
                if len > compressed.saturating_mul(88) {
                    return self.fail(format!("compressed string of length {len}"));
                }
                match lzf::decompress(&data, len as usize) {
                    Some(s) => Bytes::from(s),
                    None => return self.fail("LZF data does not decompress"),
                }
            }
            Length::Encoded(e) => return self.fail(format!("unknown string encoding {e}")),
        })
    }

    /// A score as text: a length byte (253 NaN, 254 +inf, 255 -inf), then the digits.
    fn text_double(&mut self) -> Result<f64> {
        let len = self.byte()?;
        match len {
            253 => self.fail("NaN score"),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(n as u64)?;
                match parse_score(&text) {
                    Some(s) => Ok(s),
                    None => self.fail("bad score"),
                }
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64> {
        let score = f64::from_le_bytes(self.array()?);
        if score.is_nan() {
            return self.fail("NaN score");
        }
        Ok(score)
    }

    /// A value of type `type_byte` stored under `key`; `None` for an empty one (which
    /// Redis skips).
    fn value(&mut self, type_byte: u8, key: &[u8]) -> Result<Option<Value>> {
        let value = match type_byte {
            kind::STRING => Value::Str(self.string()?),
            kind::LIST => {
                let n = self.count()?;
                let mut items = VecDeque::with_capacity(n);
                for _ in 0..n {
                    items.push_back(self.string()?);
                }
                list(items)
            }
            kind::SET => {
                let n = self.count()?;
                let mut set = SetObj::new();
                set.members.reserve(n);
                for _ in 0..n {
                    let member = self.string()?;
                    if !set.members.insert(member) {
                        return self.fail("duplicate set member");
                    }
                }
                set.update_encoding();
                Value::Set(Box::new(set))
            }
            kind::ZSET | kind::ZSET_2 => {
                let n = self.count()?;
                let mut zset = ZSetObj::new();
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if type_byte == kind::ZSET {
                        self.text_double()?
                    } else {
                        self.binary_double()?
                    };
                    if zset.score(&member).is_some() {
                        return self.fail("duplicate sorted set member");
                    }
                    zset.add(&member, score, AddFlags::default());
                }
                Value::ZSet(Box::new(zset))
            }
            kind::HASH => {
                let n = self.count()?;
                let mut hash = HashObj::new();
                hash.map.reserve(n);
                for _ in 0..n {
                    let field = self.string()?;
                    let value = self.string()?;
                    if hash.map.insert(field, value).is_some() {
                        return self.fail("duplicate hash field");
                    }
                }
                hash.update_encoding();
                Value::Hash(Box::new(hash))
            }
            kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
                let nodes = self.count()?;
                let mut items = VecDeque::new();
                for _ in 0..nodes {
                    let container = if type_byte == kind::LIST_QUICKLIST_2 {
                        self.length()?
                    } else {
                        2
                    };
                    let blob = self.string()?;
                    match container {
                        1 => items.push_back(blob),
                        2 => {
                            let elements = if type_byte == kind::LIST_QUICKLIST_2 {
                                packed::listpack_elements(&blob)
                            } else {
                                packed::ziplist_elements(&blob)
                            };
                            let Some(elements) = elements else {
                                return self.fail("damaged quicklist node");
                            };
                            items.extend(elements.into_iter().map(Element::into_bytes));
                        }
                        _ => return self.fail(format!("unknown quicklist container {container}")),
                    }
                }
                list(items)
            }
            kind::LIST_ZIPLIST => {
                let blob = self.string()?;
                let Some(elements) = packed::ziplist_elements(&blob) else {
                    return self.fail("damaged ziplist");
                };
                list(elements.into_iter().map(Element::into_bytes).collect())
            }
            kind::SET_INTSET => {
                let blob = self.string()?;
                let Some(members) = packed::intset_members(&blob) else {
                    return self.fail("damaged intset");
                };
                let mut set = SetObj::new();
                for m in members {
                    if !set.members.insert(Bytes::from(m.to_string())) {
                        return self.fail("duplicate intset member");
                    }
                }
                set.update_encoding();
                Value::Set(Box::new(set))
            }
            kind::SET_LISTPACK => {
                let blob = self.string()?;
                let Some(elements) = packed::listpack_elements(&blob) else {
                    return self.fail("damaged set listpack");
                };
                let mut set = SetObj::new();
                for e in elements {
                    if !set.members.insert(e.into_bytes()) {
                        return self.fail("duplicate set member");
                    }
                }
                set.update_encoding();
                Value::Set(Box::new(set))
            }
            kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
                let blob = self.string()?;
                let elements = if type_byte == kind::ZSET_LISTPACK {
                    packed::listpack_elements(&blob)
                } else {
                    packed::ziplist_elements(&blob)
                };
                let Some(elements) = elements.filter(|e| e.len() % 2 == 0) else {
                    return self.fail("damaged sorted set blob");
                };
                let mut zset = ZSetObj::new();
                let mut it = elements.into_iter();
                while let (Some(member), Some(score)) = (it.next(), it.next()) {
                    let member = member.into_bytes();
                    let score = match score {
                        Element::Int(n) => n as f64,
                        Element::Bytes(b) => match parse_score(&b) {
                            Some(s) => s,
                            None => return self.fail("bad score in sorted set blob"),
                        },
                    };
                    if zset.score(&member).is_some() {
                        return self.fail("duplicate sorted set member");
                    }
                    zset.add(&member, score, AddFlags::default());
                }
                Value::ZSet(Box::new(zset))
            }
            kind::HASH_ZIPMAP | kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
                let blob = self.string()?;
                let pairs = match type_byte {
                    kind::HASH_ZIPMAP => packed::zipmap_pairs(&blob),
                    kind::HASH_ZIPLIST => packed::ziplist_elements(&blob).and_then(pairs),
                    _ => packed::listpack_elements(&blob).and_then(pairs),
                };
                let Some(pairs) = pairs else {
                    return self.fail("damaged hash blob");
                };
                let mut hash = HashObj::new();
                for (field, value) in pairs {
                    if hash.map.insert(field, value).is_some() {
                        return self.fail("duplicate hash field");
                    }
                }
                hash.update_encoding();
                Value::Hash(Box::new(hash))
            }
            kind::MODULE_PRE_GA | kind::MODULE_2 => {
                let id = self.length()?;
                let key = String::from_utf8_lossy(key);
                return self.fail(format!(
                    "key '{key}' holds a value of module type '{}', which Roost cannot load",
                    module_name(id)
                ));
            }
            kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
                Value::Stream(Box::new(self.stream(type_byte)?))
            }
            other => return self.fail(format!("unknown value type {other}")),
        };
        let empty = match &value {
            Value::Str(_) => false,
            Value::Hash(h) => h.map.is_empty(),
            Value::Set(s) => s.members.is_empty(),
            Value::List(l) => l.items.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            Value::Stream(_) => false,
        };
        Ok((!empty).then_some(value))
    }
}

impl<R: Read> Input<R> {
    /// A stream ID as two lengths (ms, seq).
    fn stream_id(&mut self) -> Result<StreamId> {
        Ok(StreamId::new(self.length()?, self.length()?))
    }

    /// A stream ID as 16 raw bytes, big endian (a radix tree key).
    fn raw_stream_id(&mut self) -> Result<StreamId> {
        let raw: [u8; 16] = self.array()?;
        Ok(id_from_key(&raw))
    }

    fn milliseconds(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A stream of type 15 (Redis 5 to 6.2), 19 (7.0: first id, largest deleted id,
    /// entries added, groups' entries read) or 21 (7.2: consumers' active time).
    fn stream(&mut self, type_byte: u8) -> Result<StreamObj> {
        let mut s = StreamObj::default();
        let nodes = self.count()?;
        for _ in 0..nodes {
            let key = self.string()?;
            let Ok(raw) = <[u8; 16]>::try_from(key.as_ref()) else {
                return self.fail("a stream node key that is not an ID");
            };
            let blob = self.string()?;
            let Some(elements) = packed::listpack_elements(&blob) else {
                return self.fail("damaged stream listpack");
            };
            let items = elements
                .into_iter()
                .map(|e| match e {
                    Element::Int(n) => NodeItem::Int(n),
                    Element::Bytes(b) => NodeItem::Str(b),
                })
                .collect();
            if let Err(e) = s.load_node(id_from_key(&raw), items, blob.len()) {
                return self.fail(e);
            }
        }
        let length = self.length()?;
        let last_id = self.stream_id()?;
        let v7 = type_byte != kind::STREAM_LISTPACKS;
        let counters = if v7 {
            StreamCounters {
                length,
                last_id,
                first_id: Some(self.stream_id()?),
                max_deleted_id: self.stream_id()?,
                entries_added: Some(self.length()?),
            }
        } else {
            StreamCounters {
                length,
                last_id,
                first_id: None,
                max_deleted_id: StreamId::MIN,
                entries_added: None,
            }
        };
        if let Err(e) = s.finish_load(counters) {
            return self.fail(e);
        }
        let groups = self.count()?;
        for _ in 0..groups {
            let name = self.string()?;
            let last_id = self.stream_id()?;
            let entries_read = if v7 {
                // -1 (unknown) is saved as an unsigned length.
                let n = self.length()?;
                (n as i64 >= 0).then_some(n)
            } else {
                s.estimate_distance(last_id)
            };
            let mut group = Group {
                last_id,
                entries_read,
                ..Group::default()
            };
            let pending = self.count()?;
            let mut owners: HashMap<StreamId, Option<Bytes>> = HashMap::with_capacity(pending);
            let mut pel = Vec::with_capacity(pending);
            for _ in 0..pending {
                let id = self.raw_stream_id()?;
                let delivery_time = self.milliseconds()?;
                let delivery_count = self.length()?;
                if owners.insert(id, None).is_some() {
                    return self.fail(format!("pending entry {id} listed twice"));
                }
                pel.push((id, delivery_time, delivery_count));
            }
            let consumers = self.count()?;
            for _ in 0..consumers {
                let cname = self.string()?;
                let seen_time = self.milliseconds()?;
                let active_time = if type_byte == kind::STREAM_LISTPACKS_3 {
                    Some(self.milliseconds()?).filter(|t| *t as i64 >= 0)
                } else {
                    // What Redis 7.2 assumes for a file without it.
                    Some(seen_time)
                };
                let mut consumer = Consumer {
                    seen_time,
                    active_time,
                    ..Consumer::default()
                };
                let owned = self.count()?;
                for _ in 0..owned {
                    let id = self.raw_stream_id()?;
                    match owners.get_mut(&id) {
                        Some(owner @ None) => *owner = Some(cname.clone()),
                        _ => {
                            return self.fail(format!(
                                "consumer pending entry {id} not in the group's, or owned twice"
                            ))
                        }
                    }
                    consumer.pending.insert(id);
                }
                if group.consumers.insert(cname, consumer).is_some() {
                    return self.fail("a consumer listed twice");
                }
            }
            for (id, delivery_time, delivery_count) in pel {
                let Some(Some(consumer)) = owners.remove(&id) else {
                    return self.fail(format!("pending entry {id} has no consumer"));
                };
                group.pending.insert(
                    id,
                    Pending {
                        consumer,
                        delivery_time,
                        delivery_count,
                    },
                );
            }
            if s.groups.insert(name, group).is_some() {
                return self.fail("a consumer group listed twice");
            }
        }
        Ok(s)
    }
}

/// A stream ID from a radix tree key: ms and seq, big endian.
fn id_from_key(raw: &[u8; 16]) -> StreamId {
    let (ms, seq) = raw.split_at(8);
    StreamId::new(
        u64::from_be_bytes(ms.try_into().unwrap_or_default()),
        u64::from_be_bytes(seq.try_into().unwrap_or_default()),
    )
}

fn list(items: VecDeque<Bytes>) -> Value {
    Value::List(Box::new(ListObj { items }))
}

/// Flat field, value, field, value... elements as pairs; `None` for an odd count.
fn pairs(elements: Vec<Element>) -> Option<Vec<(Bytes, Bytes)>> {
    if elements.len() % 2 != 0 {
        return None;
    }
    let mut it = elements.into_iter();
    let mut out = Vec::new();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        out.push((f.into_bytes(), v.into_bytes()));
    }
    Some(out)
}

/// A score as strtod reads Redis's own texts (`3`, `1.5`, `1e300`, `inf`); NaN refused.
fn parse_score(text: &[u8]) -> Option<f64> {
    let s: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (!s.is_nan()).then_some(s)
}

/// Why RESTORE refuses a payload: Redis answers the two with different errors.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadError {
    /// Too short, a version newer than this reader, or the checksum does not match.
    VersionOrChecksum,
    /// The footer checks out but the value inside does not decode.
    BadFormat(Error),
}

/// The value in a DUMP payload: the type byte and value, the 2-byte RDB version and
/// the CRC-64 of everything before it, both little endian.
pub fn parse_payload(payload: &[u8], key: &[u8]) -> std::result::Result<Value, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap_or_default());
    if version > READ_VERSION || crc64::update(crc64::of(body), &footer[..2]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut input = Input::new(body, body.len() as u64);
    let decoded = input
        .byte()
        .and_then(|type_byte| input.value(type_byte, key));
    match decoded {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(PayloadError::BadFormat(Error {
            offset: 0,
            message: "empty value".into(),
        })),
        Err(e) => Err(PayloadError::BadFormat(e)),
    }
}

/// Why FUNCTION RESTORE refuses a payload (Redis's texts, without `ERR `).
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionPayloadError {
    VersionOrChecksum,
    /// `can not read data type`, `given type is not a function`, ...
    Bad(&'static str),
}

/// The libraries' codes in a FUNCTION DUMP payload: FUNCTION2 opcodes each followed by
/// a library's code, then the 2-byte RDB version and the CRC-64, as DUMP's footer.
pub fn parse_function_payload(
    payload: &[u8],
) -> std::result::Result<Vec<Bytes>, FunctionPayloadError> {
    if payload.len() < 10 {
        return Err(FunctionPayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap_or_default());
    if version > READ_VERSION || crc64::update(crc64::of(body), &footer[..2]) != crc {
        return Err(FunctionPayloadError::VersionOrChecksum);
    }
    let mut input = Input::new(body, body.len() as u64);
    let mut codes = Vec::new();
    while input.remaining > 0 {
        match input.byte() {
            Ok(opcode::FUNCTION2) => {}
            Ok(opcode::FUNCTION_PRE_GA) => {
                return Err(FunctionPayloadError::Bad(
                    "Pre-GA function format not supported",
                ))
            }
            Ok(_) => return Err(FunctionPayloadError::Bad("given type is not a function")),
            Err(_) => return Err(FunctionPayloadError::Bad("can not read data type")),
        }
        match input.string() {
            Ok(code) => codes.push(code),
            Err(_) => return Err(FunctionPayloadError::Bad("Failed loading library payload")),
        }
    }
    Ok(codes)
}

/// A key read from a file, with what the file says about it.
#[derive(Debug)]
pub struct LoadedKey {
    pub db: u64,
    pub key: Bytes,
    pub value: Value,
    /// Unix ms.
    pub expire_at: Option<u64>,
    /// Seconds since its last access, under an LRU policy.
    pub idle: Option<u64>,
    /// Its LFU counter, under an LFU policy.
    pub freq: Option<u8>,
}

/// What a file holds besides keys.
#[derive(Debug)]
pub enum FileItem {
    /// An AUX field (`redis-ver`, `ctime`, `repl-id`, ...).
    Aux(Bytes, Bytes),
    /// A function library's code (FUNCTION LOAD's argument).
    Function(Bytes),
    /// RESIZEDB: how many keys, and keys with a TTL, the next database holds.
    Resize {
        db: u64,
        keys: u64,
        expires: u64,
    },
    Key(LoadedKey),
}

/// Reads an RDB file of `len` bytes, handing each item to `each` with the offset it
/// ends at (for loading progress); `each` may stop the load with an error message.
/// Returns the file's version. With `check_crc`, the CRC-64 at the end must match
/// (a file written with `rdbchecksum no` has zero there and is not checked).
pub fn load_file<R: Read>(
    input: R,
    len: u64,
    check_crc: bool,
    mut each: impl FnMut(FileItem, u64) -> std::result::Result<(), String>,
) -> Result<u16> {
    let mut input = Input::new(input, len);
    let magic = input.array::<9>()?;
    if &magic[..5] != b"REDIS" {
        return input.fail("not an RDB file (no REDIS signature)");
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|v| (1..=READ_VERSION).contains(v));
    let Some(version) = version else {
        return input.fail(format!(
            "cannot handle RDB format version {}",
            String::from_utf8_lossy(&magic[5..])
        ));
    };
    let mut db = 0u64;
    let mut expire_at = None;
    let mut idle = None;
    let mut freq = None;
    let mut deliver = |input: &Input<R>, item: FileItem| -> Result<()> {
        each(item, input.offset).or_else(|message| input.fail(message))
    };
    loop {
        let type_byte = input.byte()?;
        match type_byte {
            opcode::EOF => break,
            opcode::EXPIRETIME_MS => expire_at = Some(u64::from_le_bytes(input.array()?)),
            opcode::EXPIRETIME => {
                expire_at = Some(u32::from_le_bytes(input.array()?) as u64 * 1000);
            }
            opcode::IDLE => idle = Some(input.length()?),
            opcode::FREQ => freq = Some(input.byte()?),
            opcode::SELECTDB => db = input.length()?,
            opcode::RESIZEDB => {
                let keys = input.length()?;
                let expires = input.length()?;
                deliver(&input, FileItem::Resize { db, keys, expires })?;
            }
            opcode::AUX => {
                let field = input.string()?;
                let value = input.string()?;
                deliver(&input, FileItem::Aux(field, value))?;
            }
            opcode::FUNCTION2 => {
                let code = input.string()?;
                deliver(&input, FileItem::Function(code))?;
            }
            opcode::FUNCTION_PRE_GA => {
                return input
                    .fail("functions in the pre-release (7.0 RC) format are not supported");
            }
            opcode::MODULE_AUX => {
                let id = input.length()?;
                return input.fail(format!(
                    "the file holds data of module '{}', which Roost cannot load",
                    module_name(id)
                ));
            }
            _ => {
                let key = input.string()?;
                let value = input.value(type_byte, &key)?;
                if let Some(value) = value {
                    let loaded = LoadedKey {
                        db,
                        key,
                        value,
                        expire_at: expire_at.take(),
                        idle: idle.take(),
                        freq: freq.take(),
                    };
                    deliver(&input, FileItem::Key(loaded))?;
                }
                expire_at = None;
                idle = None;
                freq = None;
            }
        }
    }
    if version >= 5 {
        let computed = input.crc;
        let stored = u64::from_le_bytes(input.array()?);
        if check_crc && stored != 0 && stored != computed {
            return input.fail(format!(
                "wrong RDB checksum: the file says {stored:#018x}, its content gives {computed:#018x}"
            ));
        }
    }
    Ok(version)
}
