//! Properties of the parsers over generated input: random bytes never panic or over-consume, and
//! well-formed pipelines parse to what was encoded however the bytes are split across reads.
//!
//! The seed is fixed so every run checks the same cases; change `SEED` locally to explore others.

use std::ops::Range;

use pincore_resp::reply::Protocol;
use pincore_resp::{
    encode_command, parse_command, parse_reply, reply, skip_reply, CommandParser, Limits,
    ProtocolError, Reply,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const SEED: u64 = 0x7265_7370;

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Small limits, so that generated input reaches them, and the defaults.
fn all_limits() -> [Limits; 2] {
    [
        Limits {
            max_bulk_len: 16,
            max_array_len: 4,
            max_inline_len: 24,
        },
        Limits::default(),
    ]
}

/// Bytes drawn mostly from RESP's own alphabet, so random input gets past the first header.
fn resp_shaped_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"*$+-:0123456789\r\n\r\n \t\"'\\aZ\0\xff".to_vec();
    vec(prop::sample::select(alphabet), 0..96)
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..192), resp_shaped_bytes()]
}

/// The arguments of a command, checked to lie inside what the parser said it consumed.
fn checked_args(buf: &[u8], consumed: usize, args: &[Range<usize>]) -> Vec<Vec<u8>> {
    assert!(
        consumed <= buf.len(),
        "consumed {consumed} of {}",
        buf.len()
    );
    assert!(consumed > 0, "a complete command consumes bytes");
    args.iter()
        .map(|r| {
            assert!(
                r.start <= r.end && r.end <= consumed,
                "{r:?} outside ..{consumed}"
            );
            buf[r.clone()].to_vec()
        })
        .collect()
}

/// A command as generated: the bytes that send it, and the arguments it must parse to.
#[derive(Debug, Clone)]
struct Command {
    wire: Vec<u8>,
    args: Vec<Vec<u8>>,
}

/// A RESP array of binary bulk strings, as `encode_command` writes it.
fn resp_command() -> impl Strategy<Value = Command> {
    vec(vec(any::<u8>(), 0..24), 1..6).prop_map(|args| {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut wire = Vec::new();
        encode_command(&mut wire, &refs);
        Command { wire, args }
    })
}

/// An inline line: bare words, or whole arguments in double or single quotes carrying spaces and the
/// other kind of quote, separated by runs of spaces and tabs, ended by CRLF or LF.
fn inline_command() -> impl Strategy<Value = Command> {
    let argument = prop_oneof![
        "[A-Za-z0-9_:.{}-]{1,8}".prop_map(|s| (s.clone(), s)),
        "[a-z '\t]{0,8}".prop_map(|s| (format!("\"{s}\""), s)),
        "[a-z \"\t]{0,8}".prop_map(|s| (format!("'{s}'"), s)),
    ];
    let gap = "[ \t]{1,3}";
    (
        "[ \t]{0,2}",
        vec((argument, gap), 1..5),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(lead, parts, end)| {
            let mut line = lead;
            let mut args = Vec::new();
            for ((text, value), gap) in parts {
                line.push_str(&text);
                line.push_str(&gap);
                args.push(value.into_bytes());
            }
            line.push_str(end);
            Command {
                wire: line.into_bytes(),
                args,
            }
        })
}

fn pipeline() -> impl Strategy<Value = Vec<Command>> {
    vec(
        prop_oneof![3 => resp_command(), 1 => inline_command()],
        1..6,
    )
}

fn wire_of(commands: &[Command]) -> Vec<u8> {
    commands
        .iter()
        .flat_map(|c| c.wire.iter().copied())
        .collect()
}

/// Parses the whole commands at the front of `buf` with the stateless parser; returns them and the bytes
/// they took. The rest must be an incomplete command.
fn parse_complete(buf: &[u8], limits: &Limits) -> (Vec<Vec<Vec<u8>>>, usize) {
    let mut args = Vec::new();
    let mut commands = Vec::new();
    let mut start = 0;
    loop {
        match parse_command(&buf[start..], limits, &mut args) {
            Ok(Some(consumed)) => {
                commands.push(checked_args(&buf[start..], consumed, &args));
                start += consumed;
            }
            Ok(None) => return (commands, start),
            Err(e) => panic!("well-formed input rejected at byte {start}: {e:?}"),
        }
    }
}

/// An owned reply, to generate, encode and compare against the borrowed [`Reply`].
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
    // RESP3, encoded with `Protocol::Resp3`.
    Null,
    Boolean(bool),
    /// Kept as text: the reply carries the text, and `f64` is not `Eq`.
    Double(Vec<u8>),
    Verbatim(Vec<u8>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
}

