//! Replies and their encoding in RESP2 and RESP3.
//!
//! Handlers build a `Reply` in the richest type Redis 7 uses (maps, sets, doubles, nulls);
//! the encoder lowers it for RESP2 clients the way Redis does: maps become flat arrays,
//! sets arrays, doubles bulk strings, booleans integers, and the RESP3 null becomes
//! `$-1` or `*-1` depending on what the command would have returned.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(Str),
    /// `-ERR ...`; the text includes the error code.
    Error(Str),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    /// A double already printed (GEO's coordinates, as Redis prints a long double):
    /// `,text` in RESP3, a bulk string in RESP2.
    DoubleText(Bytes),
    Bool(bool),
    /// Verbatim text (`=` in RESP3, `txt:` format); a bulk string in RESP2.
    Verbatim(Bytes),
    /// Out-of-band data (`>` in RESP3); an array in RESP2.
    Push(Vec<Reply>),
    /// Nothing is written (SHUTDOWN closes the connection instead of answering).
    NoReply,
    /// Several replies to one command, one after the other (SUBSCRIBE answers once
    /// per channel).
    Many(Vec<Reply>),
}

/// Static text where possible, owned where the text is built.
pub type Str = std::borrow::Cow<'static, str>;

impl Reply {
    pub const OK: Reply = Reply::Simple(Str::Borrowed("OK"));

    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Str::Borrowed(s))
    }

    /// An error reply; `msg` starts with its code (`ERR`, `WRONGTYPE`, ...).
    pub fn error(msg: impl Into<Str>) -> Reply {
        Reply::Error(msg.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn opt_bulk(b: Option<Bytes>) -> Reply {
        b.map_or(Reply::Null, Reply::Bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form of this reply for protocol version `proto` (2 or 3).
    pub fn encode(&self, proto: u8, out: &mut BytesMut) {
        let resp3 = proto >= 3;
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Integer(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Null if resp3 => out.put_slice(b"_\r\n"),
            Reply::Null => out.put_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::NullArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, proto),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::DoubleText(text) if resp3 => line(out, b',', text),
            Reply::DoubleText(text) => bulk(out, text),
            Reply::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Bool(b) => int_line(out, b':', *b as i64),
            Reply::Verbatim(text) if resp3 => {
                int_line(out, b'=', text.len() as i64 + 4);
                out.put_slice(b"txt:");
                out.put_slice(text);
                out.put_slice(b"\r\n");
            }
            Reply::Verbatim(text) => bulk(out, text),
            Reply::NoReply => {}
            Reply::Many(replies) => {
                for reply in replies {
                    reply.encode(proto, out);
                }
            }
        }
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Integer(n)
    }
}

impl From<Bytes> for Reply {
    fn from(b: Bytes) -> Reply {
        Reply::Bulk(b)
    }
}

fn aggregate(out: &mut BytesMut, tag: u8, items: &[Reply], proto: u8) {
    int_line(out, tag, items.len() as i64);
    for item in items {
        item.encode(proto, out);
    }
}

fn line(out: &mut BytesMut, tag: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(tag);
    // A status or error line cannot carry CR or LF; Redis replaces them with spaces.
    if text.iter().any(|&c| c == b'\r' || c == b'\n') {
        out.extend(
            text.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, tag: u8, n: i64) {
    // Built on the stack and appended at once: one capacity check and one copy (three
    // appends cost more than the formatting).
    out.extend_from_slice(Digits::line(tag, n).as_bytes());
}

/// Appends a bulk string's wire form (the same in RESP2 and RESP3): for replies written
/// straight from the keyspace into a connection's output (see `cmd::Direct`).
pub fn bulk(out: &mut BytesMut, b: &[u8]) {
    out.reserve(b.len() + 16);
    int_line(out, b'$', b.len() as i64);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

/// The decimal digits of an integer in a stack buffer, for lengths and counts written
/// on hot paths (replies, log records) without `format!`'s allocation.
pub struct Digits {
    buf: [u8; 24],
    start: usize,
    end: usize,
}

impl Digits {
    pub fn of(n: i64) -> Digits {
        Digits::build(None, n)
    }

    /// `tag`, the digits and CRLF: an integer reply or a length line.
    pub fn line(tag: u8, n: i64) -> Digits {
        Digits::build(Some(tag), n)
    }

    /// Written right to left, the digits ending before the CRLF's place.
    fn build(tag: Option<u8>, n: i64) -> Digits {
        let mut buf = [0u8; 24];
        let mut i = buf.len() - 2;
        let mut v = n.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if n < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        let mut end = buf.len() - 2;
        if let Some(tag) = tag {
            i -= 1;
            buf[i] = tag;
            buf[end..].copy_from_slice(b"\r\n");
            end = buf.len();
        }
        Digits { buf, start: i, end }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// Formats a double as Redis 7.0 does in replies (`addReplyDouble`): `inf`, `-inf`,
/// `nan`, otherwise C's `%.17g` (17 significant digits, trailing zeros dropped,
/// exponent form below 1e-4 and from 1e17): `0.10000000000000001`, `3`, `-0`,
/// `1.0000000000000001e+300`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's exponent form rounds exactly, as glibc's printf does.
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..17).contains(&exp) {
        let mantissa = trim_fraction(mantissa);
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{esign}{:02}", exp.abs());
    }
    let fixed = if exp >= 0 {
        let split = exp as usize + 1;
        format!("{}.{}", &digits[..split], &digits[split..])
    } else {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    };
    format!("{sign}{}", trim_fraction(&fixed))
}

/// Drops trailing zeros after a decimal point, and the point if nothing follows it.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply, proto: u8) -> String {
        let mut out = BytesMut::new();
        r.encode(proto, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn digits_and_integer_lines_at_the_extremes() {
        for n in [0, 7, -7, 1024, i64::MAX, i64::MIN] {
            assert_eq!(Digits::of(n).as_bytes(), n.to_string().as_bytes());
            assert_eq!(
                Digits::line(b':', n).as_bytes(),
                format!(":{n}\r\n").as_bytes()
            );
        }
    }

    #[test]
    fn resp2_lowers_resp3_types() {
        let map = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Integer(1))]);
        assert_eq!(wire(&map, 2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(wire(&map, 3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(wire(&Reply::Null, 2), "$-1\r\n");
        assert_eq!(wire(&Reply::NullArray, 2), "*-1\r\n");
        assert_eq!(wire(&Reply::Null, 3), "_\r\n");
        assert_eq!(wire(&Reply::Double(1.5), 2), "$3\r\n1.5\r\n");
        assert_eq!(wire(&Reply::Double(1.5), 3), ",1.5\r\n");
        assert_eq!(wire(&Reply::Bool(true), 2), ":1\r\n");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(1e300), "1.0000000000000001e+300");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(
            format_double(123456789012345678.0),
            "1.2345678901234568e+17"
        );
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(
            wire(&Reply::Integer(i64::MIN), 2),
            ":-9223372036854775808\r\n"
        );
    }

    #[test]
    fn status_lines_cannot_break_framing() {
        assert_eq!(wire(&Reply::error("ERR a\r\nb"), 2), "-ERR a  b\r\n");
    }
}
