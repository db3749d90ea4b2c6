//! Inline commands: one line of arguments separated by whitespace, as typed into telnet.
//!
//! Lines end in `\r\n` or a bare `\n`. Arguments are separated by spaces, tabs (and the other ASCII
//! whitespace Redis's `sdssplitargs` accepts). An argument may be wholly wrapped in double or single quotes to
//! carry whitespace; its range is the text between the quotes. Because arguments are ranges of the input, the
//! quoting forms that would need the bytes rewritten are rejected with a clear error instead: backslash
//! escapes inside double quotes (`"a\x41"`) or `\'` inside single quotes ([`ProtocolError::InlineEscape`]),
//! and quotes starting in the middle of an argument (`a"b c"`, [`ProtocolError::InlineQuoteInArgument`]).
//! A backslash inside single quotes that is not followed by a quote is kept as is, as Redis does.

use std::ops::Range;

use crate::error::ProtocolError;
use crate::Limits;

/// Parses the inline line at the front of `buf`, whose first `scanned` bytes are known to hold no newline.
/// `Ok(None)` means no whole line yet, and then none of `buf` holds a newline: resume with `scanned =
/// buf.len()` once more bytes arrive.
pub(crate) fn parse(
    buf: &[u8],
    scanned: usize,
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Option<usize>, ProtocolError> {
    let too_long = ProtocolError::InlineTooLong {
        max: limits.max_inline_len,
    };
    // A line of at most max_inline_len bytes plus its line end: no need to look further for the newline.
    let window_end = buf.len().min(limits.max_inline_len.saturating_add(2));
    let newline = buf
        .get(scanned..window_end)
        .and_then(|unscanned| memchr::memchr(b'\n', unscanned))
        .map(|at| scanned + at);
    let Some(newline) = newline else {
        let waiting_for_lf =
            buf.len() == limits.max_inline_len.saturating_add(1) && buf.last() == Some(&b'\r');
        if buf.len() > limits.max_inline_len && !waiting_for_lf {
            return Err(too_long);
        }
        return Ok(None);
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    if line_end > limits.max_inline_len {
        return Err(too_long);
    }
    split(&buf[..line_end], args)?;
    if args.len() > limits.max_array_len {
        return Err(ProtocolError::ArrayTooLong {
            len: args.len() as u64,
            max: limits.max_array_len,
        });
    }
    Ok(Some(newline + 1))
}

/// The whitespace that separates inline arguments (C's `isspace`, as Redis uses).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// Splits one line (without its line end) into argument ranges.
fn split(line: &[u8], args: &mut Vec<Range<usize>>) -> Result<(), ProtocolError> {
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&b| is_space(b)) {
            pos += 1;
        }
        let Some(&first) = line.get(pos) else {
            return Ok(());
        };
        if first == b'"' || first == b'\'' {
            let start = pos + 1;
            let end = closing_quote(line, start, first)?;
            if line.get(end + 1).is_some_and(|&b| !is_space(b)) {
                return Err(ProtocolError::UnbalancedQuotes);
            }
            args.push(start..end);
            pos = end + 1;
        } else {
            let start = pos;
            while let Some(&b) = line.get(pos) {
                if is_space(b) {
                    break;
                }
                if b == b'"' || b == b'\'' {
                    return Err(ProtocolError::InlineQuoteInArgument);
                }
                pos += 1;
            }
            args.push(start..pos);
        }
    }
}

/// The position of the quote closing an argument opened by `quote` just before `start`.
fn closing_quote(line: &[u8], start: usize, quote: u8) -> Result<usize, ProtocolError> {
    let mut pos = start;
    while let Some(&b) = line.get(pos) {
        if b == quote {
            return Ok(pos);
        }
        if b == b'\\' && (quote == b'"' || line.get(pos + 1) == Some(&b'\'')) {
            return Err(ProtocolError::InlineEscape);
        }
        pos += 1;
    }
    Err(ProtocolError::UnbalancedQuotes)
}

#[cfg(test)]
mod tests {
    use crate::{parse_command, Limits, ProtocolError};

    fn limits() -> Limits {
        Limits {
            max_bulk_len: 8,
            max_array_len: 4,
            max_inline_len: 16,
        }
    }

    /// Bytes consumed and the arguments, or `None` while incomplete.
    type Parsed = Option<(usize, Vec<Vec<u8>>)>;

