//! Resumable request decoder.
//!
//! Requests arrive as RESP arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or as
//! inline commands (`GET k\r\n`, what telnet and `redis-benchmark -t ping_inline` send).
//! Every complete argument is split off the read buffer as it arrives and the decoder
//! remembers where it is, so a 500 MB request arriving in a thousand reads is parsed once.
//! Lengths are checked against the limits before anything is reserved for them, and the
//! buffer never grows ahead of the bytes the peer has actually sent by more than one read.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, and longest `*N` / `$N` header line, Redis accepts (64 KB).
pub const INLINE_MAX: usize = 64 * 1024;
/// Before AUTH, Redis refuses arrays longer than this...
const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// ...and bulk strings longer than this.
const UNAUTH_MAX_BULK: i64 = 16 * 1024;
/// Upper bound on argument slots reserved on the strength of a `*N` header alone.
const MAX_PREALLOC_ARGS: usize = 1024;
/// A single bulk larger than this gets its buffer space reserved as it streams in.
const BIG_ARG: usize = 32 * 1024;

/// A request the decoder refuses; the text follows `ERR Protocol error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str, pub Option<char>);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(c) => write!(f, "Protocol error: {}'{}'", self.0, c),
            None => write!(f, "Protocol error: {}", self.0),
        }
    }
}

/// Limits that apply to the next request; `authenticated` is false until AUTH succeeds
/// on a server with a password.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk_len: i64,
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

#[derive(Debug, Default)]
pub struct Decoder {
    /// Arguments of the array request in progress, and how many are still to come.
    args: Vec<Bytes>,
    remaining: usize,
    /// Length of the bulk string whose header has been consumed but whose body has not.
    pending_bulk: Option<usize>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a request has started but not finished.
    pub fn in_progress(&self) -> bool {
        self.remaining > 0
    }

    /// Decodes the next complete request from `buf`, consuming its bytes. `Ok(None)` means
    /// more input is needed; everything consumed so far is remembered.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                if buf.is_empty() {
                    return Ok(None);
                }
                if buf[0] != b'*' {
                    match decode_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                    }
                }
                if let Some(args) = decode_whole(buf, limits) {
                    return Ok(Some(args));
                }
                let Some(count) = take_header(buf, "too big mbulk count string")? else {
                    return Ok(None);
                };
                let count = match count {
                    Some(n) if n <= i32::MAX as i64 => n,
                    _ => return Err(ProtocolError("invalid multibulk length", None)),
                };
                if !limits.authenticated && count > UNAUTH_MAX_MULTIBULK {
                    return Err(ProtocolError("unauthenticated multibulk length", None));
                }
                if count <= 0 {
                    continue;
                }
                self.remaining = count as usize;
                self.args = Vec::with_capacity(self.remaining.min(MAX_PREALLOC_ARGS));
            }
            while self.remaining > 0 {
                let len = match self.pending_bulk {
                    Some(len) => len,
                    None => {
                        if buf.is_empty() {
                            return Ok(None);
                        }
                        if buf[0] != b'$' {
                            return Err(ProtocolError("expected '$', got ", Some(buf[0] as char)));
                        }
                        let Some(len) = take_header(buf, "too big bulk count string")? else {
                            return Ok(None);
                        };
                        let len = match len {
                            Some(n) if (0..=limits.max_bulk_len).contains(&n) => n,
                            _ => return Err(ProtocolError("invalid bulk length", None)),
                        };
                        if !limits.authenticated && len > UNAUTH_MAX_BULK {
                            return Err(ProtocolError("unauthenticated bulk length", None));
                        }
                        let len = len as usize;
                        self.pending_bulk = Some(len);
                        len
                    }
                };
                if buf.len() < len + 2 {
                    if len >= BIG_ARG {
                        // Room for what is missing of this argument, but never more than
                        // one read's worth ahead of what has arrived.
                        let missing = len + 2 - buf.len();
                        buf.reserve(missing.min(buf.len().max(BIG_ARG)));
                    }
                    return Ok(None);
                }
                let arg = buf.split_to(len).freeze();
                buf.advance(2); // Redis does not check that the trailer is CRLF
                self.pending_bulk = None;
                self.args.push(arg);
                self.remaining -= 1;
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }
}

/// Most arguments a request may have for `decode_whole`.
const WHOLE_MAX_ARGS: usize = 16;

