//! DEBUG DIGEST and DIGEST-VALUE: a 20-byte fingerprint of the whole dataset, or of one value, that two equal
//! datasets (or values) share whatever their encodings and whatever order their keys, set members or hash
//! fields were added in. Redis's tests take one before an operation and compare it after (a COPY, a RENAME, a
//! reload); the bytes are not Redis's own (it uses SHA-1 over its internal layout), only the equalities hold.
//!
//! Unordered things (keys, set members, hash fields) are combined by XOR of their own SHA-256 digests, ordered
//! ones (list elements, a sorted set's members by score) are hashed in sequence. An empty dataset, or a
//! missing key, digests to zeros, as in Redis.

use sha2::{Digest as _, Sha256};

use super::store::ValueRef;
use super::types::zset::format_score;
use super::types::{Collection, Kind};

/// A fingerprint: 20 bytes, written as 40 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest([u8; 20]);

impl Digest {
    /// Folds `other` in, order-independently.
    pub fn mix(&mut self, other: Digest) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a ^= b;
        }
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Hashes length-prefixed parts, so that ("ab", "c") and ("a", "bc") differ.
fn of_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Digest {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let mut out = [0; 20];
    out.copy_from_slice(&hasher.finalize()[..20]);
    Digest(out)
}

/// The digest of one value (DEBUG DIGEST-VALUE).
pub fn of_value(value: ValueRef<'_>) -> Digest {
    let (kind, body) = match value {
        ValueRef::String(bytes) => (Kind::String, of_parts([bytes])),
        ValueRef::Collection(collection) => (collection.kind(), of_collection(collection)),
    };
    of_parts([kind.name(), &body.0[..]])
}

fn of_collection(collection: &Collection) -> Digest {
    let mut all = Digest::default();
    match collection {
        Collection::List(list) => {
            let mut hasher = Sha256::new();
            for element in list.iter() {
                hasher.update(of_parts([element]).0);
            }
            all.0.copy_from_slice(&hasher.finalize()[..20]);
        }
        Collection::Set(set) => {
            for member in set.iter() {
                all.mix(of_parts([&*member]));
            }
        }
        Collection::Hash(hash) => {
            for (field, value) in hash.iter() {
                all.mix(of_parts([field, value]));
            }
        }
        Collection::ZSet(zset) => {
            // Members are unique, so a member with its score is one unordered item.
            for (member, score) in zset.iter() {
                all.mix(of_parts([member, format_score(score).as_bytes()]));
            }
        }
    }
    all
}

/// The digest of one key of a dataset: its name, its value and whether and when it expires.
pub fn of_key(key: &[u8], value: ValueRef<'_>, deadline: Option<u64>) -> Digest {
    let value = of_value(value);
    let deadline = deadline.map(u64::to_le_bytes);
    match &deadline {
        Some(at) => of_parts([key, &value.0[..], b"expires", &at[..]]),
        None => of_parts([key, &value.0[..]]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::resp::types::{Hash, Set};

    #[test]
    fn order_and_encoding_do_not_change_a_digest_but_content_does() {
        let (mut a, mut b) = (Set::default(), Set::default());
        for m in ["1", "2", "x"] {
            a.insert(m.as_bytes());
        }
        for m in ["x", "2", "1"] {
            b.insert(m.as_bytes());
        }
        let digest = |s: &Set| of_value(ValueRef::Collection(&s.clone().into()));
        assert_eq!(digest(&a), digest(&b));
        b.remove(b"x");
        assert_ne!(digest(&a), digest(&b));
        let mut c = Set::default();
        c.insert(b"1");
        c.insert(b"2");
        assert!(!b.is_compact() && c.is_compact());
        assert_eq!(
            digest(&b),
            digest(&c),
            "a table and an intset of the same members"
        );

        let mut h = Hash::default();
        h.insert(b"1", b"2");
        let hash = of_value(ValueRef::Collection(&Collection::Hash(h)));
        assert_ne!(hash, digest(&c), "a hash is not the set of its parts");
        assert_ne!(
            of_key(b"k", ValueRef::String(b"v"), None),
            of_key(b"k", ValueRef::String(b"v"), Some(1))
        );
        let mut all = Digest::default();
        all.mix(hash);
        all.mix(hash);
        assert_eq!(all.hex(), "0".repeat(40));
    }
}
