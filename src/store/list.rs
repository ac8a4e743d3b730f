//! Lists: a deque of elements, and the encoding name Redis would report.

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ListObj {
    pub items: VecDeque<Bytes>,
}

impl ListObj {
    /// The name OBJECT ENCODING reports. Redis 7.0 (the reference, 7.0.15) keeps every
    /// list as a quicklist, however small: the listpack encoding for small lists came
    /// with Redis 7.2.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// The records that recreate this list in a log base (`RPUSH` in chunks).
    pub fn base_records(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let items: Vec<&Bytes> = self.items.iter().collect();
        for chunk in items.chunks(64) {
            let mut args: Vec<&[u8]> = vec![b"RPUSH", key];
            args.extend(chunk.iter().map(|m| m.as_ref()));
            emit(&args);
        }
    }
}
