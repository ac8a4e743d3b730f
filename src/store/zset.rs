//! Sorted sets: members with scores, ordered by (score, member), and the encoding name
//! Redis would report.
//!
//! A member → score map answers ZSCORE in O(1); a B-tree of (score, member) keeps the
//! order, so score and lex ranges start in O(log n). Ranks are counted from the nearer
//! end of the tree.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;

/// Redis's `zset-max-listpack-entries` / `-value` defaults.
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
pub const ZSET_MAX_LISTPACK_VALUE: usize = 64;

/// A score, never NaN, ordered as Redis's skiplist compares them: numerically, so
/// `-0` and `0` are equal and the member decides.
#[derive(Debug, Clone, Copy)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.0 == other.0
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// The member half of an index key. `Min` and `Max` are never stored: they bound
/// ranges ("every member with this score").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    Min,
    Real(Bytes),
    Max,
}

type Key = (Score, Member);

/// Bytes of one element of the order (MEMORY USAGE).
pub const ORDER_KEY: usize = std::mem::size_of::<Key>();

/// One end of a score range: `1.5` (inclusive) or `(1.5` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// A score range as ZRANGEBYSCORE takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ScoreRange {
    pub fn gte_min(&self, score: f64) -> bool {
        if self.min.exclusive {
            score > self.min.value
        } else {
            score >= self.min.value
        }
    }

    pub fn lte_max(&self, score: f64) -> bool {
        if self.max.exclusive {
            score < self.max.value
        } else {
            score <= self.max.value
        }
    }

    fn is_empty(&self) -> bool {
        self.min.value > self.max.value
            || (self.min.value == self.max.value && (self.min.exclusive || self.max.exclusive))
    }
}

/// One end of a lex range: `-`, `+`, `[a` or `(a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

/// A lex range as ZRANGEBYLEX takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(m) => member >= m.as_ref(),
            LexBound::Exclusive(m) => member > m.as_ref(),
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(m) => member <= m.as_ref(),
            LexBound::Exclusive(m) => member < m.as_ref(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ZSetObj {
    scores: HashMap<Bytes, f64>,
    order: BTreeSet<Key>,
    /// Still what Redis would hold as a listpack.
    compact: bool,
}

impl Default for ZSetObj {
    fn default() -> ZSetObj {
        ZSetObj::new()
    }
}

/// What `ZSetObj::add` did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    Added(f64),
    /// The score changed to this.
    Updated(f64),
    /// Processed, the score stays this (same score, or INCR by zero).
    Unchanged(f64),
    /// Not processed (NX on an existing member, XX on a missing one, GT/LT refused).
    Skipped,
    /// INCR made the score NaN.
    NaN,
}

/// ZADD's condition flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

