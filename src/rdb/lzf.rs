//! LZF, the compression Redis applies to strings in RDB files (`rdbcompression`):
//! liblzf's format, which Redis reads and writes.
//!
//! A block is a sequence of runs: a control byte below 32 is a literal run of that
//! many plus one bytes; otherwise its top three bits are a match length (7: one more
//! length byte follows) and its low five bits with the next byte a distance back into
//! what was already produced.

/// Expands `input` into exactly `expected` bytes; `None` if it is not a valid block of
/// that length.
pub fn decompress(input: &[u8], expected: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = input.get(i..i + run)?;
            if out.len() + run > expected {
                return None;
            }
            out.extend_from_slice(literal);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if back > out.len() || out.len() + len > expected {
                return None;
            }
            let from = out.len() - back;
            for k in 0..len {
                let b = out[from + k];
                out.push(b);
            }
        }
    }
    (out.len() == expected).then_some(out)
}

const HASH_BITS: u32 = 14;
const MAX_LITERAL: usize = 32;
const MAX_OFFSET: usize = 1 << 13;
const MAX_MATCH: usize = (1 << 8) + (1 << 3);

/// Compresses `input`; `None` unless the result is shorter than `input` minus four
/// bytes (what Redis asks before it stores a string compressed).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() <= 4 {
        return None;
    }
    let limit = input.len() - 4;
    let mut out: Vec<u8> = Vec::with_capacity(limit);
    let mut table = vec![0usize; 1 << HASH_BITS];
    let mut literal_start = 0;
    let mut i = 0;
    let hash = |at: usize| -> usize {
        let v = (input[at] as u32) << 16 | (input[at + 1] as u32) << 8 | input[at + 2] as u32;
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        for run in input[from..to].chunks(MAX_LITERAL) {
            out.push((run.len() - 1) as u8);
            out.extend_from_slice(run);
        }
    };
    while i + 2 < input.len() {
        let h = hash(i);
        let candidate = table[h];
        table[h] = i + 1;
        if candidate > 0 {
            let reference = candidate - 1;
            let back = i - reference;
            if back <= MAX_OFFSET && input[reference..reference + 3] == input[i..i + 3] {
                let max = (input.len() - i).min(MAX_MATCH);
                let mut len = 3;
                while len < max && input[reference + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, literal_start, i);
                let (code_len, back) = (len - 2, back - 1);
                if code_len < 7 {
                    out.push(((code_len << 5) | (back >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (back >> 8)) as u8);
                    out.push((code_len - 7) as u8);
                }
                out.push((back & 0xff) as u8);
                i += len;
                literal_start = i;
                if out.len() >= limit {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, literal_start, input.len());
    (out.len() < limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_does_not_shrink() {
        let texts: [&[u8]; 4] = [
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b"session:1234567890 session:1234567890 session:1234567890 user=alice",
            &[7u8; 100_000],
            b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc",
        ];
        for text in texts {
            let packed = compress(text).expect("compressible");
            assert!(packed.len() < text.len() - 4);
            assert_eq!(decompress(&packed, text.len()).as_deref(), Some(text));
        }
        assert_eq!(compress(b"abcdefgh"), None);
        // A distance reaching before the start, and a wrong length, are refused.
        assert_eq!(decompress(&[0x20, 0x05], 3), None);
        assert_eq!(decompress(&[0x01, b'a', b'b'], 3), None);
    }
}
