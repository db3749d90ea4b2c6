//! How deep YAML text nests, found by one cheap pass before a YAML parser sees it.
//!
//! 100 000 nested `[` took the YAML parsers over 20 s to reject (their recursion limit bites only after
//! the scanner has gone through every level). No pincore file needs more than a handful of levels, so
//! profiles, server configs and deploy manifests are refused past [`MAX_DEPTH`] at once, with the line and
//! column where the limit was crossed.

/// Deepest nesting accepted: flow collections (`[`, `{`), block indentation and `- ` entries together.
pub const MAX_DEPTH: usize = 64;

/// Where the text first nests deeper than [`MAX_DEPTH`] (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nested more than {MAX_DEPTH} levels deep: no pincore file needs that many, so flatten the structure"
        )
    }
}

/// Checks that `text` nests at most [`MAX_DEPTH`] levels. Linear in the text's length.
///
/// It over-approximates nothing a parser would accept as shallow: quoted scalars and comments are skipped,
/// a quote counts as one only where a scalar can start, and every other bracket counts. Block scalars
/// (`|`, `>`) count as one more indentation level at most.
pub fn check(text: &str) -> Result<(), TooDeep> {
    let mut flow = 0usize;
    // Indentation of each open block level.
    let mut indents: Vec<usize> = Vec::new();
    let mut quote: Option<u8> = None;
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        if quote.is_none() && flow == 0 {
            let indent = bytes.iter().take_while(|&&b| b == b' ').count();
            let rest = &bytes[indent..];
            if rest.is_empty() || rest[0] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // `- - - x` opens a level per dash.
            i = indent;
            while bytes.get(i) == Some(&b'-') && matches!(bytes.get(i + 1), Some(b' ') | None) {
                indents.push(i + 1);
                i += 2;
            }
        }
        let mut previous = b' ';
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) => {
                    if b == q {
                        quote = None;
                    } else if b == b'\\' && q == b'"' {
                        i += 1;
                    }
                }
                None => match b {
                    b'#' if previous == b' ' || previous == b'\t' => break,
                    b'"' | b'\''
                        if matches!(previous, b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'-') =>
                    {
                        quote = Some(b)
                    }
                    b'[' | b'{' => flow += 1,
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            if indents.len() + flow > MAX_DEPTH {
                return Err(TooDeep {
                    line: n + 1,
                    column: i + 1,
                });
            }
            previous = b;
            i += 1;
        }
        if indents.len() + flow > MAX_DEPTH {
            return Err(TooDeep {
                line: n + 1,
                column: bytes.len().max(1),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_files_pass() {
        let text = "\
name: edge # a comment with [ brackets {
include: [connections, 'a [ quoted', \"b { too\"]
sysctl:
  net.core.somaxconn:
    value: 65535
    why: it's fine [ unbalanced in a plain scalar is still counted once
  list:
    - - - x
      - y
  text: |
    [[[[ inside a block scalar: one line, counted but shallow
";
        assert_eq!(check(text), Ok(()));
        assert_eq!(check(""), Ok(()));
    }

    #[test]
    fn deep_flow_nesting_is_refused_where_it_crosses_the_limit_and_fast() {
        let text = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let start = std::time::Instant::now();
        assert_eq!(
            check(&text),
            Err(TooDeep {
                line: 1,
                column: 4 + MAX_DEPTH - 1
            })
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let shallow = format!(
            "a: {}{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(check(&shallow), Ok(()));
    }

    #[test]
    fn deep_block_nesting_and_dash_chains_are_refused() {
        let block: String = (0..100)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(check(&block).unwrap_err().line, MAX_DEPTH + 1);
        let dashes = format!("{}x\n", "- ".repeat(100));
        assert_eq!(check(&dashes).unwrap_err().line, 1);
    }
}
