//! What a file's response says about it — type, validators, dates — and which part of it a request
//! selects (conditional requests, a single byte range). Pure: the file's metadata and the request in, a
//! [`Selection`] out.

use super::super::http::Request;

/// What the service knows of an opened file (from `fstat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub mode: u32,
}

impl Meta {
    /// A strong validator: the same file content keeps inode, size and modification time.
    pub fn etag(&self) -> String {
        let nanos = (self.mtime as i128) * 1_000_000_000 + self.mtime_nsec as i128;
        format!("\"{:x}-{:x}-{:x}\"", self.ino, self.size, nanos)
    }
}

/// The part of the file a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// 304: the client's copy is current.
    NotModified,
    /// 200: all of it.
    Whole,
    /// 206: bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// 416: the range starts past the end.
    Unsatisfiable,
}

/// Chooses the response to `request` for a file with `meta` (whose ETag is `etag`).
///
/// `If-None-Match` (weak comparison, `*` matches) decides alone when present; otherwise `If-Modified-Since`
/// (an IMF-fixdate) gives 304 when the file is not newer. A `Range` is honoured on GET only, one range of
/// `bytes=` only (several are answered with the whole file), and only when an `If-Range` is absent or
/// names this ETag or date; a malformed one is ignored, as RFC 9110 says.
pub fn select(request: &Request<'_>, meta: &Meta, etag: &str) -> Selection {
    if let Some(tags) = request.header("if-none-match") {
        let opaque = etag.trim_start_matches("W/");
        if tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == opaque)
        {
            return Selection::NotModified;
        }
    } else if let Some(since) = request
        .header("if-modified-since")
        .and_then(parse_http_date)
    {
        if meta.mtime <= since {
            return Selection::NotModified;
        }
    }
    if request.method != "GET" {
        return Selection::Whole;
    }
    let Some(range) = request.header("range") else {
        return Selection::Whole;
    };
    if let Some(validator) = request.header("if-range") {
        let same = validator == etag || parse_http_date(validator) == Some(meta.mtime);
        if !same {
            return Selection::Whole;
        }
    }
    byte_range(range, meta.size).unwrap_or(Selection::Whole)
}

/// One `bytes=` range against a file of `size` bytes; `None` when the header is not one valid range.
fn byte_range(header: &str, size: u64) -> Option<Selection> {
    let (unit, spec) = header.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // More digits than fit: as far past the end as any range gets.
        Some(s.parse().unwrap_or(u64::MAX))
    };
    let selection = match (first.is_empty(), last.is_empty()) {
        (true, false) => {
            let suffix = number(last)?;
            if suffix == 0 || size == 0 {
                Selection::Unsatisfiable
            } else {
                Selection::Part {
                    start: size - suffix.min(size),
                    end: size - 1,
                }
            }
        }
        (false, _) => {
            let start = number(first)?;
            let end = if last.is_empty() {
                u64::MAX
            } else {
                number(last)?
            };
            if end < start {
                return None;
            }
            if start >= size {
                Selection::Unsatisfiable
            } else {
                Selection::Part {
                    start,
                    end: end.min(size - 1),
                }
            }
        }
        (true, true) => return None,
    };
    Some(selection)
}

/// The `Content-Type` of a file, by its name's extension; `application/octet-stream` for the rest.
pub fn content_type(name: &[u8]) -> &'static str {
    let extension = name
        .rsplit(|&b| b == b'.')
        .next()
        .filter(|e| e.len() < name.len())
        .unwrap_or(b"");
    const TYPES: [(&[u8], &str); 13] = [
        (b"html", "text/html; charset=utf-8"),
        (b"htm", "text/html; charset=utf-8"),
        (b"css", "text/css; charset=utf-8"),
        (b"js", "text/javascript; charset=utf-8"),
        (b"json", "application/json"),
        (b"txt", "text/plain; charset=utf-8"),
        (b"svg", "image/svg+xml"),
        (b"png", "image/png"),
        (b"jpg", "image/jpeg"),
        (b"gif", "image/gif"),
        (b"webp", "image/webp"),
        (b"wasm", "application/wasm"),
        (b"pdf", "application/pdf"),
    ];
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(extension))
        .map_or("application/octet-stream", |(_, t)| t)
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// An IMF-fixdate as seconds since the Unix epoch (the obsolete forms are not read: the condition is then
/// ignored, which only costs a full response).
pub fn parse_http_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().split(' ');
    let (_weekday, day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || zone != "GMT" || day.len() != 2 || time.len() != 8 {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::super::super::http::parse_head;
    use super::*;

    const META: Meta = Meta {
        size: 1000,
        dev: 1,
        ino: 7,
        mtime: 784_111_777,
        mtime_nsec: 5,
        ctime: 784_111_777,
        ctime_nsec: 5,
        mode: 0o100644,
    };

    fn pick(headers: &str) -> Selection {
        let head = format!("GET /f HTTP/1.1\r\n{headers}\r\n");
        let request = parse_head(head.as_bytes(), 64).unwrap();
        select(&request, &META, &META.etag())
    }

    #[test]
    fn dates_round_trip_in_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn validators_give_304() {
        let tag = META.etag();
        assert_eq!(tag, "\"7-3e8-ae1b981bc490a05\"");
        assert_eq!(
            pick(&format!("If-None-Match: \"x\", {tag}\r\n")),
            Selection::NotModified
        );
        assert_eq!(pick("If-None-Match: *\r\n"), Selection::NotModified);
        assert_eq!(pick("If-None-Match: \"other\"\r\n"), Selection::Whole);
        assert_eq!(
            pick("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            Selection::NotModified
        );
        assert_eq!(
            pick("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"),
            Selection::Whole
        );
        // If-None-Match decides alone when present.
        assert_eq!(
            pick(
                "If-None-Match: \"other\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            ),
            Selection::Whole
        );
    }

    #[test]
    fn single_byte_ranges() {
        let part = |start, end| Selection::Part { start, end };
        assert_eq!(pick("Range: bytes=0-99\r\n"), part(0, 99));
        assert_eq!(pick("Range: bytes=990-2000\r\n"), part(990, 999));
        assert_eq!(pick("Range: bytes=-10\r\n"), part(990, 999));
        assert_eq!(pick("Range: bytes=-5000\r\n"), part(0, 999));
        assert_eq!(pick("Range: bytes=500-\r\n"), part(500, 999));
        assert_eq!(pick("Range: bytes=1000-\r\n"), Selection::Unsatisfiable);
        assert_eq!(pick("Range: bytes=-0\r\n"), Selection::Unsatisfiable);
        assert_eq!(pick("Range: bytes=0-1,5-6\r\n"), Selection::Whole);
        assert_eq!(pick("Range: bytes=9-1\r\n"), Selection::Whole);
        assert_eq!(pick("Range: items=0-1\r\n"), Selection::Whole);
        assert_eq!(
            pick("Range: bytes=99999999999999999999999-\r\n"),
            Selection::Unsatisfiable
        );
        assert_eq!(
            pick("Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n"),
            Selection::Whole
        );
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type(b"a/index.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"x.wasm"), "application/wasm");
        assert_eq!(content_type(b"noext"), "application/octet-stream");
        assert_eq!(content_type(b"archive.tar.gz"), "application/octet-stream");
    }
}
