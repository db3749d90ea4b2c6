//! DUMP and RESTORE's payload: one value in Redis's RDB serialization, so that a value dumped by pincore-server
//! restores into redis-server and one dumped by redis-server (7.0 or older) restores here.
//!
//! ```text
//! payload  type: u8   value (RDB encoding of that type)   rdb version: u16 LE   crc64: u64 LE
//! ```
//!
//! The checksum is Redis's CRC-64 (Jones polynomial, reflected) of every byte before it. Values are written
//! in the plain RDB forms every Redis since 2.x reads: a string, a list of strings (`RDB_TYPE_LIST`), a set,
//! a hash, a sorted set with binary scores (`RDB_TYPE_ZSET_2`); Redis re-encodes them compactly as it loads
//! them, as pincore does. Read are those and the compact forms Redis 7.0 writes: intsets, listpacks (small
//! hashes and sorted sets) and quicklists of listpacks (lists), with strings stored as integers or
//! LZF-compressed. Older compact forms (zipmap, ziplist, quicklists of ziplists) and streams are refused as
//! Redis refuses a payload it cannot read: `Bad data format`.
//!
//! Reading is bounded by the payload: every count must fit in the bytes left (an element takes at least one
//! byte), and a compressed string may not expand past `max_bulk_len`, so a crafted payload cannot make
//! RESTORE allocate more than a value a client could send.

use super::store::{Value, ValueRef};
use super::types::{list::End, Collection, Hash, List, Set, ZSet};

/// The RDB version written; a payload of a later version is refused, as Redis 7.0 refuses one.
pub const RDB_VERSION: u16 = 10;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;

/// A quicklist node holding one element as a plain string, or a listpack of several.
const QUICKLIST_PLAIN: u64 = 1;
const QUICKLIST_PACKED: u64 = 2;

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Why a payload was refused, in Redis's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The footer's version is newer than this reader, or the checksum does not match.
    VersionOrChecksum,
    /// The bytes are not a value this reader knows.
    BadFormat,
}

impl Refused {
    pub fn message(self) -> &'static [u8] {
        match self {
            Refused::VersionOrChecksum => b"ERR DUMP payload version or checksum are wrong",
            Refused::BadFormat => b"ERR Bad data format",
        }
    }
}

