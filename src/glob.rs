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
pub enum Compiled {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Glob(Vec<u8>),
}

impl Compiled {
    /// Case-sensitive matching of `pattern`.
    pub fn new(pattern: &[u8]) -> Compiled {
        let is_special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let literal_len = pattern.iter().position(is_special).unwrap_or(pattern.len());
        let (literal, rest) = pattern.split_at(literal_len);
        if rest.is_empty() {
            Compiled::Exact(literal.to_vec())
        } else if rest.iter().all(|&c| c == b'*') {
            Compiled::Prefix(literal.to_vec())
        } else {
            Compiled::Glob(pattern.to_vec())
        }
    }

    #[inline]
    pub fn matches(&self, subject: &[u8]) -> bool {
        match self {
            Compiled::Exact(literal) => subject == literal.as_slice(),
            Compiled::Prefix(literal) => subject.starts_with(literal),
            Compiled::Glob(pattern) => matches(pattern, subject, false),
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
    use super::{matches, Compiled};

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
            "", "*", "**", "sess:*", "sess:**", "sess:", "sess", "s?ss:*", "sess:*x", "a\\*",
            "[ab]*", "*:x", "a*b",
        ];
        let subjects = [
            "", "sess", "sess:", "sess:abc", "sess:x", "a*", "a", "b:x", "ab",
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
        assert!(matches!(Compiled::new(b"sess:*"), Compiled::Prefix(p) if p == b"sess:"));
        assert!(matches!(Compiled::new(b"sess"), Compiled::Exact(_)));
        assert!(matches!(Compiled::new(b"s?ss:*"), Compiled::Glob(_)));
    }
}
