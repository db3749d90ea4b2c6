//! Durations as people write them: `10s`, `1.5s`, `500ms`, `2m`, `250us`, or a bare number of seconds.
//! Every pincore tool reads durations here (command-line flags, deploy manifests), so a value accepted by one
//! is accepted by all of them.

use std::time::Duration;

/// The longest duration accepted: anything longer is a typo, not a timeout.
pub const MAX: Duration = Duration::from_secs(86_400);

/// Parses a number (fractions allowed) followed by a unit: `ns`, `us` (or `µs`), `ms`, `s`, `m` (or
/// `min`); a bare number is seconds. The error says what is wrong and how to write it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration: write it like 1.5s, 250ms, 2m or 100us")
    })?;
    let seconds = match unit.trim_start() {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        other => {
            return Err(format!(
                "`{text}` is not a duration: unknown unit `{other}` (use ns, us, ms, s or m)"
            ))
        }
    };
    if !seconds.is_finite() || seconds > MAX.as_secs_f64() {
        return Err(format!("`{text}` is longer than a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Writes a duration so that [`parse_duration`] reads it back exactly: whole seconds as `30s`, whole
/// milliseconds as `1500ms`, anything finer in microseconds or nanoseconds.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos % 1_000_000_000 == 0 {
        format!("{}s", d.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else if nanos % 1_000 == 0 {
        format!("{}us", d.as_micros())
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fractions() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1min"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("100µs"), Ok(Duration::from_micros(100)));
        assert_eq!(parse_duration("40ns"), Ok(Duration::from_nanos(40)));
        assert_eq!(parse_duration(" 12 "), Ok(Duration::from_secs(12)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn bad_text_says_how_to_write_it() {
        assert!(parse_duration("10h")
            .unwrap_err()
            .contains("unknown unit `h`"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("").unwrap_err().contains("not a duration"));
        assert!(parse_duration("1.2.3s")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("99999m")
            .unwrap_err()
            .contains("longer than a day"));
    }

    #[test]
    fn formatting_reads_back() {
        for d in [
            Duration::from_secs(30),
            Duration::from_millis(1500),
            Duration::from_micros(2500),
            Duration::from_nanos(7),
            Duration::ZERO,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
    }
}
