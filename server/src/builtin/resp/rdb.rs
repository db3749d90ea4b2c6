//! A whole dataset as an RDB file, version 10 as Redis 7.0 writes it: what a replica receives after SYNC.
//!
//! ```text
//! "REDIS0010"   aux fields (0xFA name value)   SELECTDB 0 (0xFE)   RESIZEDB keys expires (0xFB)
//! per key: [0xFC deadline: u64 LE Unix ms] type key value   EOF (0xFF)   CRC-64: u64 LE
//! ```
//!
//! Values are in the encodings DUMP writes ([`super::dump`]); redis-server re-encodes them as it loads.
//! Encoding is split from checksumming: the records are written while every part is held (the copy of the
//! dataset a replica's stream starts from), the checksum and the EOF off the locks ([`finish`]).
//!
//! [`read`] reads such a file back (an append-only file's base, see [`super::aof`]), and the files Redis 7.0
//! writes: every value encoding DUMP payloads may carry, idle and frequency fields skipped. Files holding
//! functions, modules' data, streams or another database than 0 are refused with what they hold.

use std::time::Instant;

use super::dump::{crc64, put_rdb_len, put_rdb_string, put_record, Reader, RDB_VERSION};
use super::expiry::Clock;
use super::store::{from_nanos, Store, Value};

const OPCODE_FUNCTION: u8 = 0xF5;
const OPCODE_FUNCTION_OLD: u8 = 0xF6;
const OPCODE_MODULE_AUX: u8 = 0xF7;
const OPCODE_IDLE: u8 = 0xF8;
const OPCODE_FREQ: u8 = 0xF9;
const OPCODE_AUX: u8 = 0xFA;
const OPCODE_RESIZEDB: u8 = 0xFB;
const OPCODE_EXPIRETIME_MS: u8 = 0xFC;
const OPCODE_EXPIRETIME: u8 = 0xFD;
const OPCODE_SELECTDB: u8 = 0xFE;
const OPCODE_EOF: u8 = 0xFF;

/// What the aux fields say about where the file stands in the replication stream.
pub struct Origin<'a> {
    pub replid: &'a str,
    pub offset: u64,
    /// The file is an append-only file's base (`aof-base` 1), not a replica's copy.
    pub aof_base: bool,
}

/// A buffer for a copy of the dataset of about `bytes` bytes, its pages already touched: taken before the
/// parts are locked, so that the copy made under their locks neither grows the buffer (copying what it
/// holds) nor waits for the kernel to supply fresh pages. Costs that much memory until the copy is done.
pub fn buffer_for(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes);
    // Written, not only allocated: a zeroed allocation would be the kernel's shared zero page until the
    // copy first wrote to it.
    out.resize(bytes, 1);
    out.clear();
    out
}

/// The header, aux fields, SELECTDB and RESIZEDB for `keys` keys of which `expires` have a deadline, in
/// `out` (emptied first; see [`buffer_for`]).
pub fn begin(
    mut out: Vec<u8>,
    origin: &Origin<'_>,
    keys: usize,
    expires: usize,
    unix_ms: i64,
) -> Vec<u8> {
    out.clear();
    out.extend_from_slice(b"REDIS0010");
    let offset = origin.offset.to_string();
    let ctime = (unix_ms / 1000).to_string();
    let aux: [(&str, &str); 7] = [
        ("redis-ver", "7.0.15"),
        ("redis-bits", "64"),
        ("ctime", &ctime),
        ("used-mem", "0"),
        ("repl-stream-db", "0"),
        ("repl-id", origin.replid),
        ("repl-offset", &offset),
    ];
    for (name, value) in aux {
        out.push(OPCODE_AUX);
        put_rdb_string(&mut out, name.as_bytes());
        put_rdb_string(&mut out, value.as_bytes());
    }
    out.extend_from_slice(&[OPCODE_AUX]);
    put_rdb_string(&mut out, b"aof-base");
    put_rdb_string(&mut out, if origin.aof_base { b"1" } else { b"0" });
    out.push(OPCODE_SELECTDB);
    put_rdb_len(&mut out, 0);
    out.push(OPCODE_RESIZEDB);
    put_rdb_len(&mut out, keys as u64);
    put_rdb_len(&mut out, expires as u64);
    out
}

/// Appends every live key of `store` as a record; deadlines as Unix ms read against `clock`.
pub fn put_store(out: &mut Vec<u8>, store: &Store, now: Instant, clock: &Clock) {
    store.for_each_value(now, |key, value, deadline| {
        if let Some(nanos) = deadline {
            out.push(OPCODE_EXPIRETIME_MS);
            let ms = clock.unix_ms_of(from_nanos(nanos));
            out.extend_from_slice(&ms.to_le_bytes());
        }
        put_record(out, key, value);
    });
}

