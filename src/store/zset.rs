//! Sorted sets: members with scores, ordered by (score, member), and the encoding name
//! Redis would report.

use bytes::Bytes;

#[derive(Debug, Clone, Default)]
pub struct ZSetObj {
    /// Placeholder representation; ordered access comes with the sorted-set commands.
    pub members: Vec<(Bytes, f64)>,
}

impl ZSetObj {
    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// The records that recreate this sorted set in a log base (`ZADD` in chunks).
    pub fn base_records(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        for chunk in self.members.chunks(64) {
            let scores: Vec<String> = chunk.iter().map(|(_, s)| format!("{s}")).collect();
            let mut args: Vec<&[u8]> = vec![b"ZADD", key];
            for ((member, _), score) in chunk.iter().zip(&scores) {
                args.push(score.as_bytes());
                args.push(member);
            }
            emit(&args);
        }
    }
}
