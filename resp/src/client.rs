//! Client side: commands out, replies in (load generators, tests).

use std::ops::Range;

use crate::error::ProtocolError;
use crate::{line, reply, Limits};

/// Deepest nesting of arrays that [`parse_reply`] accepts. Redis's own replies nest a few levels; the bound
/// keeps a hostile peer from building a tree whose recursive drop would overflow the stack.
pub const MAX_REPLY_DEPTH: usize = 128;

/// Appends `args` as a RESP array of bulk strings: the form every Redis server accepts, binary-safe.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    reply::array(out, args.len());
    for arg in args {
        reply::bulk(out, arg);
    }
}

/// One RESP2 or RESP3 reply, borrowing its strings from the receive buffer. RESP3 attributes (`|`) are
/// metadata about the reply that follows them: they are read past, and that reply is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK`: the text without the prefix and line end.
    Simple(&'a [u8]),
    /// `-ERR ...`: the text without the `-` and line end, starting with the error code word.
    Error(&'a [u8]),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: `None` for the null bulk string `$-1`.
    Bulk(Option<&'a [u8]>),
    /// `*2\r\n...`: `None` for the null array `*-1`.
    Array(Option<Vec<Reply<'a>>>),
    /// RESP3 `_`.
    Null,
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `,1.5`: the text (`inf`, `-inf` and `nan` included), checked to be a number.
    Double(&'a [u8]),
    /// RESP3 `(12345678901234567890`: the digits, with an optional leading `-`.
    BigNumber(&'a [u8]),
    /// RESP3 `=len\r\ntxt:...`: the three-letter format and the text.
    Verbatim { format: &'a [u8], text: &'a [u8] },
    /// RESP3 `!len\r\n...`: an error with binary-safe text.
    BlobError(&'a [u8]),
    /// RESP3 `%n`: key/value pairs in the order sent.
    Map(Vec<(Reply<'a>, Reply<'a>)>),
    /// RESP3 `~n`.
    Set(Vec<Reply<'a>>),
    /// RESP3 `>n`: an out-of-band message (pub/sub), not the answer to a command.
    Push(Vec<Reply<'a>>),
}

impl Reply<'_> {
    /// True for an error reply (not for an aggregate that contains one).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BlobError(_))
    }
}

/// Parses one complete reply from the front of `buf`: `Ok(Some((reply, consumed)))`, or `Ok(None)` when
/// more bytes are needed.
///
/// `limits` bound what a misbehaving server can make the client hold: bulk lengths, array lengths, and the
/// length of simple-string, error and integer lines (`max_inline_len`); arrays nest at most
/// [`MAX_REPLY_DEPTH`] deep. Each call starts again from the front of `buf`; a load generator that only needs
/// to count replies should use [`skip_reply`].
pub fn parse_reply<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Reply<'a>, usize)>, ProtocolError> {
    reply_at(buf, 0, limits, 0)
}

/// The length of one complete reply at the front of `buf`, and whether it is an error reply (at the top
/// level; errors inside arrays are not looked at), without building it. `Ok(None)` when more bytes are
/// needed.
///
/// Accepts exactly what [`parse_reply`] accepts, except that it does not limit nesting depth (it keeps no
/// per-level state, so depth costs it nothing).
pub fn skip_reply(buf: &[u8], limits: &Limits) -> Result<Option<(usize, bool)>, ProtocolError> {
    let mut pos = 0;
    // Attributes before the reply annotate it: read past them, so the error flag is the reply's own.
    loop {
        let Some((item, next)) = item_at(buf, pos, limits)? else {
            return Ok(None);
        };
        let (is_error, children) = match item {
            Item::Aggregate(Aggregate::Attribute, pairs) => {
                let Some(after) = skip_values(buf, next, limits, pairs.saturating_mul(2))? else {
                    return Ok(None);
                };
                pos = after;
                continue;
            }
            Item::Error(_) | Item::BlobError(_) => (true, 0),
            Item::Array(Some(len)) => (false, len),
            Item::Aggregate(kind, len) => (false, kind.values(len)),
            _ => (false, 0),
        };
        return Ok(skip_values(buf, next, limits, children)?.map(|end| (end, is_error)));
    }
}

/// The position after `count` values starting at `pos`, nested ones included; `Ok(None)` when more bytes are
/// needed.
fn skip_values(
    buf: &[u8],
    mut pos: usize,
    limits: &Limits,
    count: usize,
) -> Result<Option<usize>, ProtocolError> {
    // Values still to skip: `count`, plus the elements of every aggregate header met so far. Saturating is
    // harmless: every value takes at least three bytes, so a saturated count can never be satisfied by a
    // buffer in memory and the answer stays Ok(None).
    let mut pending = count;
    while pending > 0 {
        let Some((item, next)) = item_at(buf, pos, limits)? else {
            return Ok(None);
        };
        pending -= 1;
        pending = match item {
            // An attribute annotates the value after it: that value is still to come.
            Item::Aggregate(Aggregate::Attribute, pairs) => pending
                .saturating_add(pairs.saturating_mul(2))
                .saturating_add(1),
            Item::Aggregate(kind, len) => pending.saturating_add(kind.values(len)),
            Item::Array(Some(len)) => pending.saturating_add(len),
            _ => pending,
        };
        pos = next;
    }
    Ok(Some(pos))
}

/// The reply at `pos`, with aggregates nested `depth` levels around it.
fn reply_at<'a>(
    buf: &'a [u8],
    pos: usize,
    limits: &Limits,
    depth: usize,
) -> Result<Option<(Reply<'a>, usize)>, ProtocolError> {
    let Some((item, mut next)) = item_at(buf, pos, limits)? else {
        return Ok(None);
    };
    // The ranges below come from item_at, which checked them against buf: slicing cannot panic.
    let reply = match item {
        Item::Simple(text) => Reply::Simple(&buf[text]),
        Item::Error(text) => Reply::Error(&buf[text]),
        Item::Integer(n) => Reply::Integer(n),
        Item::Bulk(data) => Reply::Bulk(data.map(|data| &buf[data])),
        Item::Array(None) => Reply::Array(None),
        Item::Null => Reply::Null,
        Item::Boolean(b) => Reply::Boolean(b),
        Item::Double(text) => Reply::Double(&buf[text]),
        Item::BigNumber(text) => Reply::BigNumber(&buf[text]),
        Item::Verbatim(data) => Reply::Verbatim {
            format: &buf[data.start..data.start + 3],
            text: &buf[data.start + 4..data.end],
        },
        Item::BlobError(data) => Reply::BlobError(&buf[data]),
        Item::Array(Some(len)) => {
            let Some((elements, after)) = elements(buf, next, limits, depth, len)? else {
                return Ok(None);
            };
            next = after;
            Reply::Array(Some(elements))
        }
        Item::Aggregate(kind, len) => {
            let Some((values, after)) = elements(buf, next, limits, depth, kind.values(len))?
            else {
                return Ok(None);
            };
            next = after;
            let pairs = |values: Vec<Reply<'a>>| {
                let mut values = values.into_iter();
                std::iter::from_fn(move || Some((values.next()?, values.next()?))).collect()
            };
            match kind {
                Aggregate::Map => Reply::Map(pairs(values)),
                Aggregate::Set => Reply::Set(values),
                Aggregate::Push => Reply::Push(values),
                Aggregate::Attribute => {
                    drop(values);
                    // The annotated reply follows; the attribute itself is read past. One level deeper, so
                    // that a chain of attributes is bounded like nesting.
                    return reply_at(buf, next, limits, depth + 1);
                }
            }
        }
    };
    Ok(Some((reply, next)))
}

/// `count` values from `pos`, one level deeper than `depth`.
fn elements<'a>(
    buf: &'a [u8],
    mut pos: usize,
    limits: &Limits,
    depth: usize,
    count: usize,
) -> Result<Option<(Vec<Reply<'a>>, usize)>, ProtocolError> {
    if depth >= MAX_REPLY_DEPTH {
        return Err(ProtocolError::ReplyTooDeep {
            max: MAX_REPLY_DEPTH,
        });
    }
    // Reserve no more than the bytes present could hold (each value takes at least three), so a claimed
    // length alone cannot make the client allocate.
    let mut elements = Vec::with_capacity(count.min(buf.len().saturating_sub(pos) / 3));
    for _ in 0..count {
        let Some((element, after)) = reply_at(buf, pos, limits, depth + 1)? else {
            return Ok(None);
        };
        elements.push(element);
        pos = after;
    }
    Ok(Some((elements, pos)))
}

/// One value's own bytes: its header, and its data for strings; an aggregate's elements follow it.
enum Item {
    Simple(Range<usize>),
    Error(Range<usize>),
    Integer(i64),
    Bulk(Option<Range<usize>>),
    Array(Option<usize>),
    Null,
    Boolean(bool),
    Double(Range<usize>),
    BigNumber(Range<usize>),
    /// The whole data, `fmt:text`.
    Verbatim(Range<usize>),
    BlobError(Range<usize>),
    /// A RESP3 aggregate other than an array, and its length (pairs for maps and attributes).
    Aggregate(Aggregate, usize),
}

#[derive(Clone, Copy)]
enum Aggregate {
    Map,
    Set,
    Push,
    Attribute,
}

impl Aggregate {
    /// How many values follow a header of length `len`.
    fn values(self, len: usize) -> usize {
        match self {
            Aggregate::Map | Aggregate::Attribute => len.saturating_mul(2),
            Aggregate::Set | Aggregate::Push => len,
        }
    }
}

/// Reads the value starting at `pos` (not an array's elements); returns it and the position after it.
fn item_at(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<Option<(Item, usize)>, ProtocolError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let start = pos + 1;
    let item = match kind {
        b'+' | b'-' => {
            let Some((text, next)) = text_line(buf, start, limits)? else {
                return Ok(None);
            };
            let item = if kind == b'+' {
                Item::Simple(text)
            } else {
                Item::Error(text)
            };
            (item, next)
        }
        b':' => match line::integer(buf, start).map_err(|_| ProtocolError::InvalidInteger)? {
            None => return Ok(None),
            Some((n, next)) => (Item::Integer(n), next),
        },
        b'$' => match blob(buf, start, limits)? {
            None => return Ok(None),
            Some((None, next)) => (Item::Bulk(None), next),
            Some((Some(data), next)) => (Item::Bulk(Some(data)), next),
        },
        b'=' | b'!' => match blob(buf, start, limits)? {
            None => return Ok(None),
            Some((None, _)) => return Err(ProtocolError::InvalidBulkLength),
            Some((Some(data), next)) if kind == b'!' => (Item::BlobError(data), next),
            Some((Some(data), next)) => {
                if data.len() < 4 || buf[data.start + 3] != b':' {
                    return Err(ProtocolError::InvalidReplyValue {
                        what: "verbatim string",
                    });
                }
                (Item::Verbatim(data), next)
            }
        },
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let Some((len, next)) =
                line::integer(buf, start).map_err(|_| ProtocolError::InvalidArrayLength)?
            else {
                return Ok(None);
            };
            if len == -1 && kind == b'*' {
                return Ok(Some((Item::Array(None), next)));
            }
            if len < 0 {
                return Err(ProtocolError::InvalidArrayLength);
            }
            let len = len.unsigned_abs();
            if len > limits.max_array_len as u64 {
                return Err(ProtocolError::ArrayTooLong {
                    len,
                    max: limits.max_array_len,
                });
            }
            // Cannot truncate: len <= max_array_len, a usize.
            let len = len as usize;
            let item = match kind {
                b'*' => Item::Array(Some(len)),
                b'%' => Item::Aggregate(Aggregate::Map, len),
                b'~' => Item::Aggregate(Aggregate::Set, len),
                b'>' => Item::Aggregate(Aggregate::Push, len),
                _ => Item::Aggregate(Aggregate::Attribute, len),
            };
            (item, next)
        }
        b'_' => {
            let Some((text, next)) = text_line(buf, start, limits)? else {
                return Ok(None);
            };
            if !text.is_empty() {
                return Err(ProtocolError::InvalidReplyValue { what: "null" });
            }
            (Item::Null, next)
        }
        b'#' => {
            let Some((text, next)) = text_line(buf, start, limits)? else {
                return Ok(None);
            };
            let value = match &buf[text] {
                b"t" => true,
                b"f" => false,
                _ => return Err(ProtocolError::InvalidReplyValue { what: "boolean" }),
            };
            (Item::Boolean(value), next)
        }
        b',' => {
            let Some((text, next)) = text_line(buf, start, limits)? else {
                return Ok(None);
            };
            let valid = std::str::from_utf8(&buf[text.clone()])
                .is_ok_and(|t| matches!(t, "inf" | "-inf" | "nan") || t.parse::<f64>().is_ok());
            if !valid {
                return Err(ProtocolError::InvalidReplyValue { what: "double" });
            }
            (Item::Double(text), next)
        }
        b'(' => {
            let Some((text, next)) = text_line(buf, start, limits)? else {
                return Ok(None);
            };
            let digits = &buf[text.clone()];
            let digits = digits.strip_prefix(b"-").unwrap_or(digits);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(ProtocolError::InvalidReplyValue { what: "big number" });
            }
            (Item::BigNumber(text), next)
        }
        got => return Err(ProtocolError::InvalidReplyType { got }),
    };
    Ok(Some(item))
}

