//! Server side: one command from the front of a receive buffer.
//!
//! A command is either a RESP array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or, when the first byte
//! is not `*`, an inline line (`GET k\r\n`) as typed into telnet or sent by `redis-benchmark -t ping`.
//! Arguments come back as byte ranges into the buffer: nothing is copied.

use std::ops::Range;

use crate::error::ProtocolError;
use crate::{inline, line, Limits};

/// Parses one command from the front of `buf`.
///
/// `Ok(None)`: incomplete, read more and call again with the same bytes extended. `Ok(Some(consumed))`:
/// `args` (cleared first) holds each argument as a byte range into `buf`, and the command occupies
/// `buf[..consumed]`. An empty command (an empty or blank inline line, `*0` or a negative count) is consumed with no
/// arguments: the caller skips it and parses again.
///
/// An array or bulk header over `limits` is rejected as soon as its line is complete, before the payload
/// arrives; an inline line over `limits.max_inline_len` is rejected before its newline arrives; garbage in a
/// header is rejected at the first bad byte. After an error the stream's framing is lost: reply with the error
/// and close the connection. Never panics; allocates only to grow `args`. After `Ok(None)` or an error,
/// `args` is empty.
///
/// Each call starts again from the front of `buf`. A server that receives large commands in small pieces
/// should use [`CommandParser`], which resumes where the previous call stopped.
pub fn parse_command(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
) -> Result<Option<usize>, ProtocolError> {
    args.clear();
    let mut progress = Progress::Start;
    let outcome = parse(buf, limits, args, &mut progress);
    if !matches!(outcome, Ok(Some(_))) {
        args.clear();
    }
    outcome
}

/// A resumable [`parse_command`]: after `Ok(None)` it remembers the arguments already complete and where
/// the next one starts, so a command arriving in many small reads is scanned once, not once per read.
///
/// Between calls that return `Ok(None)`, pass the same buffer extended at the end (the same command start,
/// more bytes). A buffer shorter than the part already parsed makes the parser start that command afresh.
/// After `Ok(Some(_))` or an error the parser is ready for the next command.
///
/// ```
/// use pincore_resp::{CommandParser, Limits};
///
/// let mut parser = CommandParser::new();
/// let limits = Limits::default();
/// let wire = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
/// assert_eq!(parser.parse(&wire[..12], &limits), Ok(None));
/// assert_eq!(parser.parse(wire, &limits), Ok(Some(wire.len())));
/// let args: Vec<&[u8]> = parser.args().iter().map(|r| &wire[r.clone()]).collect();
/// assert_eq!(args, [&b"GET"[..], b"key"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CommandParser {
    args: Vec<Range<usize>>,
    progress: Progress,
}

impl CommandParser {
    /// A parser waiting for the start of a command.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses (or continues parsing) the command at the front of `buf`; see [`parse_command`] for the
    /// meaning of the result. On `Ok(Some(_))`, [`CommandParser::args`] holds the command's arguments.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        if self.progress.position() > buf.len() {
            self.progress = Progress::Start;
        }
        if self.progress == Progress::Start {
            self.args.clear();
        }
        let outcome = parse(buf, limits, &mut self.args, &mut self.progress);
        if outcome.is_err() {
            self.args.clear();
        }
        outcome
    }

    /// The arguments of the command last returned by [`CommandParser::parse`], as ranges into the buffer
    /// it was given.
    pub fn args(&self) -> &[Range<usize>] {
        if self.progress == Progress::Start {
            &self.args
        } else {
            &[]
        }
    }

    /// Forgets a partly parsed command (for example when the connection's buffer is discarded).
    pub fn reset(&mut self) {
        self.progress = Progress::Start;
        self.args.clear();
    }
}

/// How far a command has been parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Progress {
    /// Nothing of the command is known yet.
    #[default]
    Start,
    /// An inline line with no newline in `buf[..scanned]`.
    Inline { scanned: usize },
    /// An array with `remaining` bulk strings still to come, the next one starting at `next`; the ones
    /// before are in `args`.
    Array { remaining: usize, next: usize },
}

impl Progress {
    fn position(self) -> usize {
        match self {
            Progress::Start => 0,
            Progress::Inline { scanned } => scanned,
            Progress::Array { next, .. } => next,
        }
    }
}

/// Parses from `progress` on; on `Ok(None)` leaves `progress` at the point to resume from, otherwise resets
/// it to `Start`.
fn parse(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
    progress: &mut Progress,
) -> Result<Option<usize>, ProtocolError> {
    let resume_from = *progress;
    *progress = Progress::Start;
    let (remaining, next) = match resume_from {
        Progress::Start => match buf.first() {
            None => return Ok(None),
            Some(b'*') => match array_header(buf, limits)? {
                None => return Ok(None),
                Some(header) => header,
            },
            Some(_) => return inline_line(buf, 0, limits, args, progress),
        },
        Progress::Inline { scanned } => return inline_line(buf, scanned, limits, args, progress),
        Progress::Array { remaining, next } => (remaining, next),
    };
    bulk_strings(buf, limits, args, remaining, next, progress)
}