/// Ends the file: EOF and the checksum of everything before it.
pub fn finish(mut out: Vec<u8>) -> Vec<u8> {
    out.push(OPCODE_EOF);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads the RDB file `bytes`, checksum first, handing each key to `each` with its deadline (Unix ms), and
/// answers how many keys it held. Strings may not expand past `max_bulk_len`. Errors say what and at which
/// byte.
pub fn read(
    bytes: &[u8],
    max_bulk_len: usize,
    mut each: impl FnMut(Vec<u8>, Value, Option<i64>),
) -> Result<u64, String> {
    let version = bytes
        .get(..9)
        .filter(|head| head.starts_with(b"REDIS"))
        .and_then(|head| std::str::from_utf8(&head[5..]).ok()?.parse::<u16>().ok())
        .ok_or("it does not start with an RDB header (REDIS and a 4-digit version)")?;
    if version > RDB_VERSION {
        return Err(format!(
            "RDB version {version}; this build reads versions up to {RDB_VERSION} (Redis 7.0)"
        ));
    }
    let mut reader = Reader::new(&bytes[9..], max_bulk_len);
    let at = |reader: &Reader<'_>| bytes.len() - reader.rest().len();
    let bad = |reader: &Reader<'_>, what: &str| format!("{what} at byte {}", at(reader));
    let mut keys = 0;
    let mut deadline = None;
    loop {
        let opcode = reader
            .byte()
            .map_err(|_| bad(&reader, "truncated: no EOF marker"))?;
        let field = match opcode {
            OPCODE_EOF => break,
            OPCODE_AUX => reader.string().and_then(|_| reader.string()).map(|_| ()),
            OPCODE_RESIZEDB => reader.length().and_then(|_| reader.length()).map(|_| ()),
            OPCODE_IDLE => reader.length().map(|_| ()),
            OPCODE_FREQ => reader.byte().map(|_| ()),
            OPCODE_EXPIRETIME_MS => reader.take(8).map(|b| {
                deadline = Some(i64::from_le_bytes(b.try_into().expect("8 bytes")));
            }),
            OPCODE_EXPIRETIME => reader.take(4).map(|b| {
                let seconds = u32::from_le_bytes(b.try_into().expect("4 bytes"));
                deadline = Some(i64::from(seconds) * 1000);
            }),
            OPCODE_SELECTDB => match reader.length() {
                Ok(0) => Ok(()),
                Ok(db) => {
                    return Err(bad(
                        &reader,
                        &format!("database {db} (pincore-server keeps one database, 0)"),
                    ))
                }
                Err(e) => Err(e),
            },
            OPCODE_FUNCTION | OPCODE_FUNCTION_OLD => {
                return Err(bad(
                    &reader,
                    "a function library (pincore-server has no scripting)",
                ))
            }
            OPCODE_MODULE_AUX => return Err(bad(&reader, "a module's data")),
            kind => {
                let key = reader
                    .string()
                    .map_err(|_| bad(&reader, "a key that cannot be read"))?;
                let value = reader.value_of(kind).map_err(|_| {
                    bad(
                        &reader,
                        &format!("a value of type {kind} that cannot be read (streams and modules' types are not supported)"),
                    )
                })?;
                each(key, value, deadline.take());
                keys += 1;
                continue;
            }
        };
        field.map_err(|_| {
            bad(
                &reader,
                &format!("a field (opcode {opcode:#04x}) that cannot be read"),
            )
        })?;
    }
    let rest = reader.rest();
    // Version 5 and later end with a CRC-64 of everything before it; zero means it was not computed.
    if version >= 5 {
        let stored = rest
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or("truncated: the checksum after EOF is missing")?;
        let body = &bytes[..bytes.len() - rest.len()];
        if stored != 0 && stored != crc64(body) {
            return Err(format!(
                "corrupt: its checksum is {stored:016x}, its bytes sum to {:016x}",
                crc64(body)
            ));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::resp::store::Value;

    #[test]
    fn an_empty_dataset_is_a_valid_rdb_file() {
        let origin = Origin {
            replid: "0123456789012345678901234567890123456789",
            offset: 7,
            aof_base: false,
        };
        let file = finish(begin(Vec::new(), &origin, 0, 0, 1_700_000_000_000));
        assert!(file.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15"));
        let body = &file[..file.len() - 8];
        assert_eq!(body.last(), Some(&OPCODE_EOF));
        assert_eq!(crc64(body).to_le_bytes(), file[file.len() - 8..]);
        assert!(file.windows(13).any(|w| w == b"\x0brepl-offset\x01"));
    }

    #[test]
    fn keys_carry_their_deadlines() {
        let mut store = Store::default();
        let now = Instant::now();
        store.put(b"k", Value::String(b"v".to_vec()), None, now);
        let mut out = Vec::new();
        put_store(&mut out, &store, now, &Clock::now());
        assert_eq!(out, b"\x00\x01k\x01v");
    }

    #[test]
    fn a_written_file_reads_back_with_its_deadlines() {
        let mut store = Store::default();
        let clock = Clock::now();
        let now = clock.instant();
        store.put(b"s", Value::String(b"v".to_vec()), None, now);
        let later = now + std::time::Duration::from_secs(100);
        store.put(b"t", Value::String(b"w".to_vec()), Some(later), now);
        let origin = Origin {
            replid: "0123456789012345678901234567890123456789",
            offset: 0,
            aof_base: true,
        };
        let mut file = begin(Vec::new(), &origin, 2, 1, clock.unix_ms());
        put_store(&mut file, &store, now, &clock);
        let file = finish(file);
        let mut seen = Vec::new();
        let keys = read(&file, 1 << 20, |k, v, d| seen.push((k, v, d))).unwrap();
        assert_eq!(keys, 2);
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(matches!(&seen[0], (k, Value::String(v), None) if k == b"s" && v == b"v"));
        let deadline = seen[1].2.expect("t has a deadline");
        assert!(
            (deadline - clock.unix_ms() - 100_000).abs() < 1000,
            "{deadline}"
        );
        // A flipped byte fails the checksum; a cut file has no EOF.
        let mut flipped = file.clone();
        flipped[12] ^= 1;
        assert!(read(&flipped, 1 << 20, |_, _, _| {}).is_err());
        let cut = &file[..file.len() - 12];
        let e = read(cut, 1 << 20, |_, _, _| {}).unwrap_err();
        assert!(
            e.contains("truncated") || e.contains("cannot be read"),
            "{e}"
        );
    }
}
