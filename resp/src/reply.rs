//! Server side: replies appended to an output buffer.
//!
//! Each function appends one RESP2 value; an array is its header ([`array()`]) followed by that many values.
//! Nothing allocates beyond the output `Vec`'s own growth.
//!
//! Simple strings and errors cannot carry CR or LF on the wire: [`simple`] and [`error`] replace them with
//! spaces (as Redis does for error text), so text derived from client input can never break the framing.

use std::io::Write;

use crate::ProtocolError;

/// `+s\r\n`, for example `+OK\r\n`. CR and LF in `s` become spaces.
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    line(out, b'+', s);
}

/// `-msg\r\n`. `msg` starts with the error code word, e.g. `b"ERR unknown command 'foo'"` or
/// `b"WRONGTYPE ..."`. CR and LF in `msg` become spaces.
pub fn error(out: &mut Vec<u8>, msg: &[u8]) {
    line(out, b'-', msg);
}

/// `:n\r\n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$len\r\ndata\r\n`: binary-safe.
pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    let mut len = itoa::Buffer::new();
    let len = len.format(data.len()).as_bytes();
    out.reserve(1 + len.len() + 2 + data.len() + 2);
    out.push(b'$');
    out.extend_from_slice(len);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// `$-1\r\n`: the null bulk string (GET of a missing key).
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*len\r\n`: the header of an array; the caller appends `len` values after it.
pub fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `*-1\r\n`: the null array.
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `-ERR <error>\r\n`: what a server sends for a [`ProtocolError`] before closing the connection, as Redis
/// does, without allocating.
pub fn protocol_error(out: &mut Vec<u8>, error: &ProtocolError) {
    // Writing into a Vec cannot fail; the message never holds CR or LF (offending bytes are shown escaped).
    let _ = write!(out, "-ERR {error}\r\n");
}

/// `<prefix>text\r\n` with CR and LF in `text` replaced by spaces.
fn line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
    out.reserve(1 + text.len() + 2);
    out.push(prefix);
    if memchr::memchr2(b'\r', b'\n', text).is_none() {
        out.extend_from_slice(text);
    } else {
        out.extend(text.iter().map(|&b| match b {
            b'\r' | b'\n' => b' ',
            b => b,
        }));
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = b"before".to_vec();
        write(&mut out);
        assert!(out.starts_with(b"before"), "appends, never overwrites");
        out.split_off(6)
    }

    #[test]
    fn each_reply_type() {
        assert_eq!(encoded(|o| simple(o, b"OK")), b"+OK\r\n");
        assert_eq!(
            encoded(|o| error(o, b"ERR unknown command 'foo'")),
            b"-ERR unknown command 'foo'\r\n"
        );
        assert_eq!(encoded(|o| integer(o, 0)), b":0\r\n");
        assert_eq!(encoded(|o| integer(o, -42)), b":-42\r\n");
        assert_eq!(
            encoded(|o| integer(o, i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(encoded(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(encoded(|o| bulk(o, b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(encoded(null), b"$-1\r\n");
        assert_eq!(encoded(|o| array(o, 12)), b"*12\r\n");
        assert_eq!(encoded(null_array), b"*-1\r\n");
        assert_eq!(
            encoded(|o| protocol_error(o, &ProtocolError::ExpectedBulk { got: b'\n' })),
            b"-ERR Protocol error: expected '$', got '\\x0a'\r\n"
        );
    }

    #[test]
    fn line_breaks_in_simple_strings_and_errors_become_spaces() {
        assert_eq!(encoded(|o| simple(o, b"a\r\nb")), b"+a  b\r\n");
        assert_eq!(
            encoded(|o| error(o, b"ERR unknown command 'x\ny'")),
            b"-ERR unknown command 'x y'\r\n"
        );
    }
}
