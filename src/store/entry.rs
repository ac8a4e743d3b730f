//! A stored key: one heap block holding a small header (expiry time, access stamp,
//! lengths, string encoding), the key's bytes and, for a string, the value's bytes, so
//! a session key costs one allocation and the table slot pointing at it only 8 bytes.
//!
//! Layout: `Header` (24 bytes), then either the key followed by the string's bytes
//! (`Header::value_len` is the string's length), or a `Value` (8-byte aligned) followed
//! by the key (`value_len` is `OBJECT`). Aggregates live in their own boxes as before;
//! strings of `INLINE_MAX` bytes or more stay a shared `Bytes` (no copy of a large
//! argument, and GET hands it out without copying).
//!
//! Callers outside the store read a value through `ValueRef` (a string as `&[u8]`) and
//! change an aggregate in place through `object_mut`; `Value` stays the owned form
//! values travel in (inserts, snapshots, RDB).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::{align_of, size_of};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use super::list::ListObj;
use super::stream::StreamObj;
use super::zset::ZSetObj;
use super::{HashObj, SetObj, Value};

/// Strings shorter than this are copied into the entry's block; longer ones are kept
/// as the `Bytes` they arrived in (the threshold `store::own` copies below).
pub const INLINE_MAX: usize = 32 * 1024;

/// `Header::value_len` of an entry holding a `Value` rather than inline bytes.
const OBJECT: u32 = u32::MAX;

#[repr(C)]
struct Header {
    /// Unix ms after which the key is gone; 0 when it has no TTL.
    expire_at: u64,
    /// Seconds clock of the last access, or an LFU stamp (see `store::Lfu`).
    access: AtomicU32,
    key_len: u32,
    /// The inline string's length, or `OBJECT`.
    value_len: u32,
    string_encoding: StringEncoding,
}

const HEADER: usize = size_of::<Header>();
const ALIGN: usize = align_of::<Header>();
const _: () = assert!(HEADER % align_of::<Value>() == 0 && ALIGN >= align_of::<Value>());

/// What decides the encoding OBJECT ENCODING reports for a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StringEncoding {
    /// Its content: int, embstr or raw.
    ByContent,
    /// Changed in place (APPEND, SETRANGE): raw whatever its length.
    Raw,
    /// Stored as a number's text (INCRBYFLOAT): embstr or raw by length, never int.
    NotInt,
}

/// A stored value seen in place: a string as its bytes, an aggregate as its object.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Str(&'a [u8]),
    Hash(&'a HashObj),
    Set(&'a SetObj),
    List(&'a ListObj),
    ZSet(&'a ZSetObj),
    Stream(&'a StreamObj),
}

impl ValueRef<'_> {
    /// The name TYPE reports.
    pub fn type_name(self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::Hash(_) => "hash",
            ValueRef::Set(_) => "set",
            ValueRef::List(_) => "list",
            ValueRef::ZSet(_) => "zset",
            ValueRef::Stream(_) => "stream",
        }
    }
}

/// Bytes of the per-thread buffers short strings are copied out into.
const COPY_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where `copy_out` puts strings: a reply shares the chunk rather than getting an
    /// allocation of its own (a GET costs a copy, not a malloc and a free).
    static COPY_BUFFER: std::cell::RefCell<bytes::BytesMut> =
        std::cell::RefCell::new(bytes::BytesMut::new());
}

/// `s` as a `Bytes` of its own: strings up to 4 KB share a thread's chunk (a chunk is
/// freed once no copy out of it is held), longer ones get their own allocation.
fn copy_out(s: &[u8]) -> Bytes {
    if s.len() > 4096 {
        return Bytes::copy_from_slice(s);
    }
    COPY_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.capacity() < s.len() {
            *buffer = bytes::BytesMut::with_capacity(COPY_CHUNK);
        }
        buffer.extend_from_slice(s);
        buffer.split().freeze()
    })
}

