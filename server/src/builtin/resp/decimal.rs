//! Exact sums of decimal numbers for INCRBYFLOAT and HINCRBYFLOAT.
//!
//! Redis adds in C's `long double` (64 significant bits) and writes the result with 17 decimals (`%.17Lf`,
//! trailing zeros dropped), so a value written by one INCRBYFLOAT reads back with 17 decimals, and adding
//! its opposite comes back to 0. f64 keeps only 15-16 significant digits, so `x + y + -y` may show its
//! rounding noise where Redis shows none. When both numbers are plain decimals (`-12.5`, `1.5e3`) that fit
//! 38 digits at a common scale, their sum here is exact as an `i128` count of 10^-scale units, rounded once
//! to 17 decimals (half to even, as `printf` rounds) — what Redis's wider type gives for every such input.
//! Anything else (more digits, `inf`, exponents past the scale) is left to the f64 path.

/// The largest number of decimals a sum is carried with before rounding to 17.
const MAX_SCALE: u32 = 30;
/// The decimals Redis writes.
const SHOWN: u32 = 17;

/// A decimal number: `units × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fixed {
    units: i128,
    scale: u32,
}

/// Reads `[+-]digits[.digits][(e|E)[+-]digits]`; `None` for anything else or past what an i128 holds.
fn parse(text: &[u8]) -> Option<Fixed> {
    let text = std::str::from_utf8(text).ok()?;
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, mantissa) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut units: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        units = units
            .checked_mul(10)?
            .checked_add(i128::from(digit - b'0'))?;
    }
    let mut scale = i64::try_from(fraction.len()).ok()? - i64::from(exponent);
    if units == 0 {
        scale = scale.clamp(0, i64::from(MAX_SCALE));
    }
    // An i128 holds 38 digits: a larger power of ten overflows below, a bound keeps the loop short.
    if scale < -38 {
        return None;
    }
    while scale < 0 {
        units = units.checked_mul(10)?;
        scale += 1;
    }
    let scale = u32::try_from(scale).ok().filter(|s| *s <= MAX_SCALE)?;
    Some(Fixed {
        units: if negative { -units } else { units },
        scale,
    })
}

impl Fixed {
    fn at_scale(self, scale: u32) -> Option<i128> {
        self.units
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }
}

/// `a + b` written as Redis writes INCRBYFLOAT's result, when both are plain decimals whose exact sum fits;
/// `None` to leave the sum to f64.
pub fn sum(a: &[u8], b: &[u8]) -> Option<String> {
    let (a, b) = (parse(a)?, parse(b)?);
    let scale = a.scale.max(b.scale);
    let mut units = a.at_scale(scale)?.checked_add(b.at_scale(scale)?)?;
    let mut scale = scale;
    if scale > SHOWN {
        let divisor = 10i128.pow(scale - SHOWN);
        let (quotient, remainder) = (units / divisor, units % divisor);
        // Half to even, on the magnitude.
        let twice = remainder.abs() * 2;
        let up = twice > divisor || (twice == divisor && quotient % 2 != 0);
        units = if up {
            quotient + units.signum()
        } else {
            quotient
        };
        scale = SHOWN;
    }
    Some(write(units, scale))
}

/// `units × 10^-scale` in fixed point, trailing zeros and a bare point dropped, never `-0`.
fn write(units: i128, scale: u32) -> String {
    let digits = units.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let fraction = fraction.trim_end_matches('0');
    let sign = if units < 0 { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_and_written_as_redis_writes_them() {
        for (a, b, expected) in [
            ("0.024390243902439025", "-0.024390243902439025", "0"),
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("17179869184", "1.5", "17179869185.5"),
            ("1", "-1.1", "-0.1"),
            ("1.5e3", "0", "1500"),
            ("5.", "1", "6"),
            ("-.5", "0", "-0.5"),
            ("0.000000000000000005", "0", "0"),
            ("0.000000000000000015", "0", "0.00000000000000002"),
            ("-0.000000000000000001", "0", "0"),
            ("3", "4", "7"),
            ("0e2000000000", "2", "2"),
        ] {
            assert_eq!(
                sum(a.as_bytes(), b.as_bytes()).as_deref(),
                Some(expected),
                "{a} + {b}"
            );
        }
    }

    #[test]
    fn what_is_not_a_plain_decimal_is_left_to_f64() {
        for (a, b) in [
            ("inf", "1"),
            ("1e400", "1"),
            ("1", "1e-40"),
            ("123456789012345678901234567890123456789012", "1"),
            ("", "1"),
            ("1 ", "1"),
            ("0x10", "1"),
            ("1e-2000000000", "1"),
            ("1e2000000000", "1"),
            (".", "1"),
        ] {
            assert_eq!(sum(a.as_bytes(), b.as_bytes()), None, "{a} + {b}");
        }
    }
}
