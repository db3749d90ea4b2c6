//! Redis's glob-style patterns (`stringmatchlen` in Redis's `util.c`), byte for byte: `*`, `?`, `[abc]`,
//! `[^abc]`, `[a-z]` and `\` escapes, case-sensitive. PSUBSCRIBE and PUBSUB CHANNELS match with it.
//! Like Redis 7.2 (and unlike 7.0, whose recursion a long enough pattern could use to exhaust the stack),
//! a pattern nesting more than [`MAX_NESTING`] `*`s matches nothing.

/// The `*`s a match may nest: each is one level of recursion on the shard's stack.
pub const MAX_NESTING: usize = 1000;

/// Whether `string` matches `pattern`, as Redis 7.0 decides it.
pub fn matches(pattern: &[u8], string: &[u8]) -> bool {
    let mut give_up = false;
    match_from(pattern, string, &mut give_up, 0)
}

/// One step of the match. `give_up` is Redis's `skipLongerMatches`: once the rest of the pattern after a `*`
/// matched nowhere in the rest of the string, no earlier `*` can make it match, which keeps patterns such as
/// `a*a*a*a*b` linear instead of exponential.
fn match_from(pattern: &[u8], string: &[u8], give_up: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    // Redis reads one byte past the end (its strings end with a zero byte); `at` does the same safely.
    let at = |p: usize| pattern.get(p).copied().unwrap_or(0);
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < string.len() {
        match pattern[p] {
            b'*' => {
                while p < pattern.len() && at(p + 1) == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < string.len() {
                    if match_from(&pattern[p + 1..], &string[s..], give_up, nesting + 1) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                    s += 1;
                }
                *give_up = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = at(p) == b'^';
                if negate {
                    p += 1;
                }
                let c = string[s];
                let mut found = false;
                loop {
                    if at(p) == b'\\' && pattern.len() - p >= 2 {
                        p += 1;
                        if pattern[p] == c {
                            found = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if p >= pattern.len() {
                        // An unterminated class: step back so that the step below ends the pattern.
                        p -= 1;
                        break;
                    } else if pattern.len() - p >= 3 && pattern[p + 1] == b'-' {
                        let (mut start, mut end) = (pattern[p], pattern[p + 2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        if (start..=end).contains(&c) {
                            found = true;
                        }
                    } else if pattern[p] == c {
                        found = true;
                    }
                    p += 1;
                }
                if found == negate {
                    return false;
                }
                s += 1;
            }
            first => {
                let mut literal = first;
                if first == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    literal = pattern[p];
                }
                if literal != string[s] {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            while at(p) == b'*' {
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
    fn redis_glob_rules() {
        let cases: &[(&str, &str, bool)] = &[
            // Redis 7.0 never matches an empty string against a non-empty pattern, even `*`.
            ("*", "", false),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("a*", "abc", true),
            ("a*", "ba", false),
            ("*c", "abc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("news.*", "news.tech", true),
            ("news.*", "news", false),
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
            ("a[bc", "ab", true),
            ("a[bc", "ac", true),
            (
                "a*a*a*a*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("*a", "Ba", true),
            ("A*", "abc", false),
            ("ab*", "ab", true),
            ("ab**", "ab", true),
            ("\\", "\\", true),
        ];
        for (pattern, string, want) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), string.as_bytes()),
                *want,
                "{pattern:?} against {string:?}"
            );
        }
    }

    #[test]
    fn deep_patterns_match_nothing_instead_of_exhausting_the_stack() {
        let pattern = "*a".repeat(200_000);
        let string = "a".repeat(200_000);
        assert!(!matches(pattern.as_bytes(), string.as_bytes()));
        let shallow = "*a".repeat(MAX_NESTING);
        assert!(matches(shallow.as_bytes(), string.as_bytes()));
    }
}