/// Reads an inline line (see [`inline::parse`]), remembering how much was scanned when it is not all here.
fn inline_line(
    buf: &[u8],
    scanned: usize,
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
    progress: &mut Progress,
) -> Result<Option<usize>, ProtocolError> {
    let parsed = inline::parse(buf, scanned, limits, args)?;
    if parsed.is_none() {
        *progress = Progress::Inline { scanned: buf.len() };
    }
    Ok(parsed)
}

/// Reads `*N\r\n`: the number of arguments and where the first starts. `*0` and any negative count (`*-1`,
/// `*-10`) are empty commands, skipped as Redis skips them.
fn array_header(buf: &[u8], limits: &Limits) -> Result<Option<(usize, usize)>, ProtocolError> {
    let Some((len, next)) = line::integer(buf, 1).map_err(|_| ProtocolError::InvalidArrayLength)?
    else {
        return Ok(None);
    };
    let len = len.max(0).unsigned_abs();
    if len > limits.max_array_len as u64 {
        return Err(ProtocolError::ArrayTooLong {
            len,
            max: limits.max_array_len,
        });
    }
    // Cannot truncate: len <= max_array_len, a usize.
    Ok(Some((len as usize, next)))
}

/// Reads `remaining` bulk strings starting at `next`, appending their ranges to `args`.
fn bulk_strings(
    buf: &[u8],
    limits: &Limits,
    args: &mut Vec<Range<usize>>,
    mut remaining: usize,
    mut next: usize,
    progress: &mut Progress,
) -> Result<Option<usize>, ProtocolError> {
    while remaining > 0 {
        let Some(data) = bulk_string(buf, next, limits)? else {
            *progress = Progress::Array { remaining, next };
            return Ok(None);
        };
        next = data.end + 2;
        args.push(data);
        remaining -= 1;
    }
    Ok(Some(next))
}

