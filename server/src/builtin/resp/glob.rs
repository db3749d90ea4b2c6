//! Redis's glob patterns (`stringmatchlen` in Redis 7.0's util.c), for KEYS, SCAN's MATCH and CONFIG GET:
//! `*` any run of bytes, `?` any one byte, `[abc]`, `[^abc]`, `[a-z]` (ends in either order) and `\x` for a
//! literal `x`. Ported rule for rule, including how Redis reads a pattern that ends inside a class or on a
//! lone backslash, so a pattern matches here exactly what it matches in Redis. PSUBSCRIBE and PUBSUB
//! CHANNELS match with it too. Like Redis 7.2 (and unlike 7.0, whose recursion a long enough pattern could
//! use to exhaust the stack), a pattern nesting more than [`MAX_NESTING`] `*`s matches nothing.

/// The `*`s a match may nest: each is one level of recursion on the shard's stack.
pub const MAX_NESTING: usize = 1000;

/// Whether `string` matches `pattern`; `nocase` compares ASCII letters case-insensitively (CONFIG GET).
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    matches_from(pattern, string, nocase, &mut skip_longer, 0)
}

/// The byte at `i`, or 0 past the end (where Redis reads the string's terminating NUL).
fn at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// `skip_longer`: once the rest of the pattern after a `*` matched nowhere, no earlier `*` can help either
/// (Redis's `skipLongerMatches`), which keeps `a*a*a*...b` from taking exponential time.
fn matches_from(
    pattern: &[u8],
    string: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < string.len() {
                    if matches_from(
                        &pattern[p + 1..],
                        &string[s..],
                        nocase,
                        skip_longer,
                        nesting + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let not = at(pattern, p) == b'^';
                if not {
                    p += 1;
                }
                let c = string[s];
                let mut matched = false;
                loop {
                    let left = pattern.len().saturating_sub(p);
                    if at(pattern, p) == b'\\' && left >= 2 {
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if at(pattern, p) == b']' {
                        break;
                    } else if left == 0 {
                        // The class never closed: Redis steps back onto its last byte.
                        p -= 1;
                        break;
                    } else if left >= 3 && pattern[p + 1] == b'-' {
                        let (mut start, mut end) = (pattern[p], pattern[p + 2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let mut c = c;
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p += 2;
                        if (start..=end).contains(&c) {
                            matched = true;
                        }
                    } else if same(pattern[p], c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if matched == not {
                    return false;
                }
                s += 1;
            }
            other => {
                let literal = if other == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    other
                };
                if !same(literal, string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(pattern, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::{matches, MAX_NESTING};

    #[test]
    fn patterns_match_as_in_redis() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", false), // Redis: KEYS and SCAN treat a lone `*` as "everything" before matching
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "a", true),
            ("a*b", "axxb", true),
            ("a*b", "axxc", false),
            ("a**b*", "ab", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("[\\]]", "]", true),
            ("[abc", "c", true),
            ("[abc", "d", false),
            ("ab\\", "ab\\", true),
            ("key:*", "key:1", true),
            ("*:1", "key:1", true),
            ("?", "", false),
        ];
        for (pattern, string, expected) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), string.as_bytes(), false),
                *expected,
                "{pattern:?} on {string:?}"
            );
        }
        assert!(matches(b"MAXMEM*", b"maxmemory", true));
        assert!(!matches(b"MAXMEM*", b"maxmemory", false));
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        let pattern = "a*".repeat(30) + "b";
        let string = "a".repeat(60);
        let started = std::time::Instant::now();
        assert!(!matches(pattern.as_bytes(), string.as_bytes(), false));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn deep_patterns_match_nothing_instead_of_exhausting_the_stack() {
        let pattern = "*a".repeat(200_000);
        let string = "a".repeat(200_000);
        assert!(!matches(pattern.as_bytes(), string.as_bytes(), false));
        let shallow = "*a".repeat(MAX_NESTING);
        assert!(matches(shallow.as_bytes(), string.as_bytes(), false));
    }
}