/// A length-prefixed string's data, `None` for the RESP2 null `$-1`, and the position after it.
type Blob = (Option<Range<usize>>, usize);

/// The length-prefixed string (`$`, `=`, `!`) whose length line starts at `start`; `Ok(None)` when more bytes
/// are needed.
fn blob(buf: &[u8], start: usize, limits: &Limits) -> Result<Option<Blob>, ProtocolError> {
    let Some((len, data_start)) =
        line::integer(buf, start).map_err(|_| ProtocolError::InvalidBulkLength)?
    else {
        return Ok(None);
    };
    match len {
        -1 => Ok(Some((None, data_start))),
        len if len < -1 => Err(ProtocolError::InvalidBulkLength),
        len => {
            let len = len.unsigned_abs();
            if len > limits.max_bulk_len as u64 {
                return Err(ProtocolError::BulkTooLong {
                    len,
                    max: limits.max_bulk_len,
                });
            }
            // Cannot truncate: len <= max_bulk_len, a usize.
            let Some(data) = line::bulk_data(buf, data_start, len as usize)? else {
                return Ok(None);
            };
            let next = data.end + 2;
            Ok(Some((Some(data), next)))
        }
    }
}

/// The text of a simple-string or error line starting at `start`, and the position after its CRLF.
fn text_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
) -> Result<Option<(Range<usize>, usize)>, ProtocolError> {
    let too_long = ProtocolError::ReplyLineTooLong {
        max: limits.max_inline_len,
    };
    // The text plus CRLF: no need to look further for the LF.
    let window_end = buf.len().min(
        start
            .saturating_add(limits.max_inline_len)
            .saturating_add(2),
    );
    let window = buf.get(start..window_end).unwrap_or_default();
    let Some(lf) = memchr::memchr(b'\n', window) else {
        let waiting_for_lf = window.len() == limits.max_inline_len.saturating_add(1)
            && window.last() == Some(&b'\r');
        if window.len() > limits.max_inline_len && !waiting_for_lf {
            return Err(too_long);
        }
        return Ok(None);
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ProtocolError::MissingCrlf);
    }
    let text_len = lf - 1;
    if text_len > limits.max_inline_len {
        return Err(too_long);
    }
    Ok(Some((start..start + text_len, start + lf + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_bulk_len: 8,
            max_array_len: 4,
            max_inline_len: 16,
        }
    }

    fn parse(input: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ProtocolError> {
        let parsed = parse_reply(input, &limits());
        let skipped = skip_reply(input, &limits());
        // The cheap variant must agree with the full parser on every input these tests use.
        match &parsed {
            Ok(Some((reply, len))) => assert_eq!(skipped, Ok(Some((*len, reply.is_error())))),
            Ok(None) => assert_eq!(skipped, Ok(None)),
            Err(e) => assert_eq!(skipped, Err(*e)),
        }
        parsed
    }

    fn whole(input: &[u8]) -> Reply<'_> {
        let (reply, len) = parse(input).unwrap().expect("a complete reply");
        assert_eq!(len, input.len());
        reply
    }

    #[test]
    fn each_reply_type() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Simple(b"OK"));
        assert_eq!(whole(b"+\r\n"), Reply::Simple(b""));
        assert_eq!(whole(b"-ERR no\r\n"), Reply::Error(b"ERR no"));
        assert_eq!(whole(b":-7\r\n"), Reply::Integer(-7));
        assert_eq!(whole(b"$3\r\na\nb\r\n"), Reply::Bulk(Some(b"a\nb")));
        assert_eq!(whole(b"$0\r\n\r\n"), Reply::Bulk(Some(b"")));
        assert_eq!(whole(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(whole(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(whole(b"*0\r\n"), Reply::Array(Some(vec![])));
    }

    #[test]
    fn resp3_types() {
        assert_eq!(whole(b"_\r\n"), Reply::Null);
        assert_eq!(whole(b"#t\r\n"), Reply::Boolean(true));
        assert_eq!(whole(b"#f\r\n"), Reply::Boolean(false));
        assert_eq!(whole(b",1.5\r\n"), Reply::Double(b"1.5"));
        assert_eq!(whole(b",-inf\r\n"), Reply::Double(b"-inf"));
        assert_eq!(whole(b",1e+10\r\n"), Reply::Double(b"1e+10"));
        assert_eq!(whole(b"(-123\r\n"), Reply::BigNumber(b"-123"));
        assert_eq!(
            whole(b"=7\r\ntxt:a\nb\r\n"),
            Reply::Verbatim {
                format: b"txt",
                text: b"a\nb"
            }
        );
        assert_eq!(whole(b"!3\r\nE x\r\n"), Reply::BlobError(b"E x"));
        assert!(whole(b"!3\r\nE x\r\n").is_error());
        assert_eq!(
            whole(b"%2\r\n+a\r\n:1\r\n+b\r\n_\r\n"),
            Reply::Map(vec![
                (Reply::Simple(b"a"), Reply::Integer(1)),
                (Reply::Simple(b"b"), Reply::Null)
            ])
        );
        assert_eq!(
            whole(b"~2\r\n:1\r\n:2\r\n"),
            Reply::Set(vec![Reply::Integer(1), Reply::Integer(2)])
        );
        assert_eq!(
            whole(b">2\r\n+message\r\n$1\r\nx\r\n"),
            Reply::Push(vec![Reply::Simple(b"message"), Reply::Bulk(Some(b"x"))])
        );
        // An attribute is read past: the reply is what follows it.
        assert_eq!(whole(b"|1\r\n+ttl\r\n:3\r\n:42\r\n"), Reply::Integer(42));
        assert_eq!(
            skip_reply(b"|1\r\n+k\r\n:3\r\n-ERR x\r\n", &limits()),
            Ok(Some((20, true)))
        );
    }

    #[test]
    fn malformed_resp3() {
        let bad = |what| Err(ProtocolError::InvalidReplyValue { what });
        assert_eq!(parse(b"#x\r\n"), bad("boolean"));
        assert_eq!(parse(b",1.5x\r\n"), bad("double"));
        assert_eq!(parse(b"(12a\r\n"), bad("big number"));
        assert_eq!(parse(b"(\r\n"), bad("big number"));
        assert_eq!(parse(b"_x\r\n"), bad("null"));
        assert_eq!(parse(b"=3\r\ntxt\r\n"), bad("verbatim string"));
        assert_eq!(parse(b"%-1\r\n"), Err(ProtocolError::InvalidArrayLength));
        assert_eq!(
            parse(b"%5\r\n"),
            Err(ProtocolError::ArrayTooLong { len: 5, max: 4 })
        );
        assert_eq!(
            parse(b"=9\r\n"),
            Err(ProtocolError::BulkTooLong { len: 9, max: 8 })
        );
    }

    #[test]
    fn every_truncation_of_resp3_is_incomplete() {
        let input = b"%2\r\n+a\r\n~1\r\n,2.5\r\n+b\r\n>2\r\n#t\r\n=5\r\ntxt:x\r\n";
        assert!(!whole(input).is_error());
        for end in 0..input.len() {
            assert_eq!(parse(&input[..end]), Ok(None), "prefix of {end} bytes");
        }
    }

    #[test]
    fn a_chain_of_attributes_is_bounded_like_nesting() {
        let chain = [b"|0\r\n".repeat(MAX_REPLY_DEPTH + 1), b":1\r\n".to_vec()].concat();
        assert_eq!(
            parse_reply(&chain, &limits()),
            Err(ProtocolError::ReplyTooDeep {
                max: MAX_REPLY_DEPTH
            })
        );
    }

    #[test]
    fn nested_arrays() {
        assert_eq!(
            whole(b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR x\r\n"),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Array(Some(vec![Reply::Bulk(Some(b"a")), Reply::Bulk(None)])),
                Reply::Error(b"ERR x"),
            ]))
        );
    }

    #[test]
    fn error_flag_is_for_the_top_level_only() {
        assert_eq!(skip_reply(b"-ERR x\r\n", &limits()), Ok(Some((8, true))));
        assert_eq!(
            skip_reply(b"*1\r\n-ERR x\r\n", &limits()),
            Ok(Some((12, false)))
        );
    }

    #[test]
    fn pipelined_replies_one_at_a_time() {
        let input = b"+OK\r\n$1\r\nv\r\n:3\r\n";
        assert_eq!(parse(input).unwrap(), Some((Reply::Simple(b"OK"), 5)));
        assert_eq!(
            parse(&input[5..]).unwrap(),
            Some((Reply::Bulk(Some(b"v")), 7))
        );
        assert_eq!(parse(&input[12..]).unwrap(), Some((Reply::Integer(3), 4)));
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let input = b"*3\r\n:12\r\n*2\r\n$2\r\n\r\n\r\n+OK\r\n-ERR e\r\n";
        for end in 0..input.len() {
            assert_eq!(parse(&input[..end]), Ok(None), "prefix of {end} bytes");
        }
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            parse(b"?\r\n"),
            Err(ProtocolError::InvalidReplyType { got: b'?' })
        );
        assert_eq!(parse(b":x\r\n"), Err(ProtocolError::InvalidInteger));
        assert_eq!(parse(b":1.5\r\n"), Err(ProtocolError::InvalidInteger));
        assert_eq!(parse(b"$-2\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse(b"$x"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse(b"*-2\r\n"), Err(ProtocolError::InvalidArrayLength));
        assert_eq!(parse(b"$1\r\nab\r\n"), Err(ProtocolError::MissingCrlf));
        assert_eq!(parse(b"+OK\n"), Err(ProtocolError::MissingCrlf));
        assert_eq!(
            parse(b"*2\r\n+OK\r\n@\r\n"),
            Err(ProtocolError::InvalidReplyType { got: b'@' })
        );
    }

    #[test]
    fn limits_at_and_past_the_bound() {
        assert!(parse(b"$8\r\n12345678\r\n").unwrap().is_some());
        assert_eq!(
            parse(b"$9\r\n"),
            Err(ProtocolError::BulkTooLong { len: 9, max: 8 })
        );
        assert!(parse(b"*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n").unwrap().is_some());
        assert_eq!(
            parse(b"*5\r\n"),
            Err(ProtocolError::ArrayTooLong { len: 5, max: 4 })
        );
        let at = b"+0123456789abcdef\r\n";
        assert!(parse(at).unwrap().is_some());
        assert_eq!(parse(&at[..18]), Ok(None));
        assert_eq!(
            parse(b"+0123456789abcdefg"),
            Err(ProtocolError::ReplyLineTooLong { max: 16 })
        );
        assert_eq!(
            parse(b"-0123456789abcdefg\r\n"),
            Err(ProtocolError::ReplyLineTooLong { max: 16 })
        );
    }

    #[test]
    fn nesting_at_and_past_the_depth_bound() {
        let nested = |depth: usize| [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat();
        let at = nested(MAX_REPLY_DEPTH);
        assert_eq!(parse_reply(&at, &limits()).unwrap().unwrap().1, at.len());
        let past = nested(MAX_REPLY_DEPTH + 1);
        assert_eq!(
            parse_reply(&past, &limits()),
            Err(ProtocolError::ReplyTooDeep {
                max: MAX_REPLY_DEPTH
            })
        );
        // Skipping keeps no per-level state and so accepts it.
        assert_eq!(skip_reply(&past, &limits()), Ok(Some((past.len(), false))));
    }

    #[test]
    fn a_claimed_array_length_does_not_allocate_ahead() {
        let big = Limits {
            max_array_len: usize::MAX,
            ..limits()
        };
        assert_eq!(
            parse_reply(b"*9223372036854775807\r\n:1\r\n", &big),
            Ok(None)
        );
        assert_eq!(
            skip_reply(b"*9223372036854775807\r\n:1\r\n", &big),
            Ok(None)
        );
    }

    #[test]
    fn encode_command_is_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b"\r\n"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\r\n\r\n");
        let mut args = Vec::new();
        assert_eq!(
            crate::parse_command(&out, &Limits::default(), &mut args),
            Ok(Some(out.len()))
        );
        assert_eq!(args, [8..11, 17..18, 24..26]);
    }
}