    fn parse(input: &[u8]) -> Result<Parsed, ProtocolError> {
        let mut args = Vec::new();
        Ok(parse_command(input, &limits(), &mut args)?.map(|consumed| {
            (
                consumed,
                args.iter().map(|r| input[r.clone()].to_vec()).collect(),
            )
        }))
    }

    fn args(input: &[u8]) -> Vec<Vec<u8>> {
        parse(input).unwrap().expect("a complete line").1
    }

    fn strings(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn crlf_and_bare_lf_line_ends() {
        assert_eq!(
            parse(b"GET k\r\n").unwrap(),
            Some((7, strings(&["GET", "k"])))
        );
        assert_eq!(
            parse(b"GET k\nPING\n").unwrap(),
            Some((6, strings(&["GET", "k"])))
        );
    }

    #[test]
    fn spaces_and_tabs_separate() {
        assert_eq!(args(b"  SET\tk \t v  \r\n"), strings(&["SET", "k", "v"]));
    }

    #[test]
    fn empty_and_blank_lines_are_consumed_with_no_arguments() {
        assert_eq!(parse(b"\r\n").unwrap(), Some((2, vec![])));
        assert_eq!(parse(b"\n").unwrap(), Some((1, vec![])));
        assert_eq!(parse(b" \t \r\n").unwrap(), Some((5, vec![])));
    }

    #[test]
    fn quoted_arguments_are_their_contents() {
        assert_eq!(
            args(b"SET \"a b\" 'c \"d'\r\n"),
            strings(&["SET", "a b", "c \"d"])
        );
        assert_eq!(args(b"ECHO \"\" ''\r\n"), strings(&["ECHO", "", ""]));
        assert_eq!(args(b"ECHO 'a\\b'\r\n"), strings(&["ECHO", "a\\b"]));
    }

    #[test]
    fn unbalanced_quotes() {
        assert_eq!(
            parse(b"SET \"a b\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(parse(b"SET 'a\r\n"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(
            parse(b"SET \"a\"b\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
    }

    #[test]
    fn escapes_and_mid_argument_quotes_are_rejected() {
        assert_eq!(
            parse(b"SET \"a\\nb\"\r\n"),
            Err(ProtocolError::InlineEscape)
        );
        assert_eq!(parse(b"SET 'it\\'s'\r\n"), Err(ProtocolError::InlineEscape));
        assert_eq!(
            parse(b"SET a\"b c\"\r\n"),
            Err(ProtocolError::InlineQuoteInArgument)
        );
        assert_eq!(
            parse(b"SET it's\r\n"),
            Err(ProtocolError::InlineQuoteInArgument)
        );
    }

    #[test]
    fn binary_bytes_pass_through() {
        assert_eq!(
            args(b"SET \0\xff \x01\r\n"),
            vec![b"SET".to_vec(), b"\0\xff".to_vec(), b"\x01".to_vec()]
        );
    }

    #[test]
    fn truncated_lines_are_incomplete() {
        let line = b"SET 'a b' c\r\n";
        for end in 0..line.len() {
            assert_eq!(parse(&line[..end]), Ok(None), "prefix of {end} bytes");
        }
    }

    #[test]
    fn inline_limit_at_and_past_the_bound() {
        let at = b"0123456789abcdef";
        assert_eq!(at.len(), 16);
        assert_eq!(parse(&[&at[..], b"\r\n"].concat()).unwrap().unwrap().0, 18);
        assert_eq!(parse(&[&at[..], b"\n"].concat()).unwrap().unwrap().0, 17);
        // At the bound and waiting for the line end.
        assert_eq!(parse(at), Ok(None));
        assert_eq!(parse(&[&at[..], b"\r"].concat()), Ok(None));
        // One past: rejected before any newline arrives.
        let past = b"0123456789abcdefg";
        assert_eq!(parse(past), Err(ProtocolError::InlineTooLong { max: 16 }));
        assert_eq!(
            parse(&[&past[..], b"\r\n"].concat()),
            Err(ProtocolError::InlineTooLong { max: 16 })
        );
        assert_eq!(
            parse(&[&at[..], b"x\n"].concat()),
            Err(ProtocolError::InlineTooLong { max: 16 })
        );
    }

    #[test]
    fn too_many_inline_arguments() {
        assert_eq!(parse(b"a b c d\r\n").unwrap().unwrap().1.len(), 4);
        assert_eq!(
            parse(b"a b c d e\r\n"),
            Err(ProtocolError::ArrayTooLong { len: 5, max: 4 })
        );
    }
}