/// Reads one `$N\r\n<data>\r\n` at `start`; returns the range of the data.
fn bulk_string(
    buf: &[u8],
    start: usize,
    limits: &Limits,
) -> Result<Option<Range<usize>>, ProtocolError> {
    match buf.get(start) {
        None => return Ok(None),
        Some(b'$') => {}
        Some(&got) => return Err(ProtocolError::ExpectedBulk { got }),
    }
    let Some((len, data_start)) =
        line::integer(buf, start + 1).map_err(|_| ProtocolError::InvalidBulkLength)?
    else {
        return Ok(None);
    };
    let len = u64::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
    if len > limits.max_bulk_len as u64 {
        return Err(ProtocolError::BulkTooLong {
            len,
            max: limits.max_bulk_len,
        });
    }
    // Cannot truncate: len <= max_bulk_len, a usize.
    line::bulk_data(buf, data_start, len as usize)
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

    /// Parses every command in `input`, returning each command's arguments as byte strings.
    fn commands(input: &[u8], limits: &Limits) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut args = Vec::new();
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(consumed) = parse_command(&input[start..], limits, &mut args)? {
            let command = &input[start..start + consumed];
            out.push(args.iter().map(|r| command[r.clone()].to_vec()).collect());
            start += consumed;
        }
        assert_eq!(start, input.len(), "input left over");
        Ok(out)
    }

    fn one(input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        parse_command(input, &limits(), &mut Vec::new())
    }

    fn strings(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn array_of_bulk_strings() {
        let input = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(
            commands(input, &limits()).unwrap(),
            [strings(&["GET", "key"])]
        );
    }

    #[test]
    fn pipelined_commands_back_to_back() {
        let input =
            b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(
            commands(input, &limits()).unwrap(),
            [
                strings(&["PING"]),
                strings(&["ECHO", ""]),
                strings(&["PING"]),
                strings(&["PING"])
            ]
        );
    }

    #[test]
    fn binary_payloads_with_crlf_inside() {
        let input = b"*2\r\n$3\r\nSET\r\n$6\r\n\r\n\0\xff\r\n\r\n";
        assert_eq!(
            commands(input, &limits()).unwrap(),
            [vec![b"SET".to_vec(), b"\r\n\0\xff\r\n".to_vec()]]
        );
    }

    #[test]
    fn empty_arrays_are_skipped() {
        assert_eq!(commands(b"*0\r\n", &limits()).unwrap(), [strings(&[])]);
        assert_eq!(commands(b"*-1\r\n", &limits()).unwrap(), [strings(&[])]);
        assert_eq!(commands(b"*-10\r\n", &limits()).unwrap(), [strings(&[])]);
    }

    #[test]
    fn empty_bulk_string() {
        assert_eq!(
            commands(b"*1\r\n$0\r\n\r\n", &limits()).unwrap(),
            [strings(&[""])]
        );
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n\r\n\r\n\r\n\r\n\r\n";
        for end in 0..input.len() {
            assert_eq!(one(&input[..end]), Ok(None), "prefix of {end} bytes");
        }
        assert_eq!(one(input), Ok(Some(input.len())));
    }

    #[test]
    fn bad_array_headers() {
        for bad in [
            &b"*x\r\n"[..],
            b"*\r\n",
            b"*-0\r\n",
            b"*01\r\n",
            b"*1\n",
            b"*1\rx",
            b"*1 \r\n",
            b"*99999999999999999999999",
        ] {
            assert_eq!(one(bad), Err(ProtocolError::InvalidArrayLength), "{bad:?}");
        }
    }

    #[test]
    fn garbage_header_is_rejected_before_its_line_ends() {
        assert_eq!(one(b"*1x"), Err(ProtocolError::InvalidArrayLength));
        assert_eq!(one(b"*1\r\n$z"), Err(ProtocolError::InvalidBulkLength));
    }

    #[test]
    fn bad_bulk_headers() {
        for bad in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$-5\r\n",
            b"*1\r\n$x\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$1\n",
            b"*1\r\n$01\r\n",
        ] {
            assert_eq!(one(bad), Err(ProtocolError::InvalidBulkLength), "{bad:?}");
        }
    }

    #[test]
    fn array_elements_must_be_bulk_strings() {
        assert_eq!(
            one(b"*1\r\n:1\r\n"),
            Err(ProtocolError::ExpectedBulk { got: b':' })
        );
        assert_eq!(
            one(b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"),
            Err(ProtocolError::ExpectedBulk { got: b'*' })
        );
    }

    #[test]
    fn bulk_data_must_end_in_crlf() {
        assert_eq!(one(b"*1\r\n$1\r\nab\r\n"), Err(ProtocolError::MissingCrlf));
        assert_eq!(one(b"*1\r\n$1\r\na\rx"), Err(ProtocolError::MissingCrlf));
        assert_eq!(one(b"*1\r\n$1\r\na\n\n"), Err(ProtocolError::MissingCrlf));
        assert_eq!(one(b"*1\r\n$1\r\na\r"), Ok(None));
    }

    #[test]
    fn array_limit_at_and_past_the_bound() {
        let at = b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n";
        assert_eq!(one(at), Ok(Some(at.len())));
        // Rejected from the header alone, with no payload sent.
        assert_eq!(
            one(b"*5\r\n"),
            Err(ProtocolError::ArrayTooLong { len: 5, max: 4 })
        );
        assert_eq!(
            one(b"*1048577\r\n"),
            Err(ProtocolError::ArrayTooLong {
                len: 1048577,
                max: 4
            })
        );
    }

    #[test]
    fn bulk_limit_at_and_past_the_bound() {
        let at = b"*1\r\n$8\r\n12345678\r\n";
        assert_eq!(one(at), Ok(Some(at.len())));
        // Rejected from the header alone, before the payload arrives.
        assert_eq!(
            one(b"*1\r\n$9\r\n"),
            Err(ProtocolError::BulkTooLong { len: 9, max: 8 })
        );
        assert_eq!(
            one(b"*1\r\n$9223372036854775807\r\n"),
            Err(ProtocolError::BulkTooLong {
                len: i64::MAX as u64,
                max: 8
            })
        );
    }

    #[test]
    fn bulk_limit_near_usize_max_does_not_overflow() {
        let huge = Limits {
            max_bulk_len: usize::MAX,
            ..limits()
        };
        let input = b"*1\r\n$9223372036854775807\r\nab";
        assert_eq!(parse_command(input, &huge, &mut Vec::new()), Ok(None));
    }

    #[test]
    fn resumable_parser_matches_the_stateless_one() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n\r\n\r\n\r\n\r\n\r\nGET k\r\n";
        let first_len = input.len() - 7;
        for end in 0..first_len {
            let mut parser = CommandParser::new();
            assert_eq!(parser.parse(&input[..end], &limits()), Ok(None));
            assert!(parser.args().is_empty());
            assert_eq!(parser.parse(input, &limits()), Ok(Some(first_len)));
            assert_eq!(parser.args(), [8..11, 17..18, 24..32]);
            let rest = &input[first_len..];
            assert_eq!(parser.parse(rest, &limits()), Ok(Some(7)));
            assert_eq!(parser.args(), [0..3, 4..5]);
        }
    }

    #[test]
    fn resumable_parser_restarts_on_a_shorter_buffer() {
        let input = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        let mut parser = CommandParser::new();
        assert_eq!(parser.parse(&input[..14], &limits()), Ok(None));
        assert_eq!(parser.parse(&input[..3], &limits()), Ok(None));
        assert_eq!(parser.parse(input, &limits()), Ok(Some(input.len())));
        assert_eq!(parser.args(), [8..9, 15..16]);
    }

    #[test]
    fn resumable_parser_recovers_after_an_error() {
        let mut parser = CommandParser::new();
        assert_eq!(
            parser.parse(b"*1\r\n$x", &limits()),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert!(parser.args().is_empty());
        assert_eq!(parser.parse(b"PING\r\n", &limits()), Ok(Some(6)));
        assert_eq!(parser.args(), std::slice::from_ref(&(0..4)));
    }
}
