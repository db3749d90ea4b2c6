//! A hash: field → value. Up to `hash-max-listpack-entries` pairs of at most `hash-max-listpack-value` bytes
//! each (see [`super::encodings`]) it is one packed buffer of length-prefixed fields and values in insertion
//! order (Redis's listpack: one block, no table, a linear search over a few cache lines); past either bound it
//! becomes an insertion-ordered hash table for good, as Redis converts once.

use indexmap::IndexMap;

use super::{element, encodings};
use crate::builtin::resp::heap::chunk;

type Bytes = Box<[u8]>;

/// A hash is 16 bytes, so the collection box every key owns stays a 32-byte block (see the size test in
/// `types`).
#[derive(Debug, Clone)]
pub enum Hash {
    /// `[field length][field][value length][value]...`, each length a little-endian base-128 varint (one
    /// byte below 128), in a block of exactly that size (as a listpack is resized on every change: most
    /// hashes are written once and read many times). Its pairs are counted by walking them.
    Small(Box<[u8]>),
    Large(Box<Large>),
}

#[derive(Debug, Clone)]
pub struct Large {
    map: IndexMap<Bytes, Bytes, ahash::RandomState>,
    /// The blocks of every field and value.
    heap: usize,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Small(Box::default())
    }
}

/// The length-prefixed bytes at `*at` in a packed buffer, moving `at` past them.
fn packed_bytes<'a>(packed: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let byte = *packed.get(*at)?;
        *at += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let bytes = packed.get(*at..*at + len)?;
    *at += len;
    Some(bytes)
}

/// The pairs of a packed buffer: (where the pair starts, field, value, where it ends).
fn packed_pairs(packed: &[u8]) -> impl Iterator<Item = (usize, &[u8], &[u8], usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at;
        let field = packed_bytes(packed, &mut at)?;
        let value = packed_bytes(packed, &mut at)?;
        Some((start, field, value, at))
    })
}

fn push_bytes(packed: &mut Vec<u8>, bytes: &[u8]) {
    let mut len = bytes.len();
    while len >= 0x80 {
        packed.push((len & 0x7f) as u8 | 0x80);
        len >>= 7;
    }
    packed.push(len as u8);
    packed.extend_from_slice(bytes);
}

fn push_pair(packed: &mut Vec<u8>, field: &[u8], value: &[u8]) {
    push_bytes(packed, field);
    push_bytes(packed, value);
}