/// The common case in one pass: a well-formed array request of a few arguments that has
/// wholly arrived is split off the buffer once, its arguments sharing that one piece.
/// Anything else (incomplete, malformed, over a limit, many arguments) returns `None`
/// with nothing consumed, and the incremental path decodes it and words any error.
#[inline]
fn decode_whole(buf: &mut BytesMut, limits: Limits) -> Option<Vec<Bytes>> {
    let bytes = &buf[..];
    let (count, mut pos) = peek_header(bytes, 0)?;
    if count <= 0
        || count as usize > WHOLE_MAX_ARGS
        || (!limits.authenticated && count > UNAUTH_MAX_MULTIBULK)
    {
        return None;
    }
    let count = count as usize;
    let mut spans = [(0usize, 0usize); WHOLE_MAX_ARGS];
    for span in &mut spans[..count] {
        if bytes.get(pos) != Some(&b'$') {
            return None;
        }
        let (len, start) = peek_header(bytes, pos)?;
        if len < 0 || len > limits.max_bulk_len || (!limits.authenticated && len > UNAUTH_MAX_BULK)
        {
            return None;
        }
        let end = start + len as usize;
        if end + 2 > bytes.len() {
            return None;
        }
        *span = (start, end);
        pos = end + 2; // the trailer is not checked, as in Redis
    }
    let request = buf.split_to(pos).freeze();
    Some(
        spans[..count]
            .iter()
            .map(|&(start, end)| request.slice(start..end))
            .collect(),
    )
}

/// Reads the `*N\r\n` or `$N\r\n` line at `at` without consuming it: the number and
/// where the line ends. `None` when it is incomplete or not a valid number.
#[inline]
fn peek_header(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    // A valid number has at most 20 digits and a sign.
    let line = bytes.get(at + 1..)?;
    let cr = memchr(b'\r', &line[..line.len().min(22)])?;
    line.get(cr + 1)?;
    Some((parse_i64(&line[..cr])?, at + 1 + cr + 2))
}

/// Consumes a `*N\r\n` or `$N\r\n` line. `Ok(None)`: the line is incomplete.
/// `Ok(Some(None))`: the number does not parse.
fn take_header(
    buf: &mut BytesMut,
    too_big: &'static str,
) -> Result<Option<Option<i64>>, ProtocolError> {
    let Some(cr) = memchr(b'\r', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError(too_big, None));
        }
        return Ok(None);
    };
    if cr + 1 >= buf.len() {
        return Ok(None); // wait for the '\n'
    }
    if cr > INLINE_MAX {
        return Err(ProtocolError(too_big, None));
    }
    let n = parse_i64(&buf[1..cr]);
    buf.advance(cr + 2);
    Ok(Some(n))
}

fn decode_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError("too big inline request", None));
        }
        return Ok(None);
    };
    if nl > INLINE_MAX {
        return Err(ProtocolError("too big inline request", None));
    }
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    match split_args(line) {
        Some(args) => Ok(Some(args)),
        None => Err(ProtocolError("unbalanced quotes in request", None)),
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Parses a decimal integer the way Redis's `string2ll` does: no leading `+`, no
/// leading zeros, no spaces, fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits[0] == b'0' {
        return (digits.len() == 1 && !neg).then_some(0);
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Splits an inline command line into arguments with Redis's quoting rules
/// (`sdssplitargs`): double quotes with `\n \r \t \b \a \\ \" \xHH` escapes, single quotes
/// with `\'`, and a closing quote must be followed by a space or the end of the line.
/// Returns `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let c = *line.get(i)?;
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        current.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    current.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if i + 1 < line.len() && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else if in_single {
                let c = *line.get(i)?;
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    current.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if i + 1 < line.len() && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                current.push(c);
                i += 1;
            } else {
                match line.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(&c) => current.push(c),
                }
                i += 1;
            }
        }
        args.push(Bytes::from(current));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(req) = d.decode(&mut buf, Limits::default())? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn arrays_and_inline_mix() {
        let reqs = decode_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nSET a \"b c\"\n").unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(reqs[1], vec![Bytes::from("PING")]);
        assert_eq!(reqs[2][2], Bytes::from("b c"));
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$10\r\n0123456789\r\n";
        let mut d = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(req) = d.decode(&mut buf, Limits::default()).unwrap() {
                got = Some(req);
            }
        }
        assert_eq!(got.unwrap()[2], Bytes::from("0123456789"));
        assert!(buf.is_empty());
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |i: &[u8]| decode_all(i).unwrap_err().to_string();
        assert_eq!(err(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(err(b"*1\r\n$-3\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            err(b"SET \"a\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(&vec![b'a'; INLINE_MAX + 1]),
            "Protocol error: too big inline request"
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let mut d = Decoder::new();
        let limits = Limits {
            authenticated: false,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf, limits).unwrap_err().to_string(),
            "Protocol error: unauthenticated multibulk length"
        );
    }

    #[test]
    fn huge_declared_length_reserves_nothing_up_front() {
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\nabc"[..]);
        assert!(d.decode(&mut buf, Limits::default()).unwrap().is_none());
        assert!(buf.capacity() < 1024 * 1024);
    }

    #[test]
    fn parse_i64_follows_string2ll() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b""), None);
    }
}
