//! Writing RDB values (DUMP payloads) and files, version 10.

use std::io::{self, Write};

use bytes::Bytes;

use super::{kind, lzf, opcode, packed, WRITE_VERSION};
use crate::crc64;
use crate::store::list::ListObj;
use crate::store::stream::{NodeItem, StreamId, StreamObj};
use crate::store::Value;

/// Bytes of listpack a quicklist node holds before the next one starts: Redis's
/// default `list-max-listpack-size -2` (8 KB).
const LIST_NODE_BYTES: usize = 8 * 1024;

fn length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string as Redis saves it: as an integer when it is one that fits 32 bits, LZF
/// compressed when `compress` and it is longer than 20 bytes and shrinks, else plain.
fn string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = packed::as_int(s) {
            if let Ok(n) = i8::try_from(n) {
                out.push(0xC0);
                out.push(n as u8);
                return;
            } else if let Ok(n) = i16::try_from(n) {
                out.push(0xC1);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            } else if let Ok(n) = i32::try_from(n) {
                out.push(0xC2);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(packed) = lzf::compress(s) {
            out.push(0xC3);
            length(out, packed.len() as u64);
            length(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    length(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The text of a listpack score that reads back as `score` (integers as integers).
fn score_text(score: f64) -> String {
    crate::store::zset::score_text(score)
}

/// A stream ID as a radix tree key: ms and seq, big endian.
fn id_key(id: StreamId) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.ms.to_be_bytes());
    key[8..].copy_from_slice(&id.seq.to_be_bytes());
    key
}

fn stream_id(out: &mut Vec<u8>, id: StreamId) {
    length(out, id.ms);
    length(out, id.seq);
}

/// A stream as type `type_byte`: 19 (Redis 7.0, what this writer produces), or 15 and
/// 21 (the reader's tests).
fn stream(out: &mut Vec<u8>, s: &StreamObj, type_byte: u8, compress: bool) {
    length(out, s.block_count() as u64);
    for (master, items) in s.nodes() {
        string(out, &id_key(master), compress);
        let mut lp = packed::Listpack::new();
        for item in items {
            match item {
                NodeItem::Int(n) => lp.push_int(n),
                NodeItem::Str(b) => lp.push(b),
            }
        }
        string(out, &lp.finish(), compress);
    }
    length(out, s.len());
    stream_id(out, s.last_id);
    let v7 = type_byte != kind::STREAM_LISTPACKS;
    if v7 {
        stream_id(out, s.first_id());
        stream_id(out, s.max_deleted_id);
        length(out, s.entries_added);
    }
    length(out, s.groups.len() as u64);
    for (name, group) in &s.groups {
        string(out, name, compress);
        stream_id(out, group.last_id);
        if v7 {
            // Unknown is -1, saved as an unsigned length.
            length(out, group.entries_read.unwrap_or(u64::MAX));
        }
        length(out, group.pending.len() as u64);
        for (id, pending) in &group.pending {
            out.extend_from_slice(&id_key(*id));
            out.extend_from_slice(&pending.delivery_time.to_le_bytes());
            length(out, pending.delivery_count);
        }
        length(out, group.consumers.len() as u64);
        for (cname, consumer) in &group.consumers {
            string(out, cname, compress);
            out.extend_from_slice(&consumer.seen_time.to_le_bytes());
            if type_byte == kind::STREAM_LISTPACKS_3 {
                let active = consumer.active_time.map_or(-1, |t| t as i64);
                out.extend_from_slice(&active.to_le_bytes());
            }
            length(out, consumer.pending.len() as u64);
            for id in &consumer.pending {
                out.extend_from_slice(&id_key(*id));
            }
        }
    }
}

/// A list's elements split into quicklist nodes as Redis's `list-max-listpack-size -2`
/// would split them.
fn list_nodes(l: &ListObj) -> Vec<Vec<&[u8]>> {
    let mut nodes: Vec<Vec<&[u8]>> = Vec::new();
    let mut size = 0;
    for item in &l.items {
        if nodes.is_empty() || (size + item.len() > LIST_NODE_BYTES && size > 0) {
            nodes.push(Vec::new());
            size = 0;
        }
        size += item.len() + 2;
        if let Some(node) = nodes.last_mut() {
            node.push(item);
        }
    }
    nodes
}

/// The quicklist a list is written as, for DEBUG OBJECT: its node count and the bytes
/// of its nodes' listpacks.
pub fn quicklist_shape(l: &ListObj) -> (usize, usize) {
    let nodes = list_nodes(l);
    let bytes = nodes
        .iter()
        .map(|n| packed::listpack(n.iter().copied()).len())
        .sum();
    (nodes.len(), bytes)
}

/// The bytes of `v`'s encoding without its type byte: DEBUG OBJECT's
/// `serializedlength`, Redis's `rdbSavedObjectLen`.
pub fn serialized_length(v: &Value, compress: bool) -> usize {
    let mut out = Vec::new();
    value(&mut out, v, compress);
    out.len() - 1
}

/// The type byte and encoding of `value`, appended to `out`.
fn value(out: &mut Vec<u8>, value: &Value, compress: bool) {
    match value {
        Value::Stream(s) => {
            out.push(kind::STREAM_LISTPACKS_2);
            stream(out, s, kind::STREAM_LISTPACKS_2, compress);
        }
        Value::Str(s) => {
            out.push(kind::STRING);
            string(out, s, compress);
        }
        Value::List(l) => {
            out.push(kind::LIST_QUICKLIST_2);
            let nodes = list_nodes(l);
            length(out, nodes.len() as u64);
            for node in nodes {
                length(out, 2); // a packed (listpack) node
                string(out, &packed::listpack(node), compress);
            }
        }
        Value::Hash(h) if h.compact => {
            out.push(kind::HASH_LISTPACK);
            let flat = h.map.iter().flat_map(|(f, v)| [f.as_ref(), v.as_ref()]);
            string(out, &packed::listpack(flat), compress);
        }
        Value::Hash(h) => {
            out.push(kind::HASH);
            length(out, h.map.len() as u64);
            for (f, v) in &h.map {
                string(out, f, compress);
                string(out, v, compress);
            }
        }
        Value::Set(s) => {
            let ints: Option<Vec<i64>> = if s.compact {
                s.members.iter().map(|m| packed::as_int(m)).collect()
            } else {
                None
            };
            if let Some(mut ints) = ints {
                out.push(kind::SET_INTSET);
                string(out, &packed::intset(&mut ints), compress);
            } else {
                out.push(kind::SET);
                length(out, s.members.len() as u64);
                for m in &s.members {
                    string(out, m, compress);
                }
            }
        }
        Value::ZSet(z) if z.is_compact() => {
            out.push(kind::ZSET_LISTPACK);
            let scores: Vec<String> = z.iter().map(|(_, s)| score_text(s)).collect();
            let flat = z
                .iter()
                .zip(&scores)
                .flat_map(|((m, _), s)| [m.as_ref(), s.as_bytes()]);
            string(out, &packed::listpack(flat), compress);
        }
        Value::ZSet(z) => {
            out.push(kind::ZSET_2);
            length(out, z.len() as u64);
            // Greatest first, as Redis saves a skiplist (each insert at its head on load).
            for (m, s) in z.iter().rev() {
                string(out, m, compress);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
}

/// DUMP's serialization of `v`: type and value, RDB version 10, CRC-64.
pub fn dump_payload(v: &Value, compress: bool) -> Bytes {
    let mut out = Vec::new();
    value(&mut out, v, compress);
    out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    let crc = crc64::of(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

/// FUNCTION DUMP's serialization of the libraries' `codes`: each as a FUNCTION2
/// opcode and its code, then RDB version 10 and the CRC-64.
pub fn function_payload(codes: &[Bytes], compress: bool) -> Bytes {
    let mut out = Vec::new();
    for code in codes {
        out.push(opcode::FUNCTION2);
        string(&mut out, code, compress);
    }
    out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    let crc = crc64::of(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

/// Writes an RDB file: the header, then what the caller adds, then `finish`.
pub struct FileWriter<W: Write> {
    out: W,
    crc: u64,
    compress: bool,
    checksum: bool,
    buf: Vec<u8>,
}

impl<W: Write> FileWriter<W> {
    /// Writes the `REDIS0010` header. `compress` is `rdbcompression`, `checksum`
    /// `rdbchecksum` (without it the file ends in a zero CRC, which readers skip).
    pub fn new(out: W, compress: bool, checksum: bool) -> io::Result<FileWriter<W>> {
        let mut writer = FileWriter {
            out,
            crc: 0,
            compress,
            checksum,
            buf: Vec::new(),
        };
        writer
            .buf
            .extend_from_slice(format!("REDIS{WRITE_VERSION:04}").as_bytes());
        writer.flush_buf()?;
        Ok(writer)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64::update(self.crc, &self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    pub fn aux(&mut self, field: &str, value: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::AUX);
        string(&mut self.buf, field.as_bytes(), false);
        string(&mut self.buf, value, false);
        self.flush_buf()
    }

    /// A function library, as FUNCTION2.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::FUNCTION2);
        string(&mut self.buf, code, self.compress);
        self.flush_buf()
    }

    /// Starts database `db`, which holds `keys` keys, `expires` of them with a TTL.
    pub fn select_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(opcode::SELECTDB);
        length(&mut self.buf, db as u64);
        self.buf.push(opcode::RESIZEDB);
        length(&mut self.buf, keys as u64);
        length(&mut self.buf, expires as u64);
        self.flush_buf()
    }

    /// One key of the current database, with its expiry (Unix ms).
    pub fn key(&mut self, key: &[u8], v: &Value, expire_at: Option<u64>) -> io::Result<()> {
        let mut encoded = Vec::new();
        value(&mut encoded, v, self.compress);
        if let Some(at) = expire_at {
            self.buf.push(opcode::EXPIRETIME_MS);
            self.buf.extend_from_slice(&at.to_le_bytes());
        }
        // The type byte comes first, then the key, then the value.
        self.buf.push(encoded[0]);
        string(&mut self.buf, key, self.compress);
        self.buf.extend_from_slice(&encoded[1..]);
        self.flush_buf()
    }

    /// Writes the end marker and the CRC-64, and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(opcode::EOF);
        self.flush_buf()?;
        let crc = if self.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load_file, parse_payload, FileItem, PayloadError};
    use super::*;
    use crate::store::stream::{Consumer, Group, Pending};
    use crate::store::zset::{AddFlags, ZSetObj};
    use crate::store::{HashObj, SetObj};

    fn stream_lines(s: &StreamObj) -> Vec<String> {
        let mut out: Vec<String> = s.entries().iter().map(|e| format!("{e:?}")).collect();
        out.push(format!(
            "len {} last {} first {} deleted {} added {} blocks {}",
            s.len(),
            s.last_id,
            s.first_id(),
            s.max_deleted_id,
            s.entries_added,
            s.block_count()
        ));
        out.extend(s.groups.iter().map(|g| format!("{g:?}")));
        out
    }

    /// A stream over several blocks, with deletions, mixed fields and two groups.
    fn sample_stream() -> StreamObj {
        let mut s = StreamObj::default();
        let b = |t: &str| Bytes::from(t.to_string());
        for i in 1..=450u64 {
            let fields = if i % 5 == 0 {
                vec![
                    b("other"),
                    b(&format!("{i}")),
                    b("x"),
                    b(&"y".repeat(i as usize)),
                ]
            } else {
                vec![
                    b("user"),
                    b(&format!("u{i}")),
                    b("n"),
                    b(&format!("{}", i as i64 - 300)),
                ]
            };
            s.append(StreamId::new(1000 + i / 3, i % 3), &fields);
        }
        for id in [
            StreamId::new(1000, 1),
            StreamId::new(1050, 0),
            StreamId::new(1100, 2),
        ] {
            assert!(s.delete(id));
        }
        let mut group = Group {
            last_id: StreamId::new(1040, 0),
            entries_read: Some(118),
            ..Group::default()
        };
        for (n, consumer) in ["alice", "bob", "12"].iter().enumerate() {
            let mut c = Consumer {
                seen_time: 1_700_000_000_000 + n as u64,
                active_time: (n != 2).then_some(1_700_000_000_500),
                ..Consumer::default()
            };
            for i in 0..4u64 {
                let id = StreamId::new(1010 + 4 * n as u64 + i, 1);
                c.pending.insert(id);
                group.pending.insert(
                    id,
                    Pending {
                        consumer: b(consumer),
                        delivery_time: 1_700_000_001_000 + i,
                        delivery_count: i + 1,
                    },
                );
            }
            group.consumers.insert(b(consumer), c);
        }
        s.groups.insert(b("g1"), group);
        s.groups.insert(
            b("unread"),
            Group {
                entries_read: None,
                ..Group::default()
            },
        );
        s
    }

    #[test]
    fn streams_read_back_from_types_15_19_and_21() {
        let s = sample_stream();
        assert!(s.block_count() > 3, "{}", s.block_count());
        let encode = |type_byte: u8| {
            let mut out = vec![type_byte];
            stream(&mut out, &s, type_byte, true);
            out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
            let crc = crc64::of(&out);
            out.extend_from_slice(&crc.to_le_bytes());
            out
        };
        let read = |payload: &[u8]| match parse_payload(payload, b"k").unwrap() {
            Value::Stream(s) => *s,
            _ => panic!("not a stream"),
        };
        // 21 keeps everything.
        assert_eq!(
            stream_lines(&read(&encode(kind::STREAM_LISTPACKS_3))),
            stream_lines(&s)
        );
        // 19 has no active time: Redis 7.2 takes the seen time for it.
        let mut expected = s.clone();
        for g in expected.groups.values_mut() {
            for c in g.consumers.values_mut() {
                c.active_time = Some(c.seen_time);
            }
        }
        let from_19 = read(&dump_payload(&Value::Stream(Box::new(s.clone())), false));
        assert_eq!(stream_lines(&from_19), stream_lines(&expected));
        // 15 has neither counters nor entries read: entries added is the length, the
        // first id comes from the entries, entries read is estimated (unknown here,
        // as the stream has deletions past the group's last id... none before it).
        let from_15 = read(&encode(kind::STREAM_LISTPACKS));
        assert_eq!(from_15.entries(), s.entries());
        assert_eq!(from_15.entries_added, s.len());
        assert_eq!(from_15.max_deleted_id, StreamId::MIN);
        assert_eq!(from_15.first_id(), StreamId::new(1000, 2));
        assert_eq!(from_15.groups[&Bytes::from("g1")].entries_read, None);
        assert_eq!(
            from_15.groups[&Bytes::from("g1")].pending,
            expected.groups[&Bytes::from("g1")].pending
        );
        // A damaged node is an error, not a panic.
        let good = encode(kind::STREAM_LISTPACKS_2);
        for at in (1..good.len() - 10).step_by(7) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            let body = bad.len() - 8;
            let crc = crc64::of(&bad[..body]);
            bad[body..].copy_from_slice(&crc.to_le_bytes());
            let _ = parse_payload(&bad, b"k");
        }
    }

    fn samples() -> Vec<Value> {
        let mut out = vec![
            Value::Str(Bytes::from_static(b"12")),
            Value::Str(Bytes::from_static(b"-70000")),
            Value::Str(Bytes::from(vec![b'z'; 1000])),
            Value::Str(Bytes::from_static(b"plain text")),
        ];
        for n in [3usize, 1000] {
            let mut hash = HashObj::new();
            let mut ints = SetObj::new();
            let mut words = SetObj::new();
            let mut zset = ZSetObj::new();
            let mut list = ListObj::default();
            for i in 0..n {
                hash.map
                    .insert(Bytes::from(format!("f{i}")), Bytes::from(i.to_string()));
                ints.members
                    .insert(Bytes::from((i as i64 * 7919 - 5).to_string()));
                words.members.insert(Bytes::from(format!("m{i}")));
                zset.add(
                    &Bytes::from(format!("z{i}")),
                    i as f64 / 3.0,
                    AddFlags::default(),
                );
                list.items
                    .push_back(Bytes::from(format!("item {i} {}", "x".repeat(i % 50))));
            }
            zset.add(
                &Bytes::from_static(b"inf"),
                f64::INFINITY,
                AddFlags::default(),
            );
            hash.update_encoding();
            ints.update_encoding();
            words.update_encoding();
            out.extend([
                Value::Hash(Box::new(hash)),
                Value::Set(Box::new(ints)),
                Value::Set(Box::new(words)),
                Value::ZSet(Box::new(zset)),
                Value::List(Box::new(list)),
            ]);
        }
        out
    }

    /// A comparable form: sorted pairs of text.
    fn flat(v: &Value) -> (String, Vec<String>) {
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        let mut items: Vec<String> = match v {
            Value::Str(s) => vec![text(s)],
            Value::Hash(h) => h
                .map
                .iter()
                .map(|(f, v)| text(f) + "=" + &text(v))
                .collect(),
            Value::Set(s) => s.members.iter().map(text).collect(),
            Value::List(l) => return (v.encoding().into(), l.items.iter().map(text).collect()),
            Value::ZSet(z) => z.iter().map(|(m, s)| format!("{}={s}", text(m))).collect(),
            Value::Stream(s) => return (v.encoding().into(), stream_lines(s)),
        };
        items.sort();
        (v.encoding().into(), items)
    }

    #[test]
    fn payloads_round_trip_every_type_with_and_without_compression() {
        for compress in [false, true] {
            for v in samples() {
                let payload = dump_payload(&v, compress);
                let back = parse_payload(&payload, b"k").unwrap();
                assert_eq!(flat(&back), flat(&v));
            }
        }
        let mut payload = dump_payload(&Value::Str(Bytes::from_static(b"x")), false).to_vec();
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert_eq!(
            parse_payload(&payload, b"k").unwrap_err(),
            PayloadError::VersionOrChecksum
        );
    }

    #[test]
    fn function_payloads_round_trip_and_refuse_other_content() {
        let codes = vec![
            Bytes::from("#!lua name=a\nredis.register_function('f', function() return 1 end)"),
            Bytes::from(format!("#!lua name=b\n{}", "-- padding\n".repeat(50))),
        ];
        for compress in [false, true] {
            let payload = function_payload(&codes, compress);
            assert_eq!(
                super::super::parse_function_payload(&payload),
                Ok(codes.clone())
            );
        }
        let empty = function_payload(&[], true);
        assert_eq!(empty.len(), 10);
        assert_eq!(super::super::parse_function_payload(&empty), Ok(vec![]));
        let key = dump_payload(&Value::Str(Bytes::from_static(b"x")), false);
        assert_eq!(
            super::super::parse_function_payload(&key),
            Err(super::super::FunctionPayloadError::Bad(
                "given type is not a function"
            ))
        );
        let mut damaged = function_payload(&codes, false).to_vec();
        damaged[3] ^= 1;
        assert_eq!(
            super::super::parse_function_payload(&damaged),
            Err(super::super::FunctionPayloadError::VersionOrChecksum)
        );
    }

    #[test]
    fn files_round_trip_and_damage_is_found_with_its_offset() {
        let mut writer = FileWriter::new(Vec::new(), true, true).unwrap();
        writer.aux("redis-ver", b"7.2.4").unwrap();
        writer.select_db(3, 1, 1).unwrap();
        let v = Value::Str(Bytes::from_static(b"hello"));
        writer.key(b"k", &v, Some(1_900_000_000_000)).unwrap();
        let file = writer.finish().unwrap();
        let mut keys = Vec::new();
        let version = load_file(&file[..], file.len() as u64, true, |item, _| {
            if let FileItem::Key(k) = item {
                keys.push((k.db, k.key, k.expire_at));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(version, 10);
        assert_eq!(
            keys,
            [(3, Bytes::from_static(b"k"), Some(1_900_000_000_000))]
        );
        // A changed byte inside the value reads fine; the checksum finds it.
        let at = file.windows(5).position(|w| w == b"hello").unwrap();
        let mut damaged = file.clone();
        damaged[at] = b'j';
        let err = load_file(&damaged[..], damaged.len() as u64, true, |_, _| Ok(())).unwrap_err();
        assert!(err.message.contains("wrong RDB checksum"), "{err}");
        assert_eq!(err.offset, file.len() as u64);
        assert!(load_file(&damaged[..], damaged.len() as u64, false, |_, _| Ok(())).is_ok());
        let err = load_file(&file[..20], 20, true, |_, _| Ok(())).unwrap_err();
        assert_eq!(err.offset, 20);
    }
}
