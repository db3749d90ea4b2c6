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

use std::time::Instant;

use super::dump::{crc64, put_rdb_len, put_rdb_string, put_record};
use super::expiry::Clock;
use super::store::{from_nanos, Store};

const OPCODE_AUX: u8 = 0xFA;
const OPCODE_RESIZEDB: u8 = 0xFB;
const OPCODE_EXPIRETIME_MS: u8 = 0xFC;
const OPCODE_SELECTDB: u8 = 0xFE;
const OPCODE_EOF: u8 = 0xFF;

/// What the aux fields say about where the file stands in the replication stream.
pub struct Origin<'a> {
    pub replid: &'a str,
    pub offset: u64,
}

/// The header, aux fields, SELECTDB and RESIZEDB for `keys` keys of which `expires` have a deadline.
pub fn begin(origin: &Origin<'_>, keys: usize, expires: usize, unix_ms: i64) -> Vec<u8> {
    let mut out = b"REDIS0010".to_vec();
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
    put_rdb_string(&mut out, b"0");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::resp::store::Value;

    #[test]
    fn an_empty_dataset_is_a_valid_rdb_file() {
        let origin = Origin {
            replid: "0123456789012345678901234567890123456789",
            offset: 7,
        };
        let file = finish(begin(&origin, 0, 0, 1_700_000_000_000));
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
}