impl ZSetObj {
    pub fn new() -> ZSetObj {
        ZSetObj {
            scores: HashMap::new(),
            order: BTreeSet::new(),
            compact: true,
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Members the score table has room for (MEMORY USAGE).
    pub fn scores_capacity(&self) -> usize {
        self.scores.capacity()
    }

    pub fn is_compact(&self) -> bool {
        self.compact
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        if self.compact {
            "listpack"
        } else {
            "skiplist"
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score, converting out of the listpack form first if it would
    /// outgrow it. A listpack stores a zero score as the integer 0, so `-0` reads back
    /// as `0` there (a skiplist keeps the sign), as in Redis.
    fn set(&mut self, member: Bytes, mut score: f64) {
        let new = !self.scores.contains_key(&member);
        if self.compact
            && ((new && self.scores.len() + 1 > ZSET_MAX_LISTPACK_ENTRIES)
                || member.len() > ZSET_MAX_LISTPACK_VALUE)
        {
            self.compact = false;
        }
        if self.compact && score == 0.0 {
            score = 0.0;
        }
        if let Some(old) = self.scores.insert(member.clone(), score) {
            self.order
                .remove(&(Score(old), Member::Real(member.clone())));
        }
        self.order.insert((Score(score), Member::Real(member)));
    }

    /// Adds or updates `member` as ZADD does with `flags` (Redis's `zsetAdd`).
    pub fn add(&mut self, member: &Bytes, score: f64, flags: AddFlags) -> AddOutcome {
        match self.score(member) {
            Some(current) => {
                if flags.nx {
                    return AddOutcome::Skipped;
                }
                let mut score = score;
                if flags.incr {
                    score += current;
                    if score.is_nan() {
                        return AddOutcome::NaN;
                    }
                }
                if (flags.lt && score >= current) || (flags.gt && score <= current) {
                    return AddOutcome::Skipped;
                }
                if score == current {
                    AddOutcome::Unchanged(current)
                } else {
                    self.set(member.clone(), score);
                    AddOutcome::Updated(self.scores[member])
                }
            }
            None if flags.xx => AddOutcome::Skipped,
            None => {
                self.set(crate::store::own(member), score);
                AddOutcome::Added(self.scores[member])
            }
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (member, score) = self.scores.remove_entry(member)?;
        self.order.remove(&(Score(score), Member::Real(member)));
        Some(score)
    }

    /// Every (member, score) in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        self.order.iter().map(entry)
    }

    /// (member, score) pairs in no particular order (for ZSCAN and ZRANDMEMBER).
    pub fn pairs(&self) -> impl Iterator<Item = (&Bytes, f64)> {
        self.scores.iter().map(|(m, s)| (m, *s))
    }

    /// The 0-based rank of `member` in ascending order, counted from whichever end of
    /// the order is nearer.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let key = (Score(score), Member::Real(Bytes::copy_from_slice(member)));
        let mut before = self.order.range(..&key);
        let mut from = self.order.range(&key..);
        let mut n = 0;
        loop {
            if before.next().is_none() {
                return Some(n);
            }
            if from.next().is_none() {
                // `n + 1` elements from `key` to the end, `member` being the first.
                return Some(self.len() - n);
            }
            n += 1;
        }
    }

    /// The elements at ranks `start..=end` (valid, in range), ascending, or descending
    /// ranks from the top when `rev`.
    pub fn range_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<(Bytes, f64)> {
        let len = self.len();
        let count = end + 1 - start;
        // Ascending ranks a..=b; the nearer end of the tree is walked.
        let (a, b) = if rev {
            (len - 1 - end, len - 1 - start)
        } else {
            (start, end)
        };
        let mut out: Vec<(Bytes, f64)> = if a <= len - 1 - b {
            self.iter()
                .skip(a)
                .take(count)
                .map(|(m, s)| (m.clone(), s))
                .collect()
        } else {
            let mut v: Vec<(Bytes, f64)> = self
                .iter()
                .rev()
                .skip(len - 1 - b)
                .take(count)
                .map(|(m, s)| (m.clone(), s))
                .collect();
            v.reverse();
            v
        };
        if rev {
            out.reverse();
        }
        out
    }

    /// Elements whose score is in `range`, ascending (or descending when `rev`).
    pub fn range_by_score<'a>(
        &'a self,
        range: &ScoreRange,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        if range.is_empty() {
            return Box::new(std::iter::empty());
        }
        let lower = if range.min.exclusive {
            Bound::Excluded((Score(range.min.value), Member::Max))
        } else {
            Bound::Included((Score(range.min.value), Member::Min))
        };
        let upper = if range.max.exclusive {
            Bound::Excluded((Score(range.max.value), Member::Min))
        } else {
            Bound::Included((Score(range.max.value), Member::Max))
        };
        let iter = self.order.range((lower, upper)).map(entry);
        if rev {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        }
    }

    /// Elements whose member is in `range`, ascending (or descending when `rev`). As in
    /// Redis, meaningful when all scores are equal; otherwise the walk stops at the
    /// first element past the range, as Redis's does.
    pub fn range_by_lex<'a>(
        &'a self,
        range: &'a LexRange,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        let uniform = match (self.order.first(), self.order.last()) {
            (Some(first), Some(last)) => first.0 == last.0,
            _ => return Box::new(std::iter::empty()),
        };
        if uniform {
            let score = self.order.first().map(|k| k.0).expect("not empty");
            let lower = match &range.min {
                LexBound::NegInf => Bound::Unbounded,
                LexBound::PosInf => return Box::new(std::iter::empty()),
                LexBound::Inclusive(m) => Bound::Included((score, Member::Real(m.clone()))),
                LexBound::Exclusive(m) => Bound::Excluded((score, Member::Real(m.clone()))),
            };
            let upper = match &range.max {
                LexBound::NegInf => return Box::new(std::iter::empty()),
                LexBound::PosInf => Bound::Unbounded,
                LexBound::Inclusive(m) => Bound::Included((score, Member::Real(m.clone()))),
                LexBound::Exclusive(m) => Bound::Excluded((score, Member::Real(m.clone()))),
            };
            if let (
                Bound::Included(l) | Bound::Excluded(l),
                Bound::Included(u) | Bound::Excluded(u),
            ) = (&lower, &upper)
            {
                // BTreeSet::range panics on reversed or empty-exclusive bounds.
                if l > u
                    || (l == u
                        && !matches!((&lower, &upper), (Bound::Included(_), Bound::Included(_))))
                {
                    return Box::new(std::iter::empty());
                }
            }
            let iter = self.order.range((lower, upper)).map(entry);
            return if rev {
                Box::new(iter.rev())
            } else {
                Box::new(iter)
            };
        }
        if rev {
            Box::new(
                self.iter()
                    .rev()
                    .skip_while(move |(m, _)| !range.lte_max(m))
                    .take_while(move |(m, _)| range.gte_min(m)),
            )
        } else {
            Box::new(
                self.iter()
                    .skip_while(move |(m, _)| !range.gte_min(m))
                    .take_while(move |(m, _)| range.lte_max(m)),
            )
        }
    }

