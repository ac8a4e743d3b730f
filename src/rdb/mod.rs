//! Redis's RDB encoding of values and files, for moving data between Redis and Roost:
//! DUMP/RESTORE payloads, and RDB files (SAVE, BGSAVE, loading at startup).
//!
//! Reading takes every version up to 11 (Redis 7.2) and every encoding those versions
//! use: strings plain, as integers or LZF-compressed; lists as linked lists and
//! quicklists of ziplists or listpacks; hashes as zipmaps, ziplists, listpacks or
//! tables; sets as intsets, listpacks or tables; sorted sets as ziplists, listpacks or
//! skiplists (scores as text or binary doubles); streams of types 15, 19 and 21 with
//! their consumer groups. Values of module types are refused with an error naming
//! their key.
//!
//! Writing produces version 10, the newest that Redis 7.0 loads (7.2 writes 11, which
//! 7.0 refuses, and adds only encodings for small sets and streams): so files and
//! payloads from Roost load into both. Values take the compact encodings Redis would
//! give them: listpacks for small hashes and sorted sets, intsets for small integer
//! sets, quicklist-2 nodes of listpacks for lists, type 19 listpack nodes for streams
//! (one per `store::stream` block, which splits where Redis's nodes split).
//!
//! Both directions check lengths against what is left of the input before allocating,
//! so damaged input is an error (with its offset), never a panic or a huge allocation.

pub mod lzf;
pub mod packed;
mod read;
pub mod write;

pub use read::{
    load_file, parse_function_payload, parse_payload, FileItem, FunctionPayloadError, LoadedKey,
    PayloadError,
};
pub use write::{dump_payload, function_payload, FileWriter};

/// The version this module writes.
pub const WRITE_VERSION: u16 = 10;
/// The newest version it reads (Redis 7.2's).
pub const READ_VERSION: u16 = 11;

/// Value types, as the byte before a key (or at the start of a DUMP payload).
pub(crate) mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Opcodes between keys in a file.
pub(crate) mod opcode {
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const FUNCTION2: u8 = 245;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// What went wrong reading RDB data, and where (bytes from the start).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.offset)
    }
}

/// A module type's name from its 64-bit id: nine characters of six bits each above a
/// 10-bit encoding version.
fn module_name(id: u64) -> String {
    const CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..9)
        .map(|i| CHARSET[((id >> (10 + 6 * (8 - i))) & 63) as usize] as char)
        .collect()
}