impl Value {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Simple(s) => reply::simple(out, s),
            Value::Error(s) => reply::error(out, s),
            Value::Integer(n) => reply::integer(out, *n),
            Value::Bulk(Some(data)) => reply::bulk(out, data),
            Value::Bulk(None) => reply::null(out),
            Value::Array(Some(elements)) => {
                reply::array(out, elements.len());
                for element in elements {
                    element.encode(out);
                }
            }
            Value::Array(None) => reply::null_array(out),
            Value::Null => reply::nil(out, Protocol::Resp3),
            Value::Boolean(b) => reply::boolean(out, Protocol::Resp3, *b),
            Value::Double(text) => {
                let v: f64 = std::str::from_utf8(text).unwrap().parse().unwrap();
                reply::double(out, Protocol::Resp3, v)
            }
            Value::Verbatim(text) => reply::verbatim(out, Protocol::Resp3, b"txt", text),
            Value::Map(pairs) => {
                reply::map(out, Protocol::Resp3, pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Set(elements) | Value::Push(elements) => {
                if matches!(self, Value::Set(_)) {
                    reply::set(out, Protocol::Resp3, elements.len());
                } else {
                    reply::push(out, Protocol::Resp3, elements.len());
                }
                for element in elements {
                    element.encode(out);
                }
            }
        }
    }

    fn of(reply: &Reply<'_>) -> Value {
        match reply {
            Reply::Simple(s) => Value::Simple(s.to_vec()),
            Reply::Error(s) => Value::Error(s.to_vec()),
            Reply::Integer(n) => Value::Integer(*n),
            Reply::Bulk(data) => Value::Bulk(data.map(<[u8]>::to_vec)),
            Reply::Array(elements) => {
                Value::Array(elements.as_ref().map(|e| e.iter().map(Value::of).collect()))
            }
            Reply::Null => Value::Null,
            Reply::Boolean(b) => Value::Boolean(*b),
            Reply::Double(text) => Value::Double(text.to_vec()),
            Reply::Verbatim { format, text } => {
                assert_eq!(*format, b"txt");
                Value::Verbatim(text.to_vec())
            }
            Reply::Map(pairs) => Value::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (Value::of(k), Value::of(v)))
                    .collect(),
            ),
            Reply::Set(e) => Value::Set(e.iter().map(Value::of).collect()),
            Reply::Push(e) => Value::Push(e.iter().map(Value::of).collect()),
            other => panic!("the generator makes no {other:?}"),
        }
    }
}

fn value() -> impl Strategy<Value = Value> {
    let line_text = vec(
        any::<u8>().prop_filter("no line breaks", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    );
    let leaf = prop_oneof![
        line_text.clone().prop_map(Value::Simple),
        line_text.prop_map(|mut text| {
            text.splice(0..0, b"ERR ".iter().copied());
            Value::Error(text)
        }),
        any::<i64>().prop_map(Value::Integer),
        proptest::option::of(vec(any::<u8>(), 0..16)).prop_map(Value::Bulk),
        Just(Value::Array(None)),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        // Integers and halves print exactly, so the text read back equals the text encoded.
        (-1_000_000i32..1_000_000).prop_map(|n| Value::Double(format_half(n))),
        vec(any::<u8>(), 0..16).prop_map(Value::Verbatim),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|elements| Value::Array(Some(elements))),
            vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Map),
            vec(inner.clone(), 0..4).prop_map(Value::Set),
            vec(inner, 0..4).prop_map(Value::Push),
        ]
    })
}

/// `n / 2` as `reply::double` writes it (`3`, `-1.5`).
fn format_half(n: i32) -> Vec<u8> {
    let v = f64::from(n) / 2.0;
    if n % 2 == 0 {
        format!("{}", n / 2).into_bytes()
    } else {
        format!("{v}").into_bytes()
    }
}

