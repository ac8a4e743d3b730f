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
    use super::matches;

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
}
