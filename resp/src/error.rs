//! The one error type of this crate: a protocol violation by the peer.

use std::fmt;

/// A protocol violation. After any of these the byte stream's framing is lost: a server replies with
/// `-ERR {error}` and closes the connection, as Redis does.
///
/// `Display` is the text after `"-ERR "`, in Redis's own wording where Redis has one, so clients see what
/// they would see from Redis. The variants keep the detail (lengths, limits, the offending byte) for logs, and
/// [`ProtocolError::kind`] groups them for counting rejections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An array header (`*N`) that is not a valid count: garbage, a leading zero, overflow, a negative other
    /// than `-1`, or a line not ended by CRLF.
    #[error("Protocol error: invalid multibulk length")]
    InvalidArrayLength,
    /// An array header whose count is above [`Limits::max_array_len`](crate::Limits), or an inline command
    /// with more arguments than that.
    #[error("Protocol error: invalid multibulk length")]
    ArrayTooLong { len: u64, max: usize },
    /// A bulk header (`$N`) that is not a valid length: garbage, a leading zero, overflow, a negative length in
    /// a command, a negative other than `-1` in a reply, or a line not ended by CRLF.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A bulk header whose length is above [`Limits::max_bulk_len`](crate::Limits).
    #[error("Protocol error: invalid bulk length")]
    BulkTooLong { len: u64, max: usize },
    /// An element of a command array that is not a bulk string.
    #[error("Protocol error: expected '$', got '{}'", ByteChar(*.got))]
    ExpectedBulk { got: u8 },
    /// Bulk data not followed by CRLF (the length in the header was wrong), or a reply line ended by a bare
    /// LF.
    #[error("Protocol error: expected CRLF after bulk data or reply line; the length header does not match the data")]
    MissingCrlf,
    /// An inline command line longer than [`Limits::max_inline_len`](crate::Limits).
    #[error("Protocol error: too big inline request")]
    InlineTooLong { max: usize },
    /// An inline argument whose quotes are not closed, or whose closing quote is not followed by a space or
    /// the line end.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A backslash escape inside a quoted inline argument (`"a\nb"`, `'it\'s'`). Arguments are returned as
    /// ranges of the input, so escapes that would change the bytes are not decoded.
    #[error("Protocol error: backslash escapes in quoted inline arguments are not supported; send the command as a RESP array")]
    InlineEscape,
    /// A quote in the middle of an unquoted inline argument (`a"b c"`), which Redis would join into one
    /// argument; arguments are returned as ranges of the input, so such joins are not supported.
    #[error("Protocol error: quotes inside an inline argument are not supported; quote the whole argument or send the command as a RESP array")]
    InlineQuoteInArgument,
    /// A reply starting with a byte that is not a RESP2 or RESP3 type (`+ - : $ *`, `_ # , ( = ! % ~ > |`).
    #[error("Protocol error: expected a reply type ('+', '-', ':', '$', '*' or a RESP3 type), got '{}'", ByteChar(*.got))]
    InvalidReplyType { got: u8 },
    /// A RESP3 boolean, double, big number or verbatim string that is not well formed.
    #[error("Protocol error: invalid {what} reply")]
    InvalidReplyValue { what: &'static str },
    /// An integer reply (`:N`) that is not a valid 64-bit integer.
    #[error("Protocol error: invalid integer reply")]
    InvalidInteger,
    /// A simple-string, error or integer reply line longer than [`Limits::max_inline_len`](crate::Limits).
    #[error("Protocol error: too big reply line (more than {max} bytes)")]
    ReplyLineTooLong { max: usize },
    /// A reply with arrays nested deeper than [`MAX_REPLY_DEPTH`](crate::MAX_REPLY_DEPTH).
    #[error("Protocol error: reply arrays nested deeper than {max} levels")]
    ReplyTooDeep { max: usize },
}

/// What a [`ProtocolError`] was about, for counting rejections by reason (for example as a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A bulk string over the configured limit.
    BulkTooLong,
    /// An array (or inline argument list) over the configured limit, or replies nested too deep.
    ArrayTooLong,
    /// An inline line or reply line over the configured limit.
    InlineTooLong,
    /// Anything else that is not valid RESP.
    Malformed,
}

impl ErrorKind {
    /// Every kind, in a stable order (to pre-register metric series).
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::BulkTooLong,
        ErrorKind::ArrayTooLong,
        ErrorKind::InlineTooLong,
        ErrorKind::Malformed,
    ];

    /// A stable snake_case name, suitable as a metrics label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BulkTooLong => "bulk_too_long",
            ErrorKind::ArrayTooLong => "array_too_long",
            ErrorKind::InlineTooLong => "inline_too_long",
            ErrorKind::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProtocolError {
    /// The reason group of this error, for counting rejections.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProtocolError::BulkTooLong { .. } => ErrorKind::BulkTooLong,
            ProtocolError::ArrayTooLong { .. } | ProtocolError::ReplyTooDeep { .. } => {
                ErrorKind::ArrayTooLong
            }
            ProtocolError::InlineTooLong { .. } | ProtocolError::ReplyLineTooLong { .. } => {
                ErrorKind::InlineTooLong
            }
            ProtocolError::InvalidArrayLength
            | ProtocolError::InvalidBulkLength
            | ProtocolError::ExpectedBulk { .. }
            | ProtocolError::MissingCrlf
            | ProtocolError::UnbalancedQuotes
            | ProtocolError::InlineEscape
            | ProtocolError::InlineQuoteInArgument
            | ProtocolError::InvalidReplyType { .. }
            | ProtocolError::InvalidInteger
            | ProtocolError::InvalidReplyValue { .. } => ErrorKind::Malformed,
        }
    }
}

/// Shows a byte from the wire the way Redis does (as the character itself) when it is printable ASCII,
/// and as `\xNN` otherwise, so an error line never carries control bytes or CR/LF.
struct ByteChar(u8);

impl fmt::Display for ByteChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "{}", self.0 as char)
        } else {
            write!(f, "\\x{:02x}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_redis_wording() {
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_string(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            ProtocolError::BulkTooLong { len: 10, max: 5 }.to_string(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            ProtocolError::ArrayTooLong { len: 10, max: 5 }.to_string(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            ProtocolError::ExpectedBulk { got: b'x' }.to_string(),
            "Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            ProtocolError::InlineTooLong { max: 1 }.to_string(),
            "Protocol error: too big inline request"
        );
        assert_eq!(
            ProtocolError::UnbalancedQuotes.to_string(),
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn control_bytes_are_escaped_in_messages() {
        let text = ProtocolError::ExpectedBulk { got: b'\r' }.to_string();
        assert_eq!(text, "Protocol error: expected '$', got '\\x0d'");
        assert!(!text.contains('\r'));
    }

    #[test]
    fn kinds_group_variants() {
        assert_eq!(
            ProtocolError::BulkTooLong { len: 2, max: 1 }.kind(),
            ErrorKind::BulkTooLong
        );
        assert_eq!(
            ProtocolError::ArrayTooLong { len: 2, max: 1 }.kind(),
            ErrorKind::ArrayTooLong
        );
        assert_eq!(
            ProtocolError::InlineTooLong { max: 1 }.kind(),
            ErrorKind::InlineTooLong
        );
        assert_eq!(ProtocolError::MissingCrlf.kind(), ErrorKind::Malformed);
        assert_eq!(ErrorKind::BulkTooLong.as_str(), "bulk_too_long");
    }
}
