//! SCAN's cursor and options, shared by every iteration over a keyspace part (and by HSCAN, SSCAN and ZSCAN
//! over a collection, when those exist): a pure selection of the next window of items by hash.
//!
//! Redis walks its dict's buckets in reverse-binary order so that a cursor survives the table growing. A
//! hashbrown table moves keys between buckets when it grows or rehashes in place, so its bucket order
//! cannot carry a cursor. Here a part's keys are ordered by their hash instead, which never changes while
//! the key exists: the cursor is (part, position) where position is the top 56 bits of the hash, and a step
//! returns the keys whose position lies in `[position, next)`. Whatever the table does between two steps, a
//! key present from the first step to the last lies in exactly one window and is returned (keys that come
//! and go meanwhile may or may not be). A step is one pass over the part under its lock (1/256 of the keys:
//! 4,000 keys at a million, about 40 µs), sized to return about COUNT keys.

use super::integer::parse_i64;

/// Distinct positions within a part: a hash's top 56 bits (the cursor's low 8 bits name the part).
pub const POSITIONS: u64 = 1 << 56;

/// COUNT is a hint, capped here so that one step's work and reply stay small whatever a client asks.
pub const MAX_COUNT: usize = 10_000;

/// The position of an item whose hash is `hash`.
pub fn position(hash: u64) -> u64 {
    hash >> 8
}

/// Where a scan stands: a keyspace part and a position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub part: usize,
    pub position: u64,
}

impl Cursor {
    /// Any 64-bit value is a cursor: the low 8 bits name the part, the rest a position. 0 starts (and ends)
    /// a scan.
    pub fn decode(cursor: u64) -> Cursor {
        Cursor {
            part: (cursor & 0xff) as usize,
            position: cursor >> 8,
        }
    }

    pub fn encode(self) -> u64 {
        self.position << 8 | self.part as u64
    }
}

/// Reads a cursor as Redis's `strtoul` does: decimal, an optional sign (`-1` wraps to the largest value),
/// nothing else; the empty string is 0.
pub fn parse_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return text.is_empty().then_some(0);
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// SCAN's options after the cursor: MATCH pattern, COUNT n, TYPE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    pub count: usize,
    /// `None` also for `*`, which matches everything.
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

const SYNTAX: &[u8] = b"ERR syntax error";
const NOT_AN_INTEGER: &[u8] = b"ERR value is not an integer or out of range";

impl<'a> Options<'a> {
    /// Parses the options as Redis 7.0's `scanGenericCommand` does; `with_type` only for SCAN itself.
    pub fn parse(args: &[&'a [u8]], with_type: bool) -> Result<Options<'a>, &'static [u8]> {
        let mut options = Options {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut i = 0;
        while i < args.len() {
            let (option, value) = (args[i], args.get(i + 1));
            match value {
                Some(value) if option.eq_ignore_ascii_case(b"COUNT") => {
                    let count = parse_i64(value).ok_or(NOT_AN_INTEGER)?;
                    if count < 1 {
                        return Err(SYNTAX);
                    }
                    options.count = usize::try_from(count).unwrap_or(MAX_COUNT).min(MAX_COUNT);
                }
                Some(value) if option.eq_ignore_ascii_case(b"MATCH") => {
                    options.pattern = (*value != b"*").then_some(*value);
                }
                Some(value) if with_type && option.eq_ignore_ascii_case(b"TYPE") => {
                    options.type_name = Some(*value);
                }
                _ => return Err(SYNTAX),
            }
            i += 2;
        }
        Ok(options)
    }
}

/// The next window of `items` (each with its [`position`]) from `from`: sized so that about `target` of the
/// `len` items fall in it, and cut at twice that when the hash spread is unlucky. Returns the items in the
/// window, in no order, and where the next window starts (`None`: this was the last one).
pub fn window<T>(
    items: impl Iterator<Item = (u64, T)>,
    len: usize,
    from: u64,
    target: usize,
) -> (Vec<(u64, T)>, Option<u64>) {
    let target = target.max(1);
    let width = if target >= len {
        POSITIONS
    } else {
        ((u128::from(POSITIONS) * target as u128 / len as u128) as u64).max(1)
    };
    let mut end = from.saturating_add(width).min(POSITIONS);
    let mut chosen: Vec<(u64, T)> = items.filter(|(p, _)| *p >= from && *p < end).collect();
    let cap = target * 2 + 8;
    if chosen.len() > cap {
        chosen.sort_unstable_by_key(|(p, _)| *p);
        let cut = chosen[cap].0;
        if cut > from {
            end = cut;
            chosen.retain(|(p, _)| *p < end);
        }
    }
    (chosen, (end < POSITIONS).then_some(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_parse_as_strtoul() {
        for cursor in [0, 1, 255, 256, u64::MAX, 0x1234_5678_9abc_def0] {
            assert_eq!(Cursor::decode(cursor).encode(), cursor);
        }
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"007"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        for bad in [&b"x"[..], b" 1", b"1 ", b"+", b"1.0"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn options_are_judged_as_redis_judges_them() {
        let parse = |args: &[&'static [u8]]| Options::parse(args, true);
        assert_eq!(parse(&[b"COUNT", b"0"]), Err(SYNTAX));
        assert_eq!(parse(&[b"COUNT", b"x"]), Err(NOT_AN_INTEGER));
        assert_eq!(parse(&[b"COUNT"]), Err(SYNTAX));
        assert_eq!(parse(&[b"FOO", b"1"]), Err(SYNTAX));
        assert_eq!(parse(&[b"count", b"99999999"]).unwrap().count, MAX_COUNT);
        let o = parse(&[b"MATCH", b"k*", b"TYPE", b"string"]).unwrap();
        assert_eq!(
            (o.pattern, o.type_name),
            (Some(&b"k*"[..]), Some(&b"string"[..]))
        );
        assert_eq!(parse(&[b"MATCH", b"*"]).unwrap().pattern, None);
        assert_eq!(Options::parse(&[b"TYPE", b"string"], false), Err(SYNTAX));
    }

    /// Positions spread like hashes.
    fn spread(n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| position(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect()
    }

    #[test]
    fn windows_cover_every_item_once_whatever_the_target() {
        let items = spread(5000);
        for target in [1, 10, 333, 10_000] {
            let mut seen = Vec::new();
            let mut from = Some(0);
            let mut steps = 0;
            while let Some(start) = from {
                let (chosen, next) =
                    window(items.iter().map(|&p| (p, p)), items.len(), start, target);
                assert!(chosen.len() <= target * 2 + 8);
                seen.extend(chosen.into_iter().map(|(p, _)| p));
                from = next;
                steps += 1;
                assert!(steps < 100_000);
            }
            seen.sort_unstable();
            let mut all = items.clone();
            all.sort_unstable();
            assert_eq!(seen, all, "target {target}");
        }
    }
}
