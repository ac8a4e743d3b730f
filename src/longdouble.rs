//! Redis's INCRBYFLOAT arithmetic: long double addition and "%.17Lf" formatting, done by
//! `longdouble.c` so results match Redis on the same platform digit for digit.

use bytes::Bytes;

extern "C" {
    fn roost_long_double_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        outlen: usize,
    ) -> std::os::raw::c_long;
    fn roost_timeout_ms(s: *const u8, len: usize, out: *mut i64) -> std::os::raw::c_int;
}

/// A blocking command's timeout argument (seconds) in milliseconds, as Redis 7.0 reads
/// it (long double, rounded up; out of range is `i64::MIN`); None if not a float.
pub fn timeout_ms(arg: &[u8]) -> Option<i64> {
    let mut out = 0i64;
    // SAFETY: the pointer and length describe a live slice; `out` is a valid i64.
    let ok = unsafe { roost_timeout_ms(arg.as_ptr(), arg.len(), &mut out) };
    (ok != 0).then_some(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum FloatAddError {
    /// The current value is not a float.
    BadValue,
    /// The increment is not a float.
    BadIncrement,
    /// "increment would produce NaN or Infinity"
    NanOrInfinity,
}

/// `value + incr` as Redis computes and prints it. Both operands are texts as stored or
/// as sent (`"10.5"`, `"5.0e3"`).
pub fn add(value: &[u8], incr: &[u8]) -> Result<Bytes, FloatAddError> {
    let mut out = vec![0u8; 5 * 1024 + 32];
    // SAFETY: the pointers and lengths describe live slices; the C side writes at most
    // `out.len()` bytes, including its terminating NUL.
    let n = unsafe {
        roost_long_double_add(
            value.as_ptr(),
            value.len(),
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    match n {
        -1 => Err(FloatAddError::BadValue),
        -2 => Err(FloatAddError::BadIncrement),
        n if n < 0 => Err(FloatAddError::NanOrInfinity),
        n => {
            out.truncate(n as usize);
            Ok(Bytes::from(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_examples() {
        assert_eq!(add(b"10.50", b"0.1").unwrap(), "10.6");
        assert_eq!(add(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(add(b"5.0e3", b"2.0e2").unwrap(), "5200");
        assert_eq!(add(b"3", b"-3").unwrap(), "0");
        assert_eq!(add(b"abc", b"1"), Err(FloatAddError::BadValue));
        assert_eq!(add(b"1", b" 1"), Err(FloatAddError::BadIncrement));
        assert_eq!(add(b"1", b"nan"), Err(FloatAddError::BadIncrement));
        assert_eq!(add(b"1", b"inf"), Err(FloatAddError::NanOrInfinity));
    }
}