/// The payload DUMP answers for `value`.
pub fn serialize(value: ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    put_object(&mut out, None, value);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One key of an RDB file: its type, its name, its value (see [`super::rdb`]).
pub fn put_record(out: &mut Vec<u8>, key: &[u8], value: ValueRef<'_>) {
    put_object(out, Some(key), value);
}

/// Redis's CRC-64 of `bytes` (the checksum of payloads and RDB files).
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

/// RDB's length encoding, public for the RDB file's own fields.
pub fn put_rdb_len(out: &mut Vec<u8>, len: u64) {
    put_len(out, len);
}

/// RDB's plain string encoding.
pub fn put_rdb_string(out: &mut Vec<u8>, bytes: &[u8]) {
    put_string(out, bytes);
}

/// The type byte, then the key (in an RDB file; none in a DUMP payload), then the value.
fn put_object(out: &mut Vec<u8>, key: Option<&[u8]>, value: ValueRef<'_>) {
    let kind = match value {
        ValueRef::String(_) => TYPE_STRING,
        ValueRef::Collection(Collection::List(_)) => TYPE_LIST,
        ValueRef::Collection(Collection::Set(_)) => TYPE_SET,
        ValueRef::Collection(Collection::Hash(_)) => TYPE_HASH,
        ValueRef::Collection(Collection::ZSet(_)) => TYPE_ZSET_2,
    };
    out.push(kind);
    if let Some(key) = key {
        put_string(out, key);
    }
    match value {
        ValueRef::String(bytes) => put_string(out, bytes),
        ValueRef::Collection(Collection::List(list)) => {
            put_len(out, list.len() as u64);
            list.iter().for_each(|e| put_string(out, e));
        }
        ValueRef::Collection(Collection::Set(set)) => {
            put_len(out, set.len() as u64);
            set.iter().for_each(|m| put_string(out, &m));
        }
        ValueRef::Collection(Collection::Hash(hash)) => {
            put_len(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                put_string(out, field);
                put_string(out, value);
            }
        }
        ValueRef::Collection(Collection::ZSet(zset)) => {
            put_len(out, zset.len() as u64);
            for (member, score) in zset.iter() {
                put_string(out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

/// The value in `payload`, after its version and checksum are checked (Redis's `verifyDumpPayload`).
/// Strings may not expand past `max_bulk_len`.
pub fn deserialize(payload: &[u8], max_bulk_len: usize) -> Result<Value, Refused> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(Refused::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
    if version > RDB_VERSION || CRC64.checksum(&payload[..body_len + 2]) != crc {
        return Err(Refused::VersionOrChecksum);
    }
    let mut reader = Reader {
        input: body,
        max_bulk_len,
    };
    let value = reader.value()?;
    if !reader.input.is_empty() {
        return Err(Refused::BadFormat);
    }
    Ok(value)
}

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// An RDB length: a count, or (the two top bits set) a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// A cursor over RDB-encoded bytes: a DUMP payload's body here, a whole RDB file in [`super::rdb`].
pub struct Reader<'a> {
    input: &'a [u8],
    max_bulk_len: usize,
}

impl<'a> Reader<'a> {
    /// Reads `input`; strings may not expand past `max_bulk_len`.
    pub fn new(input: &'a [u8], max_bulk_len: usize) -> Reader<'a> {
        Reader {
            input,
            max_bulk_len,
        }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.input
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Refused> {
        if n > self.input.len() {
            return Err(Refused::BadFormat);
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    pub fn byte(&mut self) -> Result<u8, Refused> {
        Ok(self.take(1)?[0])
    }

    fn raw_len(&mut self) -> Result<Len, Refused> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            2 if first == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            ))),
            2 if first == 0x81 => Len::Plain(u64::from_be_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => return Err(Refused::BadFormat),
            _ => Len::Encoded(first & 0x3f),
        })
    }

    pub fn length(&mut self) -> Result<u64, Refused> {
        match self.raw_len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(Refused::BadFormat),
        }
    }

    /// A count of things of at least `min_bytes` each, which must fit in what is left.
    fn count(&mut self, min_bytes: usize) -> Result<usize, Refused> {
        let n = usize::try_from(self.length()?).map_err(|_| Refused::BadFormat)?;
        if n == 0 || n.saturating_mul(min_bytes) > self.input.len() {
            // Redis refuses an empty collection too.
            return Err(Refused::BadFormat);
        }
        Ok(n)
    }

    pub fn string(&mut self) -> Result<Vec<u8>, Refused> {
        match self.raw_len()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| Refused::BadFormat)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => {
                let b = self.take(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Len::Encoded(2) => {
                let b = self.take(4)?.try_into().expect("4 bytes");
                Ok(i32::from_le_bytes(b).to_string().into_bytes())
            }
            Len::Encoded(3) => {
                let compressed = usize::try_from(self.length()?).map_err(|_| Refused::BadFormat)?;
                let expanded = usize::try_from(self.length()?).map_err(|_| Refused::BadFormat)?;
                if expanded > self.max_bulk_len {
                    return Err(Refused::BadFormat);
                }
                lzf_decompress(self.take(compressed)?, expanded)
            }
            Len::Encoded(_) => Err(Refused::BadFormat),
        }
    }

    /// A score written as text: a length byte, or 253 (NaN), 254 (+inf), 255 (-inf).
    fn text_score(&mut self) -> Result<f64, Refused> {
        match self.byte()? {
            253 => Err(Refused::BadFormat),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => score(self.take(usize::from(n))?),
        }
    }

    fn value(&mut self) -> Result<Value, Refused> {
        let kind = self.byte()?;
        self.value_of(kind)
    }

    /// A value of RDB type `kind` (its type byte already read); an unknown type is `BadFormat`.
    pub fn value_of(&mut self, kind: u8) -> Result<Value, Refused> {
        let collection: Collection = match kind {
            TYPE_STRING => return Ok(Value::String(self.string()?)),
            TYPE_LIST => {
                let mut list = List::default();
                for _ in 0..self.count(1)? {
                    list.push(End::Right, &self.string()?);
                }
                list.into()
            }
            TYPE_SET => {
                let mut set = Set::default();
                for _ in 0..self.count(1)? {
                    if !set.insert(&self.string()?) {
                        return Err(Refused::BadFormat);
                    }
                }
                set.into()
            }
            TYPE_SET_INTSET => intset(&self.string()?)?.into(),
            TYPE_HASH => {
                let mut hash = Hash::default();
                for _ in 0..self.count(2)? {
                    let field = self.string()?;
                    if !hash.insert(&field, &self.string()?) {
                        return Err(Refused::BadFormat);
                    }
                }
                hash.into()
            }
            kind @ (TYPE_ZSET | TYPE_ZSET_2) => {
                let mut zset = ZSet::default();
                for _ in 0..self.count(2)? {
                    let member = self.string()?;
                    let score = if kind == TYPE_ZSET {
                        self.text_score()?
                    } else {
                        let s = f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
                        if s.is_nan() {
                            return Err(Refused::BadFormat);
                        }
                        s
                    };
                    if !zset.insert(&member, score) {
                        return Err(Refused::BadFormat);
                    }
                }
                zset.into()
            }
            TYPE_HASH_LISTPACK => {
                let entries = listpack(&self.string()?)?;
                let mut hash = Hash::default();
                for pair in pairs(&entries)? {
                    if !hash.insert(&pair[0], &pair[1]) {
                        return Err(Refused::BadFormat);
                    }
                }
                hash.into()
            }
            TYPE_ZSET_LISTPACK => {
                let entries = listpack(&self.string()?)?;
                let mut zset = ZSet::default();
                for pair in pairs(&entries)? {
                    if !zset.insert(&pair[0], score(&pair[1])?) {
                        return Err(Refused::BadFormat);
                    }
                }
                zset.into()
            }
            TYPE_LIST_QUICKLIST_2 => {
                let mut list = List::default();
                for _ in 0..self.count(2)? {
                    let container = self.length()?;
                    let node = self.string()?;
                    match container {
                        QUICKLIST_PLAIN => list.push(End::Right, &node),
                        QUICKLIST_PACKED => {
                            // An empty node is skipped, as Redis skips it.
                            for element in listpack(&node)? {
                                list.push(End::Right, &element);
                            }
                        }
                        _ => return Err(Refused::BadFormat),
                    }
                }
                if list.is_empty() {
                    return Err(Refused::BadFormat);
                }
                list.into()
            }
            _ => return Err(Refused::BadFormat),
        };
        Ok(Value::Collection(Box::new(collection)))
    }
}

/// A sorted-set score as Redis writes one in text; NaN is refused.
fn score(text: &[u8]) -> Result<f64, Refused> {
    let text = std::str::from_utf8(text).map_err(|_| Refused::BadFormat)?;
    match text.parse::<f64>() {
        Ok(s) if !s.is_nan() => Ok(s),
        _ => Err(Refused::BadFormat),
    }
}

/// Field-value (or member-score) pairs of a listpack; an odd count or an empty one is refused.
fn pairs(entries: &[Vec<u8>]) -> Result<std::slice::ChunksExact<'_, Vec<u8>>, Refused> {
    if entries.is_empty() || !entries.len().is_multiple_of(2) {
        return Err(Refused::BadFormat);
    }
    Ok(entries.chunks_exact(2))
}

/// The members of an intset: `encoding: u32 LE` (2, 4 or 8 bytes each), `length: u32 LE`, the integers LE.
fn intset(blob: &[u8]) -> Result<Set, Refused> {
    if blob.len() < 8 {
        return Err(Refused::BadFormat);
    }
    let width = u32::from_le_bytes(blob[0..4].try_into().expect("4 bytes")) as usize;
    let len = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
    let contents = &blob[8..];
    if !matches!(width, 2 | 4 | 8) || len == 0 || contents.len() != len.saturating_mul(width) {
        return Err(Refused::BadFormat);
    }
    let mut set = Set::default();
    for chunk in contents.chunks_exact(width) {
        let n = match width {
            2 => i64::from(i16::from_le_bytes([chunk[0], chunk[1]])),
            4 => i64::from(i32::from_le_bytes(chunk.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(chunk.try_into().expect("8 bytes")),
        };
        if !set.insert(n.to_string().as_bytes()) {
            return Err(Refused::BadFormat);
        }
    }
    Ok(set)
}

/// The entries of a listpack, integers as their decimal text: `total bytes: u32 LE`, `count: u16 LE`, then
/// entries (an encoding byte, its data, the entry's length backwards in 1-5 bytes), then 0xFF.
fn listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, Refused> {
    if blob.len() < 7
        || u32::from_le_bytes(blob[0..4].try_into().expect("4 bytes")) as usize != blob.len()
    {
        return Err(Refused::BadFormat);
    }
    let mut at = 6;
    let mut entries = Vec::new();
    loop {
        let start = at;
        let first = *blob.get(at).ok_or(Refused::BadFormat)?;
        if first == 0xff {
            break;
        }
        let int = |bytes: usize, at: usize| -> Result<i64, Refused> {
            let b = blob.get(at..at + bytes).ok_or(Refused::BadFormat)?;
            let mut raw = [0u8; 8];
            raw[..bytes].copy_from_slice(b);
            // Sign-extend from the top bit of the last byte.
            if b[bytes - 1] & 0x80 != 0 {
                raw[bytes..].fill(0xff);
            }
            Ok(i64::from_le_bytes(raw))
        };
        let (entry, data_end): (Vec<u8>, usize) = if first & 0x80 == 0 {
            ((first & 0x7f).to_string().into_bytes(), at + 1)
        } else if first & 0xc0 == 0x80 {
            let len = usize::from(first & 0x3f);
            let data = blob.get(at + 1..at + 1 + len).ok_or(Refused::BadFormat)?;
            (data.to_vec(), at + 1 + len)
        } else if first & 0xe0 == 0xc0 {
            let second = *blob.get(at + 1).ok_or(Refused::BadFormat)?;
            // 13 bits, two's complement.
            let raw = i64::from(first & 0x1f) << 8 | i64::from(second);
            let value = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
            (value.to_string().into_bytes(), at + 2)
        } else if first & 0xf0 == 0xe0 {
            let second = *blob.get(at + 1).ok_or(Refused::BadFormat)?;
            let len = usize::from(first & 0x0f) << 8 | usize::from(second);
            let data = blob.get(at + 2..at + 2 + len).ok_or(Refused::BadFormat)?;
            (data.to_vec(), at + 2 + len)
        } else {
            match first {
                0xf0 => {
                    let b = blob.get(at + 1..at + 5).ok_or(Refused::BadFormat)?;
                    let len = u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
                    let data = blob
                        .get(at + 5..(at + 5).saturating_add(len))
                        .ok_or(Refused::BadFormat)?;
                    (data.to_vec(), at + 5 + len)
                }
                0xf1 => (int(2, at + 1)?.to_string().into_bytes(), at + 3),
                0xf2 => (int(3, at + 1)?.to_string().into_bytes(), at + 4),
                0xf3 => (int(4, at + 1)?.to_string().into_bytes(), at + 5),
                0xf4 => (int(8, at + 1)?.to_string().into_bytes(), at + 9),
                _ => return Err(Refused::BadFormat),
            }
        };
        let entry_len = data_end - start;
        let backlen = match entry_len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        at = data_end + backlen;
        entries.push(entry);
    }
    let declared = u16::from_le_bytes([blob[4], blob[5]]);
    // 65535 means "too many to count here"; any other count must be the real one.
    if at + 1 != blob.len() || (declared != u16::MAX && usize::from(declared) != entries.len()) {
        return Err(Refused::BadFormat);
    }
    Ok(entries)
}

/// LZF (Redis's `lzf_d.c`): literal runs (`000LLLLL`, L+1 bytes follow) and back references (`LLLOOOOO`
/// `[more length]` `offset low byte`: copy L+2 bytes from offset+1 back). The output must come to exactly
/// `expanded` bytes.
fn lzf_decompress(input: &[u8], expanded: usize) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::with_capacity(expanded);
    let mut at = 0;
    while at < input.len() {
        let control = usize::from(input[at]);
        at += 1;
        if control < 32 {
            let run = input.get(at..at + control + 1).ok_or(Refused::BadFormat)?;
            out.extend_from_slice(run);
            at += control + 1;
        } else {
            let mut len = control >> 5;
            if len == 7 {
                len += usize::from(*input.get(at).ok_or(Refused::BadFormat)?);
                at += 1;
            }
            let low = usize::from(*input.get(at).ok_or(Refused::BadFormat)?);
            at += 1;
            let back = ((control & 0x1f) << 8) + low + 1;
            let from = out.len().checked_sub(back).ok_or(Refused::BadFormat)?;
            // Byte by byte: a reference may overlap what it writes (a run of a repeated pattern).
            for i in 0..len + 2 {
                let byte = out[from + i];
                out.push(byte);
            }
        }
        if out.len() > expanded {
            return Err(Refused::BadFormat);
        }
    }
    if out.len() != expanded {
        return Err(Refused::BadFormat);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(value: ValueRef<'_>) -> Value {
        deserialize(&serialize(value), 1 << 20).expect("own payload reads back")
    }

    #[test]
    fn a_string_payload_is_redis_s_bytes() {
        // DUMP of "bar" in redis-server 7.0.15.
        let redis = b"\x00\x03bar\x0a\x00\xe6\xbe\x49\x60\xee\x66\xfd\x17";
        assert_eq!(serialize(ValueRef::String(b"bar")), redis);
        assert!(matches!(deserialize(redis, 100), Ok(Value::String(s)) if s == b"bar"));
    }

    #[test]
    fn redis_s_compact_payloads_read() {
        // redis-server 7.0.15's DUMP of "12345" (an integer), of 100 × "a" (LZF) and of a small hash.
        let int = b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9";
        assert!(matches!(deserialize(int, 100), Ok(Value::String(s)) if s == b"12345"));
        let lzf = b"\x00\xc3\x09\x40\x64\x01\x61\x61\xe0\x57\x00\x01\x61\x61\x0a\x00\xe8\xa3\xb5\x07\xb0\x6d\xf2\x71";
        assert!(matches!(deserialize(lzf, 100), Ok(Value::String(s)) if s == [b'a'; 100]));
        assert_eq!(deserialize(lzf, 99).err(), Some(Refused::BadFormat));
        let hash = b"\x10\x0d\x0d\x00\x00\x00\x02\x00\x81f\x02\x81v\x02\xff\x0a\x00\x20\xf1\x3d\x44\x23\x54\x08\x9d";
        let Ok(Value::Collection(c)) = deserialize(hash, 100) else {
            panic!("a hash")
        };
        let Collection::Hash(h) = *c else {
            panic!("a hash")
        };
        assert_eq!(h.iter().collect::<Vec<_>>(), vec![(&b"f"[..], &b"v"[..])]);
    }

    #[test]
    fn collections_read_back_as_written() {
        let mut zset = ZSet::default();
        zset.insert(b"a", 1.5);
        zset.insert(b"b", f64::NEG_INFINITY);
        let Value::Collection(back) = roundtrip(ValueRef::Collection(&zset.into())) else {
            panic!("a sorted set")
        };
        let Collection::ZSet(back) = *back else {
            panic!("a sorted set")
        };
        let got: Vec<(Vec<u8>, f64)> = back.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(
            got,
            vec![(b"b".to_vec(), f64::NEG_INFINITY), (b"a".to_vec(), 1.5)]
        );
    }

    #[test]
    fn a_bad_checksum_or_a_newer_version_is_refused() {
        let mut payload = serialize(ValueRef::String(b"bar"));
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert_eq!(
            deserialize(&payload, 100).err(),
            Some(Refused::VersionOrChecksum)
        );
        let mut newer = b"\x00\x03bar".to_vec();
        newer.extend_from_slice(&11u16.to_le_bytes());
        let crc = CRC64.checksum(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            deserialize(&newer, 100).err(),
            Some(Refused::VersionOrChecksum)
        );
        assert_eq!(
            deserialize(b"short", 100).err(),
            Some(Refused::VersionOrChecksum)
        );
    }

    #[test]
    fn counts_past_the_payload_are_bad_data() {
        // A list claiming 2^32 elements in a few bytes.
        let mut body = vec![TYPE_LIST, 0x80, 0xff, 0xff, 0xff, 0xff, 1, b'x'];
        body.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(deserialize(&body, 100).err(), Some(Refused::BadFormat));
    }

    #[test]
    fn lzf_runs_and_overlapping_references_expand() {
        // "aaaaaaaaaa": a literal "a", then a reference of 9 bytes one back (len 7 + 0, offset 0).
        let compressed = [0x00, b'a', 0xe0, 0x00, 0x00];
        assert_eq!(lzf_decompress(&compressed, 10).unwrap(), b"aaaaaaaaaa");
        assert_eq!(lzf_decompress(&compressed, 9), Err(Refused::BadFormat));
        assert_eq!(lzf_decompress(&[0x20, 0x05], 3), Err(Refused::BadFormat));
    }

    #[test]
    fn listpack_entries_of_every_encoding() {
        let mut blob = vec![0, 0, 0, 0, 4, 0];
        blob.extend_from_slice(&[0x05, 1]); // 7-bit uint 5
        blob.extend_from_slice(&[0x83, b'a', b'b', b'c', 4]); // 6-bit string
        blob.extend_from_slice(&[0xdf, 0xff, 2]); // 13-bit int -1
        blob.extend_from_slice(&[0xf3, 0x00, 0x00, 0x00, 0x80, 5]); // int32 min
        blob.push(0xff);
        let total = blob.len() as u32;
        blob[0..4].copy_from_slice(&total.to_le_bytes());
        let entries = listpack(&blob).unwrap();
        let text: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        assert_eq!(text, vec![&b"5"[..], b"abc", b"-1", b"-2147483648"]);
    }
}