    /// The records that recreate this sorted set in a log base (`ZADD` in chunks).
    /// Scores are written so they read back as the same double, sign of zero included;
    /// `-0` scores (only a skiplist has them) come last, once the set being rebuilt has
    /// outgrown the listpack form that would turn them into `0`.
    pub fn base_records(&self, key: &[u8], emit: &mut dyn FnMut(&[&[u8]])) {
        let negative_zero = |s: f64| s == 0.0 && s.is_sign_negative();
        let mut items: Vec<(&Bytes, f64)> =
            self.iter().filter(|(_, s)| !negative_zero(*s)).collect();
        items.extend(self.iter().filter(|(_, s)| negative_zero(*s)));
        for chunk in items.chunks(64) {
            let scores: Vec<String> = chunk.iter().map(|(_, s)| score_text(*s)).collect();
            let mut args: Vec<&[u8]> = vec![b"ZADD", key];
            for ((member, _), score) in chunk.iter().zip(&scores) {
                args.push(score.as_bytes());
                args.push(member);
            }
            emit(&args);
        }
    }
}

fn entry(key: &Key) -> (&Bytes, f64) {
    match &key.1 {
        Member::Real(m) => (m, key.0 .0),
        _ => unreachable!("only real members are stored"),
    }
}

/// The shortest text that reads back as exactly `score`: `inf`, `-inf`, `-0`, `0.1`,
/// `1e300`.
pub fn score_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.into();
    }
    let plain = format!("{score}");
    if plain.len() <= 24 {
        plain
    } else {
        format!("{score:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zset(items: &[(&str, f64)]) -> ZSetObj {
        let mut z = ZSetObj::new();
        for (m, s) in items {
            z.add(
                &Bytes::copy_from_slice(m.as_bytes()),
                *s,
                AddFlags::default(),
            );
        }
        z
    }

    #[test]
    fn order_rank_and_ranges() {
        let z = zset(&[("c", 1.0), ("b", 1.0), ("a", 2.0), ("d", -1.0), ("e", 0.5)]);
        let names: Vec<&[u8]> = z.iter().map(|(m, _)| m.as_ref()).collect();
        assert_eq!(names, [&b"d"[..], b"e", b"b", b"c", b"a"]);
        for (i, m) in names.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
        }
        assert_eq!(z.rank(b"zz"), None);
        let r = z.range_by_rank(1, 3, false);
        assert_eq!(r[0].0, "e");
        assert_eq!(r[2].0, "c");
        let r = z.range_by_rank(0, 1, true);
        assert_eq!(r[0].0, "a");
        assert_eq!(r[1].0, "c");
        let range = ScoreRange {
            min: ScoreBound {
                value: 0.5,
                exclusive: true,
            },
            max: ScoreBound {
                value: 2.0,
                exclusive: false,
            },
        };
        let got: Vec<&Bytes> = z.range_by_score(&range, false).map(|(m, _)| m).collect();
        assert_eq!(got, ["b", "c", "a"]);
        let got: Vec<&Bytes> = z.range_by_score(&range, true).map(|(m, _)| m).collect();
        assert_eq!(got, ["a", "c", "b"]);
    }

    #[test]
    fn score_text_round_trips() {
        for s in [
            0.1,
            -0.0,
            0.0,
            1e300,
            -1e-300,
            5e-324,
            1.0 / 3.0,
            123456789.0,
            f64::MAX,
        ] {
            let t = score_text(s);
            let back: f64 = t.parse().unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{t}");
        }
        assert_eq!(score_text(f64::INFINITY), "inf");
        assert_eq!(score_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(score_text(-0.0), "-0");
    }
}
