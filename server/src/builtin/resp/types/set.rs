//! A set. While every member is an integer and there are at most `set-max-intset-entries` of them (see
//! [`super::encodings`]) it is a sorted
//! vector of `i64` (Redis's intset: 8 bytes a member, members listed in numeric order); a member that is
//! not an integer, or one too many, makes it a hash table for good.

use std::borrow::Cow;

use indexmap::IndexSet;

use super::{element, encodings};
use crate::builtin::resp::heap::chunk;
use crate::builtin::resp::integer::parse_i64;

type Bytes = Box<[u8]>;

#[derive(Debug, Clone)]
enum Members {
    Ints(Vec<i64>),
    Table(Box<IndexSet<Bytes, ahash::RandomState>>),
}

#[derive(Debug, Clone)]
pub struct Set {
    members: Members,
    /// The blocks of every member of the table.
    heap: usize,
}

impl Default for Set {
    fn default() -> Set {
        Set {
            members: Members::Ints(Vec::new()),
            heap: 0,
        }
    }
}

fn text(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

impl Set {
    /// Still in its compact form (see the module's documentation).
    pub fn is_compact(&self) -> bool {
        matches!(self.members, Members::Ints(_))
    }

    pub fn len(&self) -> usize {
        match &self.members {
            Members::Ints(v) => v.len(),
            Members::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_large(&self) -> bool {
        matches!(self.members, Members::Table(_))
    }

    pub fn bytes(&self) -> usize {
        self.heap
            + match &self.members {
                Members::Ints(v) => v.capacity() * 8,
                // An entry (hash and box) and an index slot with its control byte.
                Members::Table(t) => {
                    chunk(std::mem::size_of::<IndexSet<Bytes>>()) + t.capacity() * (24 + 9)
                }
            }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.members {
            Members::Ints(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Members::Table(t) => t.contains(member),
        }
    }

    /// Adds `member`; true if it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if let Members::Ints(v) = &mut self.members {
            match parse_i64(member) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(at) if v.len() < encodings::set_ints() => {
                        v.insert(at, n);
                        return true;
                    }
                    Err(_) => self.grow(),
                },
                None => self.grow(),
            }
        }
        let Members::Table(t) = &mut self.members else {
            return false;
        };
        let added = t.insert(member.into());
        if added {
            self.heap += element(member.len());
        }
        added
    }

    fn grow(&mut self) {
        if let Members::Ints(v) = &self.members {
            let mut table = IndexSet::with_capacity_and_hasher(v.len() + 1, Default::default());
            let mut heap = 0;
            for &n in v {
                let member = text(n);
                heap += element(member.len());
                table.insert(Bytes::from(&*member));
            }
            self.members = Members::Table(Box::new(table));
            self.heap = heap;
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.members {
            Members::Ints(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Members::Table(t) => {
                let removed = t.swap_remove(member);
                if removed {
                    self.heap -= element(member.len());
                }
                removed
            }
        }
    }

    /// The member at `index` (< len), for SPOP and SRANDMEMBER.
    pub fn nth(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        match &self.members {
            Members::Ints(v) => v.get(index).map(|&n| text(n)),
            Members::Table(t) => t.get_index(index).map(|m| Cow::Borrowed(&**m)),
        }
    }

    /// Removes and returns the member at `index` (< len).
    pub fn take_nth(&mut self, index: usize) -> Option<Vec<u8>> {
        let member = self.nth(index)?.into_owned();
        self.remove(&member);
        Some(member)
    }

    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, [u8]>> {
        (0..self.len()).filter_map(|i| self.nth(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default bound (nothing in the unit tests changes it).
    const MAX_INTS: usize = 512;

    #[test]
    fn integers_stay_sorted_until_a_string_or_one_too_many() {
        let mut s = Set::default();
        for n in [5, -3, 12, 5] {
            s.insert(n.to_string().as_bytes());
        }
        let members: Vec<Vec<u8>> = s.iter().map(Cow::into_owned).collect();
        assert_eq!(members, [b"-3".to_vec(), b"5".to_vec(), b"12".to_vec()]);
        assert!(!s.is_large() && s.heap == 0);
        assert!(!s.contains(b"05"), "05 is not the integer 5 to Redis");
        assert!(s.insert(b"05"));
        assert!(s.is_large());
        assert!(s.contains(b"5") && s.contains(b"05") && s.len() == 4);
        assert!(s.remove(b"05"));
        assert_eq!(s.heap, 3 * element(2));

        let mut many = Set::default();
        for n in 0..MAX_INTS {
            many.insert(n.to_string().as_bytes());
        }
        assert!(!many.is_large());
        many.insert(b"100000");
        assert!(many.is_large() && many.len() == MAX_INTS + 1);
        assert!(many.contains(b"511"));
    }
}
