//! CRLF-terminated header lines: the integers after `*`, `$` and `:`.
//!
//! Integers follow Redis's `string2ll`: an optional `-`, then `0` or digits without a leading zero, within
//! `i64`. Anything else is rejected as soon as the offending byte arrives, so a garbage or endless header
//! never makes the caller wait for (or buffer) more input.

use std::ops::Range;

use crate::error::ProtocolError;

/// The header line is not a valid integer followed by CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidInteger;

/// Reads the integer line starting at `start` (just after the type byte).
///
/// `Ok(None)`: the line is a valid prefix so far but incomplete. `Ok(Some((value, next)))`: `next` is the
/// position just after the CRLF.
#[inline]
pub(crate) fn integer(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, InvalidInteger> {
    // Fast path for what real peers send: a complete line of 1 to 18 digits without a leading zero, which
    // cannot overflow. Anything else (signs, zero, incomplete or invalid lines) takes the checked loop.
    let rest = buf.get(start..).unwrap_or_default();
    if let [first @ b'1'..=b'9', ..] = rest {
        let mut value = u64::from(first - b'0');
        let mut len = 1;
        while let Some(&digit @ b'0'..=b'9') = rest.get(len) {
            if len == 18 {
                break;
            }
            value = value * 10 + u64::from(digit - b'0');
            len += 1;
        }
        if rest.get(len..len + 2) == Some(b"\r\n") {
            // Cannot truncate: 18 digits are below i64::MAX.
            return Ok(Some((value as i64, start + len + 2)));
        }
    }
    checked_integer(buf, start)
}

/// [`integer`] for every line, byte by byte with overflow checks.
fn checked_integer(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, InvalidInteger> {
    let mut pos = start;
    let negative = match buf.get(pos) {
        None => return Ok(None),
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(_) => false,
    };
    let digits_start = pos;
    let mut leading_zero = false;
    // Accumulated with the sign applied at each step so that i64::MIN parses without overflow.
    let mut value: i64 = 0;
    loop {
        match buf.get(pos) {
            None => return Ok(None),
            Some(&b) if b.is_ascii_digit() => {
                if leading_zero {
                    return Err(InvalidInteger);
                }
                if pos == digits_start && b == b'0' {
                    leading_zero = true;
                }
                let digit = i64::from(b - b'0');
                value = value
                    .checked_mul(10)
                    .and_then(|v| {
                        if negative {
                            v.checked_sub(digit)
                        } else {
                            v.checked_add(digit)
                        }
                    })
                    .ok_or(InvalidInteger)?;
                pos += 1;
            }
            Some(b'\r') => {
                if pos == digits_start || (negative && leading_zero) {
                    return Err(InvalidInteger);
                }
                return match buf.get(pos + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((value, pos + 2))),
                    Some(_) => Err(InvalidInteger),
                };
            }
            Some(_) => return Err(InvalidInteger),
        }
    }
}

/// Checks the bulk data of `len` bytes starting at `data_start` and the CRLF after it; returns the data's
/// range. `len` must already be within the caller's limit.
///
/// The CRLF is checked byte by byte as it arrives: a lone `\r` at the end of `buf` may still be followed by
/// `\n`; anything else there means the header's length was wrong.
pub(crate) fn bulk_data(
    buf: &[u8],
    data_start: usize,
    len: usize,
) -> Result<Option<Range<usize>>, ProtocolError> {
    // Overflow needs a limit near usize::MAX; such data could never be in memory, so it is incomplete.
    let Some(data_end) = data_start.checked_add(len) else {
        return Ok(None);
    };
    match buf.get(data_end..).unwrap_or_default() {
        [b'\r', b'\n', ..] => Ok(Some(data_start..data_end)),
        [] | [b'\r'] => Ok(None),
        _ => Err(ProtocolError::MissingCrlf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Option<(i64, usize)>, InvalidInteger> {
        integer(s, 0)
    }

    #[test]
    fn valid_integers() {
        assert_eq!(parse(b"0\r\n"), Ok(Some((0, 3))));
        assert_eq!(parse(b"42\r\nrest"), Ok(Some((42, 4))));
        assert_eq!(parse(b"-1\r\n"), Ok(Some((-1, 4))));
        assert_eq!(parse(b"9223372036854775807\r\n"), Ok(Some((i64::MAX, 21))));
        assert_eq!(parse(b"-9223372036854775808\r\n"), Ok(Some((i64::MIN, 22))));
    }

    #[test]
    fn the_fast_path_hands_long_and_incomplete_lines_to_the_checked_one() {
        assert_eq!(
            parse(b"123456789012345678\r\n"),
            Ok(Some((123456789012345678, 20)))
        );
        assert_eq!(
            parse(b"1234567890123456789\r\n"),
            Ok(Some((1234567890123456789, 21)))
        );
        assert_eq!(parse(b"12345678901234567890\r\n"), Err(InvalidInteger));
        assert_eq!(parse(b"123456789012345678"), Ok(None));
        assert_eq!(parse(b"12\rx"), Err(InvalidInteger));
    }

    #[test]
    fn incomplete_prefixes_wait() {
        for prefix in [&b""[..], b"-", b"4", b"42", b"42\r", b"-12\r"] {
            assert_eq!(parse(prefix), Ok(None), "{prefix:?}");
        }
    }

    #[test]
    fn garbage_is_rejected_at_the_first_bad_byte() {
        for bad in [
            &b"\r\n"[..],
            b"-\r\n",
            b"-0\r\n",
            b"01\r\n",
            b"00",
            b"+1\r\n",
            b" 1\r\n",
            b"1 ",
            b"1x",
            b"1\n",
            b"1\rx",
            b"--1",
            b"9223372036854775808\r\n",
            b"-9223372036854775809\r\n",
            b"99999999999999999999",
        ] {
            assert_eq!(parse(bad), Err(InvalidInteger), "{bad:?}");
        }
    }

    #[test]
    fn starts_at_the_given_offset() {
        assert_eq!(integer(b"*12\r\n", 1), Ok(Some((12, 5))));
    }

    #[test]
    fn bulk_data_needs_its_crlf() {
        assert_eq!(bulk_data(b"$2\r\nab\r\n", 4, 2), Ok(Some(4..6)));
        assert_eq!(bulk_data(b"$2\r\nab\r", 4, 2), Ok(None));
        assert_eq!(bulk_data(b"$2\r\nab", 4, 2), Ok(None));
        assert_eq!(bulk_data(b"$2\r\na", 4, 2), Ok(None));
        assert_eq!(
            bulk_data(b"$2\r\nabc", 4, 2),
            Err(ProtocolError::MissingCrlf)
        );
        assert_eq!(
            bulk_data(b"$2\r\nab\rc", 4, 2),
            Err(ProtocolError::MissingCrlf)
        );
        assert_eq!(bulk_data(b"$2\r\nab", 4, usize::MAX), Ok(None));
    }
}
