//! Parsing arguments the way Redis does, with its error replies.

use bytes::Bytes;

use super::error;
use crate::protocol::decode::parse_i64;
use crate::protocol::Reply;

/// An integer argument, or `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or(error::NOT_INTEGER)
}

/// A float argument as Redis's `getDoubleFromObject` accepts it (`strtod`: decimal,
/// exponent, `inf`, no surrounding space, not NaN), or `ERR value is not a valid float`.
pub fn float(arg: &[u8]) -> Result<f64, Reply> {
    parse_f64(arg).ok_or(error::NOT_FLOAT)
}

pub fn parse_f64(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty()
        || s.starts_with(|c: char| c.is_whitespace())
        || s.ends_with(|c: char| c.is_whitespace())
    {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        body if body.starts_with("nan") || body.starts_with("0x") => return None,
        _ => s.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Case-insensitive comparison of an argument with an option word (`EX`, `NX`, ...).
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Text of an argument for messages.
pub fn text(arg: &Bytes) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// The `[COUNT n]` that may end LMPOP, ZMPOP and their blocking forms (1 when absent).
pub fn mpop_count(rest: &[Bytes]) -> Result<usize, Reply> {
    match rest {
        [] => Ok(1),
        [word, n] if is(word, "count") => match parse_i64(n) {
            Some(n) if n >= 1 => Ok(n as usize),
            _ => Err(error::COUNT_NOT_POSITIVE),
        },
        _ => Err(error::SYNTAX),
    }
}
