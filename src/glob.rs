//! Glob-style pattern matching with Redis's rules (`KEYS`, `SCAN MATCH`, `CONFIG GET`,
//! `PSUBSCRIBE`): `*`, `?`, `[abc]`, `[^a-z]`, and `\` escaping the next character.
//!
//! Iterative with single-star backtracking, so a hostile pattern costs at most
//! O(pattern × subject) time and no stack.

/// True if `subject` matches `pattern`; `nocase` folds ASCII case.
pub fn matches(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where to resume after the last `*`: pattern index after it, subject index it covers to.
    let mut backtrack: Option<(usize, usize)> = None;
    while s < subject.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p < pattern.len() && pattern[p] == b'*' {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    backtrack = Some((p, s));
                    continue;
                }
                _ => {
                    if let Some(len) = match_one(&pattern[p..], subject[s], nocase) {
                        p += len;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        match backtrack {
            Some((bp, bs)) => {
                p = bp;
                s = bs + 1;
                backtrack = Some((bp, bs + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A pattern matched many times (an ACL user's key patterns, checked on every request):
/// the common shapes, a literal and a literal followed by `*`, are recognised once and
/// matched with one comparison instead of the general matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    shape: Shape,
    /// The literal (`Exact`, `Prefix`) or the whole pattern (`Glob`).
    literal: Vec<u8>,
    /// A prefix of at most eight bytes (`session:`), kept as a word and a mask too:
    /// compared with one load where the subject is that long.
    short_prefix: bool,
    word: u64,
    mask: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Exact,
    /// The literal followed by `*`.
    Prefix,
    Glob,
}

impl Compiled {
    /// Case-sensitive matching of `pattern`.
    pub fn new(pattern: &[u8]) -> Compiled {
        let is_special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let literal_len = pattern.iter().position(is_special).unwrap_or(pattern.len());
        let (literal, rest) = pattern.split_at(literal_len);
        let (shape, literal) = if rest.is_empty() {
            (Shape::Exact, literal)
        } else if rest.iter().all(|&c| c == b'*') {
            (Shape::Prefix, literal)
        } else {
            (Shape::Glob, pattern)
        };
        let mut head = [0u8; 8];
        let n = literal.len().min(8);
        head[..n].copy_from_slice(&literal[..n]);
        Compiled {
            shape,
            short_prefix: shape == Shape::Prefix && literal.len() <= 8,
            literal: literal.to_vec(),
            word: u64::from_le_bytes(head),
            mask: u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0),
        }
    }

    #[inline(always)]
    pub fn matches(&self, subject: &[u8]) -> bool {
        if self.short_prefix {
            if let Some(head) = subject.first_chunk::<8>() {
                return (u64::from_le_bytes(*head) ^ self.word) & self.mask == 0;
            }
        }
        match self.shape {
            Shape::Prefix => subject.starts_with(&self.literal),
            Shape::Exact => subject == self.literal.as_slice(),
            Shape::Glob => matches(&self.literal, subject, false),
        }
    }
}

/// Matches one subject byte against the pattern element at the start of `pattern`;
/// returns the element's length in the pattern, or `None` if it does not match.
fn match_one(pattern: &[u8], c: u8, nocase: bool) -> Option<usize> {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    match pattern[0] {
        b'?' => Some(1),
        b'\\' if pattern.len() >= 2 => eq(pattern[1], c).then_some(2),
        b'[' => {
            let mut i = 1;
            let negate = pattern.get(i) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut hit = false;
            loop {
                match pattern.get(i) {
                    // An unterminated class ends at the end of the pattern, as in Redis.
                    None => {
                        i -= 1;
                        break;
                    }
                    Some(b']') => break,
                    Some(b'\\') if i + 1 < pattern.len() => {
                        hit |= eq(pattern[i + 1], c);
                        i += 2;
                    }
                    Some(&lo) if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() => {
                        let hi = pattern[i + 2];
                        let (lo, hi) = if lo > hi { (hi, lo) } else { (lo, hi) };
                        let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
                        hit |= (lo..=hi).contains(&c)
                            || (nocase && (fold(lo)..=fold(hi)).contains(&fold(c)));
                        i += 3;
                    }
                    Some(&x) => {
                        hit |= eq(x, c);
                        i += 1;
                    }
                }
            }
            (hit != negate).then_some(i + 1)
        }
        x => eq(x, c).then_some(1),
    }
}

#[cfg(test)]
mod tests {
    use super::{matches, Compiled, Shape};

    #[test]
    fn redis_glob_rules() {
        let m = |p: &str, s: &str| matches(p.as_bytes(), s.as_bytes(), false);
        assert!(m("*", ""));
        assert!(m("sess:*", "sess:abc"));
        assert!(!m("sess:*", "ses:abc"));
        assert!(m("h?llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*d", "xxaxxbxxcxx"));
        assert!(matches(b"ABC*", b"abcd", true));
        let hostile = "a*".repeat(50) + "b";
        assert!(!m(&hostile, &"a".repeat(200)));
    }

    #[test]
    fn compiled_patterns_match_as_the_general_matcher_does() {
        let patterns = [
            "",
            "*",
            "**",
            "sess:*",
            "sess:**",
            "sess:",
            "sess",
            "s?ss:*",
            "sess:*x",
            "a\\*",
            "[ab]*",
            "*:x",
            "a*b",
            "session:*",
            "sessions*",
            "session:user:*",
            "1234567*",
        ];
        // Around eight bytes, where a short prefix is compared as a word.
        let subjects = [
            "",
            "sess",
            "sess:",
            "sess:abc",
            "sess:x",
            "a*",
            "a",
            "b:x",
            "ab",
            "session:",
            "session:1",
            "session",
            "sessionX",
            "sessions:1",
            "session:user:1",
            "session:usex:1",
            "1234567",
            "12345678",
            "1234568",
            "sess:abcdefgh",
            "Sess:abcdefgh",
        ];
        for pattern in patterns {
            let compiled = Compiled::new(pattern.as_bytes());
            for subject in subjects {
                assert_eq!(
                    compiled.matches(subject.as_bytes()),
                    matches(pattern.as_bytes(), subject.as_bytes(), false),
                    "{pattern:?} against {subject:?}"
                );
            }
        }
        let prefix = Compiled::new(b"sess:*");
        assert_eq!(
            (prefix.shape, prefix.literal.as_slice()),
            (Shape::Prefix, &b"sess:"[..])
        );
        assert_eq!(Compiled::new(b"sess").shape, Shape::Exact);
        assert_eq!(Compiled::new(b"s?ss:*").shape, Shape::Glob);
    }
}
