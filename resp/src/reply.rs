//! Server side: replies appended to an output buffer.
//!
//! Each function appends one value; an array is its header ([`array()`]) followed by that many values.
//! Nothing allocates beyond the output `Vec`'s own growth.
//!
//! The functions without a [`Protocol`] argument write what RESP2 and RESP3 share. The others write RESP3's
//! richer types (maps, sets, doubles, booleans, the null, push messages) to a connection that said `HELLO 3`,
//! and their RESP2 equivalents (as Redis does) to one that did not: a map becomes a flat array of keys and
//! values, a double a bulk string, a boolean an integer.
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

/// The protocol a connection speaks: RESP2 until it sends `HELLO 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    /// `HELLO`'s `proto` field: 2 or 3.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// The absent value: RESP3 `_\r\n`, RESP2's null bulk string `$-1\r\n` (GET of a missing key).
pub fn nil(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => null(out),
        Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// An absent array: RESP3 `_\r\n`, RESP2's null array `*-1\r\n` (EXEC aborted by WATCH).
pub fn nil_array(out: &mut Vec<u8>, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => null_array(out),
        Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// The header of a map of `pairs` key/value pairs (`%pairs`); in RESP2 an array of `2 × pairs` values.
/// The caller appends key, value, key, value, ...
pub fn map(out: &mut Vec<u8>, protocol: Protocol, pairs: usize) {
    match protocol {
        Protocol::Resp2 => array(out, pairs.saturating_mul(2)),
        Protocol::Resp3 => header(out, b'%', pairs),
    }
}

/// The header of a set of `len` values (`~len`); in RESP2 an array.
pub fn set(out: &mut Vec<u8>, protocol: Protocol, len: usize) {
    match protocol {
        Protocol::Resp2 => array(out, len),
        Protocol::Resp3 => header(out, b'~', len),
    }
}

/// The header of an out-of-band push message of `len` values (`>len`: pub/sub messages); in RESP2 an array.
pub fn push(out: &mut Vec<u8>, protocol: Protocol, len: usize) {
    match protocol {
        Protocol::Resp2 => array(out, len),
        Protocol::Resp3 => header(out, b'>', len),
    }
}

/// A double (`,1.5`, `,inf`, `,-inf`, `,nan`); in RESP2 the same text as a bulk string. The text is the
/// shortest that reads back as the same `f64`, with Redis's spellings of the infinities.
pub fn double(out: &mut Vec<u8>, protocol: Protocol, value: f64) {
    let mut text = [0u8; 32];
    let text = format_double(value, &mut text);
    match protocol {
        Protocol::Resp2 => bulk(out, text),
        Protocol::Resp3 => {
            out.push(b',');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// `#t` / `#f`; in RESP2 `:1` / `:0`.
pub fn boolean(out: &mut Vec<u8>, protocol: Protocol, value: bool) {
    match protocol {
        Protocol::Resp2 => integer(out, i64::from(value)),
        Protocol::Resp3 => out.extend_from_slice(if value { b"#t\r\n" } else { b"#f\r\n" }),
    }
}

/// A verbatim string with its three-letter format (`txt`, `mkd`): `=len\r\ntxt:text\r\n` (INFO, CLIENT
/// INFO); in RESP2 a bulk string of the text alone.
pub fn verbatim(out: &mut Vec<u8>, protocol: Protocol, format: &[u8; 3], text: &[u8]) {
    match protocol {
        Protocol::Resp2 => bulk(out, text),
        Protocol::Resp3 => {
            header(out, b'=', text.len() + 4);
            out.extend_from_slice(format);
            out.push(b':');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// `<kind>len\r\n`.
fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    out.push(kind);
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `value` as Redis writes a double reply: `inf`, `-inf`, `nan`, otherwise the shortest text that reads back
/// as the same `f64` (`1.5`, `10`, `1e-7`, `1.7976931348623157e+308`), as Redis 7.2's doubles print.
fn format_double(value: f64, buf: &mut [u8; 32]) -> &[u8] {
    if value.is_nan() {
        return b"nan";
    }
    if value.is_infinite() {
        return if value > 0.0 { b"inf" } else { b"-inf" };
    }
    // `{:?}` is Rust's shortest round-trip form, switching to an exponent outside 1e-5..1e16: at most 24
    // bytes (sign, 17 digits, point, `e-308`), so it always fits.
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{value:?}");
    let mut len = cursor.position() as usize;
    if buf[..len].ends_with(b".0") {
        len -= 2;
    }
    // C's `%g` writes a positive exponent with its sign, as Redis does.
    if let Some(e) = buf[..len].iter().position(|&b| b == b'e') {
        if buf[e + 1] != b'-' {
            buf.copy_within(e + 1..len, e + 2);
            buf[e + 1] = b'+';
            len += 1;
        }
    }
    &buf[..len]
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
    fn resp3_types_and_their_resp2_forms() {
        use Protocol::*;
        let both = |write: &dyn Fn(&mut Vec<u8>, Protocol)| {
            (encoded(|o| write(o, Resp2)), encoded(|o| write(o, Resp3)))
        };
        assert_eq!(both(&nil), (b"$-1\r\n".to_vec(), b"_\r\n".to_vec()));
        assert_eq!(both(&nil_array), (b"*-1\r\n".to_vec(), b"_\r\n".to_vec()));
        assert_eq!(
            both(&|o, p| map(o, p, 3)),
            (b"*6\r\n".to_vec(), b"%3\r\n".to_vec())
        );
        assert_eq!(
            both(&|o, p| set(o, p, 2)),
            (b"*2\r\n".to_vec(), b"~2\r\n".to_vec())
        );
        assert_eq!(
            both(&|o, p| push(o, p, 3)),
            (b"*3\r\n".to_vec(), b">3\r\n".to_vec())
        );
        assert_eq!(
            both(&|o, p| double(o, p, 1.5)),
            (b"$3\r\n1.5\r\n".to_vec(), b",1.5\r\n".to_vec())
        );
        assert_eq!(both(&|o, p| double(o, p, 10.0)).1, b",10\r\n");
        assert_eq!(both(&|o, p| double(o, p, f64::INFINITY)).1, b",inf\r\n");
        assert_eq!(
            both(&|o, p| double(o, p, f64::NEG_INFINITY)).0,
            b"$4\r\n-inf\r\n"
        );
        assert_eq!(both(&|o, p| double(o, p, f64::NAN)).1, b",nan\r\n");
        assert_eq!(
            both(&|o, p| double(o, p, -1.7976931348623157e308)).1,
            b",-1.7976931348623157e+308\r\n"
        );
        assert_eq!(both(&|o, p| double(o, p, 1e-7)).1, b",1e-7\r\n");
        assert_eq!(both(&|o, p| double(o, p, 0.1)).1, b",0.1\r\n");
        assert_eq!(both(&|o, p| double(o, p, -0.0)).1, b",-0\r\n");
        assert_eq!(
            both(&|o, p| boolean(o, p, true)),
            (b":1\r\n".to_vec(), b"#t\r\n".to_vec())
        );
        assert_eq!(both(&|o, p| boolean(o, p, false)).1, b"#f\r\n");
        assert_eq!(
            both(&|o, p| verbatim(o, p, b"txt", b"a\r\nb")),
            (
                b"$4\r\na\r\nb\r\n".to_vec(),
                b"=8\r\ntxt:a\r\nb\r\n".to_vec()
            )
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