/// One key with its value, expiry time and last access, owned through one pointer.
pub struct Entry {
    block: NonNull<Header>,
}

// SAFETY: an Entry owns its block as a Box would; the block holds plain bytes, a
// `Value` (Send + Sync) and an atomic, and `&Entry` only allows atomic writes.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

impl Entry {
    /// An entry for `key` holding `value`.
    pub(super) fn new(
        key: &[u8],
        value: Value,
        expire_at: Option<u64>,
        access: u32,
        string_encoding: StringEncoding,
    ) -> Entry {
        let header = Header {
            expire_at: expire_at.unwrap_or(0),
            access: AtomicU32::new(access),
            key_len: u32::try_from(key.len()).expect("keys are at most 512 MB"),
            value_len: OBJECT,
            string_encoding,
        };
        match value {
            Value::Str(s) if s.len() < INLINE_MAX => {
                let header = Header {
                    value_len: s.len() as u32,
                    ..header
                };
                let entry = Entry::allocate(header);
                // SAFETY: the block has room for the key and then the string.
                unsafe {
                    let data = entry.data();
                    data.copy_from_nonoverlapping(key.as_ptr(), key.len());
                    data.add(key.len())
                        .copy_from_nonoverlapping(s.as_ptr(), s.len());
                }
                entry
            }
            value => {
                let entry = Entry::allocate(header);
                // SAFETY: the block has room for an aligned Value and then the key.
                unsafe {
                    let data = entry.data();
                    (data as *mut Value).write(value);
                    data.add(size_of::<Value>())
                        .copy_from_nonoverlapping(key.as_ptr(), key.len());
                }
                entry
            }
        }
    }

    /// An entry for `key` holding the string `value`, built in its final block with one
    /// copy (loading a base).
    pub(super) fn new_string(
        key: &[u8],
        value: &[u8],
        expire_at: Option<u64>,
        access: u32,
    ) -> Entry {
        if value.len() >= INLINE_MAX {
            let value = Value::Str(Bytes::copy_from_slice(value));
            return Entry::new(key, value, expire_at, access, StringEncoding::ByContent);
        }
        let header = Header {
            expire_at: expire_at.unwrap_or(0),
            access: AtomicU32::new(access),
            key_len: u32::try_from(key.len()).expect("keys are at most 512 MB"),
            value_len: value.len() as u32,
            string_encoding: StringEncoding::ByContent,
        };
        let entry = Entry::allocate(header);
        // SAFETY: the block has room for the key and then the string.
        unsafe {
            let data = entry.data();
            data.copy_from_nonoverlapping(key.as_ptr(), key.len());
            data.add(key.len())
                .copy_from_nonoverlapping(value.as_ptr(), value.len());
        }
        entry
    }

    fn layout_of(header: &Header) -> Layout {
        let payload = if header.value_len == OBJECT {
            size_of::<Value>()
        } else {
            header.value_len as usize
        };
        Layout::from_size_align(HEADER + payload + header.key_len as usize, ALIGN)
            .expect("an entry's size fits a Layout")
    }

    fn allocate(header: Header) -> Entry {
        let layout = Entry::layout_of(&header);
        // SAFETY: the layout is never zero-sized (it holds the header).
        let block = unsafe { alloc(layout) } as *mut Header;
        let Some(block) = NonNull::new(block) else {
            handle_alloc_error(layout)
        };
        // SAFETY: freshly allocated, aligned for a Header.
        unsafe { block.as_ptr().write(header) };
        Entry { block }
    }

