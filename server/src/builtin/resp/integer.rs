//! Integers, and sizes with units, as Redis reads them from clients.

/// A Redis integer, as Redis's `string2ll` reads one: `0`, or an optional `-` then a digit 1-9 and more
/// digits, fitting i64. No `+`, spaces, leading zeros or `-0`: `INCR` on "007" is an error in Redis too.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) || digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is i64::MIN; anything larger in magnitude does not fit.
        (v <= 1 << 63).then(|| 0u64.wrapping_sub(v) as i64)
    } else {
        i64::try_from(v).ok()
    }
}

/// A size as Redis's `memtoull` reads one: digits and an optional unit, `k`/`m`/`g` (powers of 1000) or
/// `kb`/`mb`/`gb` (powers of 1024), `b`, any case.
pub fn memory(text: &[u8]) -> Option<usize> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let number: usize = std::str::from_utf8(&text[..digits]).ok()?.parse().ok()?;
    let unit = String::from_utf8_lossy(&text[digits..]).to_ascii_lowercase();
    let multiplier: usize = match unit.as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, value) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("42", Some(42)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("18446744073709551616", None),
            ("007", None),
            ("00", None),
            ("-0", None),
            ("-", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1.0", None),
            ("", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), value, "{text:?}");
        }
    }

    #[test]
    fn memory_values_read_as_redis_reads_them() {
        assert_eq!(memory(b"100"), Some(100));
        assert_eq!(memory(b"1k"), Some(1000));
        assert_eq!(memory(b"1KB"), Some(1024));
        assert_eq!(memory(b"2mb"), Some(2 << 20));
        assert_eq!(memory(b"1g"), Some(1_000_000_000));
        assert_eq!(memory(b"1gb"), Some(1 << 30));
        for bad in [&b""[..], b"-1", b"1x", b"mb", b"1.5mb"] {
            assert_eq!(memory(bad), None, "{bad:?}");
        }
    }
}
