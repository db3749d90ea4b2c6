//! A hash: field → value. Up to [`MAX_SMALL_ENTRIES`] pairs of at most [`MAX_SMALL_LEN`] bytes each it is a
//! vector of pairs in insertion order (Redis's listpack: no table, a linear search over a few cache lines);
//! past either bound it becomes an insertion-ordered hash table for good, as Redis converts once.

use indexmap::IndexMap;

use super::element;

/// Redis's `hash-max-listpack-entries` default.
pub const MAX_SMALL_ENTRIES: usize = 128;
/// Redis's `hash-max-listpack-value` default.
pub const MAX_SMALL_LEN: usize = 64;

type Bytes = Box<[u8]>;

#[derive(Debug, Clone)]
enum Pairs {
    Small(Vec<(Bytes, Bytes)>),
    Large(IndexMap<Bytes, Bytes, ahash::RandomState>),
}

#[derive(Debug, Clone)]
pub struct Hash {
    pairs: Pairs,
    /// The blocks of every field and value.
    heap: usize,
}

impl Default for Hash {
    fn default() -> Hash {
        Hash {
            pairs: Pairs::Small(Vec::new()),
            heap: 0,
        }
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match &self.pairs {
            Pairs::Small(v) => v.len(),
            Pairs::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it has outgrown the compact encoding.
    pub fn is_large(&self) -> bool {
        matches!(self.pairs, Pairs::Large(_))
    }

    pub fn bytes(&self) -> usize {
        self.heap
            + match &self.pairs {
                Pairs::Small(v) => v.capacity() * std::mem::size_of::<(Bytes, Bytes)>(),
                // An entry (hash and two boxes) and an index slot with its control byte.
                Pairs::Large(m) => m.capacity() * (40 + 9),
            }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.pairs {
            Pairs::Small(v) => v.iter().find(|(f, _)| &**f == field).map(|(_, v)| &**v),
            Pairs::Large(m) => m.get(field).map(|v| &**v),
        }
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Pairs::Small(v) = &self.pairs {
            if field.len() > MAX_SMALL_LEN
                || value.len() > MAX_SMALL_LEN
                || (v.len() >= MAX_SMALL_ENTRIES && self.get(field).is_none())
            {
                self.grow();
            }
        }
        let value_cost = element(value.len());
        let old = match &mut self.pairs {
            Pairs::Small(v) => match v.iter_mut().find(|(f, _)| &**f == field) {
                Some((_, old)) => Some(std::mem::replace(old, value.into())),
                None => {
                    v.push((field.into(), value.into()));
                    None
                }
            },
            Pairs::Large(m) => m.insert(field.into(), value.into()),
        };
        self.heap += value_cost;
        match old {
            Some(old) => {
                self.heap -= element(old.len());
                false
            }
            None => {
                self.heap += element(field.len());
                true
            }
        }
    }

    fn grow(&mut self) {
        if let Pairs::Small(v) = &mut self.pairs {
            let mut map = IndexMap::with_capacity_and_hasher(v.len() + 1, Default::default());
            map.extend(v.drain(..));
            self.pairs = Pairs::Large(map);
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed = match &mut self.pairs {
            Pairs::Small(v) => v
                .iter()
                .position(|(f, _)| &**f == field)
                .map(|i| v.remove(i)),
            // Order is no promise of a large hash (Redis's is a hash table's): the last entry fills the gap.
            Pairs::Large(m) => m.swap_remove_entry(field),
        };
        match removed {
            Some((f, v)) => {
                self.heap -= element(f.len()) + element(v.len());
                true
            }
            None => false,
        }
    }

    /// The pair at `index` (< len), for HRANDFIELD.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match &self.pairs {
            Pairs::Small(v) => v.get(index).map(|(f, v)| (&**f, &**v)),
            Pairs::Large(m) => m.get_index(index).map(|(f, v)| (&**f, &**v)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.len()).filter_map(|i| self.nth(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(h.heap, element(5) + element(5));
        h.insert(b"field", &[b'v'; 100]);
        assert_eq!(h.heap, element(5) + element(100));
        h.insert(b"", b"");
        assert_eq!(h.heap, element(5) + element(100));
        assert!(h.remove(b"field"));
        assert!(!h.remove(b"field"));
        assert_eq!(h.heap, 0);
        assert!(h.bytes() > 0, "the table's capacity is counted");
    }
}