/// Parses the whole replies at the front of `buf` with both client parsers, checking they agree.
fn parse_replies(buf: &[u8], limits: &Limits) -> (Vec<Value>, usize) {
    let mut replies = Vec::new();
    let mut start = 0;
    loop {
        let skipped = skip_reply(&buf[start..], limits);
        match parse_reply(&buf[start..], limits) {
            Ok(Some((reply, consumed))) => {
                assert!(consumed > 0 && start + consumed <= buf.len());
                assert_eq!(skipped, Ok(Some((consumed, reply.is_error()))));
                replies.push(Value::of(&reply));
                start += consumed;
            }
            Ok(None) => {
                assert_eq!(skipped, Ok(None));
                return (replies, start);
            }
            Err(e) => panic!("well-formed reply rejected at byte {start}: {e:?}"),
        }
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn random_commands_never_panic_or_overconsume(bytes in any_bytes()) {
        for limits in all_limits() {
            let mut args = Vec::new();
            let stateless = parse_command(&bytes, &limits, &mut args);
            if let Ok(Some(consumed)) = stateless {
                checked_args(&bytes, consumed, &args);
            } else {
                prop_assert!(args.is_empty());
            }

            // Fed one byte at a time, the resumable parser ends where the stateless one does.
            let mut parser = CommandParser::new();
            let mut resumed = Ok(None);
            for end in 0..=bytes.len() {
                resumed = parser.parse(&bytes[..end], &limits);
                if !matches!(resumed, Ok(None)) {
                    break;
                }
            }
            match (resumed, stateless) {
                (Ok(Some(a)), Ok(Some(b))) => {
                    // It may finish on a shorter prefix, which the stateless parser then also accepts.
                    let mut args = Vec::new();
                    prop_assert_eq!(parse_command(&bytes[..a], &limits, &mut args), Ok(Some(a)));
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(parser.args(), args.as_slice());
                }
                (resumed, stateless) => prop_assert_eq!(resumed, stateless),
            }
        }
    }

    #[test]
    fn random_replies_never_panic_and_both_parsers_agree(bytes in any_bytes()) {
        for limits in all_limits() {
            let parsed = parse_reply(&bytes, &limits);
            let skipped = skip_reply(&bytes, &limits);
            match parsed {
                Ok(Some((reply, consumed))) => {
                    prop_assert!(consumed > 0 && consumed <= bytes.len());
                    prop_assert_eq!(skipped, Ok(Some((consumed, reply.is_error()))));
                }
                Ok(None) => prop_assert_eq!(skipped, Ok(None)),
                Err(e) => prop_assert_eq!(skipped, Err(e)),
            }
        }
    }
}

proptest! {
    #![proptest_config(config(160))]

    #[test]
    fn pipelines_parse_the_same_however_they_are_split(commands in pipeline()) {
        let limits = Limits::default();
        let wire = wire_of(&commands);
        let expected: Vec<Vec<Vec<u8>>> = commands.iter().map(|c| c.args.clone()).collect();
        let (whole, consumed) = parse_complete(&wire, &limits);
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(consumed, wire.len());

        for split in 0..=wire.len() {
            // Stateless: what the prefix holds, then the rest once everything has arrived.
            let (mut got, start) = parse_complete(&wire[..split], &limits);
            let (rest, end) = parse_complete(&wire[start..], &limits);
            got.extend(rest);
            prop_assert_eq!(start + end, wire.len());
            prop_assert_eq!(&got, &expected, "split at {}", split);

            // Resumable: one call with the prefix, then calls with everything.
            let mut parser = CommandParser::new();
            let mut got = Vec::new();
            let mut start = 0;
            let mut available = split;
            while start < wire.len() {
                match parser.parse(&wire[start..available], &limits) {
                    Ok(Some(consumed)) => {
                        got.push(checked_args(&wire[start..], consumed, parser.args()));
                        start += consumed;
                    }
                    Ok(None) => {
                        prop_assert!(available < wire.len(), "complete input left unparsed");
                        available = wire.len();
                    }
                    Err(e) => panic!("well-formed input rejected: {e:?}"),
                }
            }
            prop_assert_eq!(&got, &expected, "split at {}", split);
        }
    }

    #[test]
    fn truncated_commands_are_incomplete(command in prop_oneof![resp_command(), inline_command()]) {
        let limits = Limits::default();
        for end in 0..command.wire.len() {
            prop_assert_eq!(
                parse_command(&command.wire[..end], &limits, &mut Vec::new()),
                Ok(None),
                "prefix of {} bytes", end
            );
        }
    }

    #[test]
    fn reply_pipelines_parse_the_same_however_they_are_split(values in vec(value(), 1..5)) {
        let limits = Limits::default();
        let mut wire = Vec::new();
        for value in &values {
            value.encode(&mut wire);
        }
        let (whole, consumed) = parse_replies(&wire, &limits);
        prop_assert_eq!(&whole, &values);
        prop_assert_eq!(consumed, wire.len());

        for split in 0..=wire.len() {
            let (mut got, start) = parse_replies(&wire[..split], &limits);
            let (rest, end) = parse_replies(&wire[start..], &limits);
            got.extend(rest);
            prop_assert_eq!(start + end, wire.len());
            prop_assert_eq!(&got, &values, "split at {}", split);
        }
    }

    #[test]
    fn truncated_replies_are_incomplete(value in value()) {
        let limits = Limits::default();
        let mut wire = Vec::new();
        value.encode(&mut wire);
        for end in 0..wire.len() {
            prop_assert_eq!(parse_reply(&wire[..end], &limits), Ok(None), "prefix of {} bytes", end);
            prop_assert_eq!(skip_reply(&wire[..end], &limits), Ok(None), "prefix of {} bytes", end);
        }
    }
}

#[test]
fn a_corrupted_payload_is_an_error_not_incomplete() {
    let mut wire = Vec::new();
    encode_command(&mut wire, &[b"SET", b"k", b"v"]);
    let corrupt = wire.len() - 3; // the 'v' payload's length is 1; put a byte where its CRLF belongs
    wire.insert(corrupt + 1, b'x');
    assert_eq!(
        parse_command(&wire, &Limits::default(), &mut Vec::new()),
        Err(ProtocolError::MissingCrlf)
    );
}