impl Hash {
    /// Still in its compact form (see the module's documentation).
    pub fn is_compact(&self) -> bool {
        matches!(self, Hash::Small(_))
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Small(packed) => packed_pairs(packed).count(),
            Hash::Large(large) => large.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Hash::Small(packed) => packed.is_empty(),
            Hash::Large(large) => large.map.is_empty(),
        }
    }

    /// Whether it has outgrown the compact encoding.
    pub fn is_large(&self) -> bool {
        matches!(self, Hash::Large(_))
    }

    pub fn bytes(&self) -> usize {
        match self {
            Hash::Small(packed) => element(packed.len()),
            // The map itself, an entry (hash and two boxes) and an index slot with its control byte.
            Hash::Large(large) => {
                large.heap + chunk(std::mem::size_of::<Large>()) + large.map.capacity() * (40 + 9)
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Small(packed) => packed_pairs(packed)
                .find(|(_, f, _, _)| *f == field)
                .map(|(_, _, v, _)| v),
            Hash::Large(large) => large.map.get(field).map(|v| &**v),
        }
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Small(packed) = self {
            let (max_entries, max_len) = encodings::hash();
            let mut found = None;
            let mut len = 0;
            for (start, f, _, end) in packed_pairs(packed) {
                if f == field {
                    found = Some((start, end));
                    break;
                }
                len += 1;
            }
            if field.len() <= max_len
                && value.len() <= max_len
                && (found.is_some() || len < max_entries)
            {
                let mut pair = Vec::with_capacity(6 + field.len() + value.len());
                push_pair(&mut pair, field, value);
                let mut bytes = Vec::from(std::mem::take(packed));
                match found {
                    Some((start, end)) => drop(bytes.splice(start..end, pair)),
                    None => {
                        bytes.reserve_exact(pair.len());
                        bytes.extend_from_slice(&pair);
                    }
                }
                *packed = bytes.into_boxed_slice();
                return found.is_none();
            }
            self.grow();
        }
        let Hash::Large(large) = self else {
            unreachable!("a hash past the compact bounds was made large just above")
        };
        large.heap += element(value.len());
        match large.map.insert(field.into(), value.into()) {
            Some(old) => {
                large.heap -= element(old.len());
                false
            }
            None => {
                large.heap += element(field.len());
                true
            }
        }
    }

    fn grow(&mut self) {
        if let Hash::Small(packed) = self {
            let mut map = IndexMap::with_capacity_and_hasher(
                packed_pairs(packed).count() + 1,
                Default::default(),
            );
            let mut heap = 0;
            for (_, field, value, _) in packed_pairs(packed) {
                heap += element(field.len()) + element(value.len());
                map.insert(Bytes::from(field), Bytes::from(value));
            }
            *self = Hash::Large(Box::new(Large { map, heap }));
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Small(packed) => {
                let found = packed_pairs(packed)
                    .find(|(_, f, _, _)| *f == field)
                    .map(|(start, _, _, end)| (start, end));
                let Some((start, end)) = found else {
                    return false;
                };
                let mut bytes = Vec::from(std::mem::take(packed));
                bytes.drain(start..end);
                *packed = bytes.into_boxed_slice();
                true
            }
            // Order is no promise of a large hash (Redis's is a hash table's): the last entry fills the gap.
            Hash::Large(large) => match large.map.swap_remove_entry(field) {
                Some((f, v)) => {
                    large.heap -= element(f.len()) + element(v.len());
                    true
                }
                None => false,
            },
        }
    }

    /// The pair at `index` (< len), for HRANDFIELD.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Small(packed) => packed_pairs(packed).nth(index).map(|(_, f, v, _)| (f, v)),
            Hash::Large(large) => large.map.get_index(index).map(|(f, v)| (&**f, &**v)),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Small(packed) => Box::new(packed_pairs(packed).map(|(_, f, v, _)| (f, v))),
            Hash::Large(large) => Box::new(large.map.iter().map(|(f, v)| (&**f, &**v))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_SMALL_ENTRIES: usize = 512;
    const MAX_SMALL_LEN: usize = 64;

    #[test]
    fn lengths_past_a_byte_pack_and_unpack() {
        let mut packed = Vec::new();
        let long = vec![b'v'; 300];
        push_pair(&mut packed, b"f", &long);
        push_pair(&mut packed, &[b'g'; 127], b"");
        let pairs: Vec<_> = packed_pairs(&packed).map(|(_, f, v, _)| (f, v)).collect();
        assert_eq!(
            pairs,
            [(&b"f"[..], &long[..]), (&[b'g'; 127][..], &b""[..])]
        );
        assert_eq!(packed.len(), 1 + 1 + 2 + 300 + 1 + 127 + 1);
    }

    /// Run with the default bounds (nothing in the unit tests changes them).
    #[test]
    fn a_small_hash_keeps_insertion_order_and_grows_past_either_bound() {
        let mut h = Hash::default();
        for i in 0..MAX_SMALL_ENTRIES {
            assert!(h.insert(format!("f{i}").as_bytes(), b"v"));
        }
        assert!(!h.is_large());
        assert!(
            !h.insert(b"f0", b"w"),
            "an existing field is updated in place"
        );
        assert_eq!(h.iter().next(), Some((&b"f0"[..], &b"w"[..])));
        assert!(!h.is_large());
        assert!(h.insert(b"one more", b"v"));
        assert!(h.is_large());
        assert_eq!(h.len(), MAX_SMALL_ENTRIES + 1);
        assert_eq!(h.get(b"f7"), Some(&b"v"[..]));

        let mut long = Hash::default();
        long.insert(b"f", &[b'x'; MAX_SMALL_LEN]);
        assert!(!long.is_large());
        long.insert(b"g", &[b'x'; MAX_SMALL_LEN + 1]);
        assert!(long.is_large());
        assert_eq!(long.get(b"f").map(<[u8]>::len), Some(MAX_SMALL_LEN));
    }

    #[test]
    fn heap_bytes_follow_every_change() {
        let mut h = Hash::default();
        h.insert(b"field", b"value");
        assert_eq!(h.bytes(), chunk(12), "one packed block of exactly its size");
        h.insert(b"field", b"other value");
        assert_eq!(h.get(b"field"), Some(&b"other value"[..]));
        assert!(h.remove(b"field") && h.is_empty());
        h.insert(b"field", &[b'v'; 100]);
        let heap = |h: &Hash| match h {
            Hash::Large(large) => large.heap,
            Hash::Small(_) => 0,
        };
        assert_eq!(heap(&h), element(5) + element(100));
        h.insert(b"", b"");
        assert_eq!(heap(&h), element(5) + element(100));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert!(h.remove(b"field"));
        assert!(!h.remove(b"field"));
        assert_eq!(heap(&h), 0);
        assert!(h.bytes() > 0, "the table's capacity is counted");
    }

    #[test]
    fn the_packed_form_updates_and_removes_in_place() {
        let mut h = Hash::default();
        for (f, v) in [("a", "1"), ("b", "22"), ("c", "333")] {
            assert!(h.insert(f.as_bytes(), v.as_bytes()));
        }
        assert!(!h.insert(b"b", b""));
        assert!(h.remove(b"a"));
        let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
        assert_eq!(pairs, [(&b"b"[..], &b""[..]), (&b"c"[..], &b"333"[..])]);
        assert_eq!((h.len(), h.nth(1)), (2, Some((&b"c"[..], &b"333"[..]))));
    }
}