    fn header(&self) -> &Header {
        // SAFETY: the block lives as long as the entry.
        unsafe { self.block.as_ref() }
    }

    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { self.block.as_mut() }
    }

    /// Start of what follows the header.
    fn data(&self) -> *mut u8 {
        // SAFETY: the block is at least HEADER bytes long.
        unsafe { (self.block.as_ptr() as *mut u8).add(HEADER) }
    }

    fn is_object(&self) -> bool {
        self.header().value_len == OBJECT
    }

    fn object(&self) -> Option<&Value> {
        // SAFETY: an object entry holds an initialised Value right after the header.
        self.is_object()
            .then(|| unsafe { &*(self.data() as *const Value) })
    }

    /// The key's bytes.
    pub fn key(&self) -> &[u8] {
        let h = self.header();
        let offset = if h.value_len == OBJECT {
            size_of::<Value>()
        } else {
            0
        };
        // SAFETY: the key's bytes sit at `offset` after the header.
        unsafe { std::slice::from_raw_parts(self.data().add(offset), h.key_len as usize) }
    }

    /// The value in place.
    pub fn value(&self) -> ValueRef<'_> {
        match self.object() {
            None => {
                let h = self.header();
                // SAFETY: an inline string's bytes follow the key.
                ValueRef::Str(unsafe {
                    std::slice::from_raw_parts(
                        self.data().add(h.key_len as usize),
                        h.value_len as usize,
                    )
                })
            }
            Some(Value::Str(s)) => ValueRef::Str(s),
            Some(Value::Hash(h)) => ValueRef::Hash(h),
            Some(Value::Set(s)) => ValueRef::Set(s),
            Some(Value::List(l)) => ValueRef::List(l),
            Some(Value::ZSet(z)) => ValueRef::ZSet(z),
            Some(Value::Stream(x)) => ValueRef::Stream(x),
        }
    }

    /// The string value as a `Bytes` to hand out (a copy of an inline string); None for
    /// another type.
    pub fn string(&self) -> Option<Bytes> {
        match self.object() {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(_) => None,
            None => match self.value() {
                ValueRef::Str(s) => Some(copy_out(s)),
                _ => None,
            },
        }
    }

    /// An aggregate's object, to change in place; None for a string (replace a string
    /// with `set_value`).
    pub fn object_mut(&mut self) -> Option<&mut Value> {
        if !self.is_object() {
            return None;
        }
        // SAFETY: as in `object`; `&mut self` makes the access exclusive.
        match unsafe { &mut *(self.data() as *mut Value) } {
            Value::Str(_) => None,
            value => Some(value),
        }
    }

    /// A string of `INLINE_MAX` bytes or more, kept as its own `Bytes`, to edit in place
    /// (SETBIT on a large bitmap); None for a short string or another type.
    pub fn large_string_mut(&mut self) -> Option<&mut Bytes> {
        if !self.is_object() {
            return None;
        }
        // SAFETY: as in `object_mut`.
        match unsafe { &mut *(self.data() as *mut Value) } {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An owned copy of the value.
    pub fn to_value(&self) -> Value {
        match self.object() {
            Some(value) => value.clone(),
            None => Value::Str(self.string().unwrap_or_default()),
        }
    }

    /// The value, taking the entry apart.
    pub fn into_value(self) -> Value {
        if !self.is_object() {
            return self.to_value();
        }
        let layout = Entry::layout_of(self.header());
        let block = self.block;
        std::mem::forget(self);
        // SAFETY: the Value is moved out once and the block freed without dropping it.
        unsafe {
            let value = ((block.as_ptr() as *mut u8).add(HEADER) as *const Value).read();
            dealloc(block.as_ptr() as *mut u8, layout);
            value
        }
    }

    /// Replaces the value, keeping the key, TTL, access stamp and string encoding.
    pub fn set_value(&mut self, value: Value) {
        let h = self.header();
        let fresh = Entry::new(
            self.key(),
            value,
            (h.expire_at != 0).then_some(h.expire_at),
            h.access.load(Ordering::Relaxed),
            h.string_encoding,
        );
        *self = fresh;
    }

    pub fn string_encoding(&self) -> StringEncoding {
        self.header().string_encoding
    }

    pub fn set_string_encoding(&mut self, encoding: StringEncoding) {
        self.header_mut().string_encoding = encoding;
    }

    pub(super) fn raw_expire_at(&self) -> u64 {
        self.header().expire_at
    }

    pub(super) fn set_raw_expire_at(&mut self, at: u64) {
        self.header_mut().expire_at = at;
    }

    pub(super) fn access(&self) -> &AtomicU32 {
        &self.header().access
    }

    /// The access stamp as Redis's 24-bit `lru` field holds it (DEBUG OBJECT): the LRU
    /// clock in seconds, or the LFU counter and its minutes under an LFU policy.
    pub fn lru_field(&self) -> u32 {
        self.access().load(Ordering::Relaxed) & 0x00FF_FFFF
    }

    /// Heap bytes of the block (MEMORY USAGE adds what an aggregate holds beyond it).
    pub(super) fn block_size(&self) -> usize {
        Entry::layout_of(self.header()).size()
    }

    /// The object an aggregate (or a large string) holds beyond the block; `None` for
    /// a string stored inline (`to_value` copies it out).
    pub fn object_ref(&self) -> Option<&Value> {
        self.object()
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let layout = Entry::layout_of(self.header());
        // SAFETY: the block was allocated with this layout; an object entry's Value is
        // initialised and dropped exactly once here.
        unsafe {
            if self.is_object() {
                std::ptr::drop_in_place(self.data() as *mut Value);
            }
            dealloc(self.block.as_ptr() as *mut u8, layout);
        }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &Bytes::copy_from_slice(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.header().expire_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], value: Value) -> Entry {
        Entry::new(key, value, Some(7), 3, StringEncoding::ByContent)
    }

    #[test]
    fn a_short_string_lives_in_the_block_after_its_key() {
        let e = entry(b"session:1", Value::Str(Bytes::from_static(b"payload")));
        assert_eq!(e.key(), b"session:1");
        assert!(matches!(e.value(), ValueRef::Str(b"payload")));
        assert_eq!(e.string().as_deref(), Some(&b"payload"[..]));
        assert_eq!(e.block_size(), HEADER + 9 + 7);
        assert_eq!(e.raw_expire_at(), 7);
        assert_eq!(size_of::<Entry>(), 8);
    }

    #[test]
    fn large_strings_and_aggregates_are_objects() {
        let big = Bytes::from(vec![b'x'; INLINE_MAX]);
        let mut e = entry(b"k", Value::Str(big.clone()));
        assert_eq!(e.key(), b"k");
        assert!(matches!(e.value(), ValueRef::Str(s) if s.len() == INLINE_MAX));
        // Handed out without a copy.
        assert_eq!(e.string().unwrap().as_ptr(), big.as_ptr());
        assert!(e.object_mut().is_none());
        let mut h = HashObj::new();
        h.map
            .insert(Bytes::from_static(b"f"), Bytes::from_static(b"v"));
        e.set_value(Value::Hash(Box::new(h)));
        assert_eq!(e.key(), b"k");
        assert_eq!(e.raw_expire_at(), 7);
        let Some(Value::Hash(h)) = e.object_mut() else {
            panic!("a hash")
        };
        h.map
            .insert(Bytes::from_static(b"g"), Bytes::from_static(b"w"));
        assert!(matches!(e.value(), ValueRef::Hash(h) if h.map.len() == 2));
        let Value::Hash(h) = e.into_value() else {
            panic!("a hash")
        };
        assert_eq!(h.map.len(), 2);
    }

    #[test]
    fn replacing_keeps_key_ttl_and_encoding() {
        let mut e = entry(b"", Value::Str(Bytes::from_static(b"1")));
        e.set_string_encoding(StringEncoding::Raw);
        e.set_value(Value::Str(Bytes::from_static(b"longer value")));
        assert_eq!(e.key(), b"");
        assert_eq!(e.string_encoding(), StringEncoding::Raw);
        assert_eq!(e.access().load(Ordering::Relaxed), 3);
        assert!(matches!(e.into_value(), Value::Str(s) if s == "longer value"));
    }
}
