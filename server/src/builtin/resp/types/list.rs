//! A list: a ring buffer of elements, so pushes and pops at either end are O(1) and an index is O(1).
//! Where Redis's quicklist packs small elements into listpack nodes, each element here is its own block.

use std::collections::VecDeque;

use super::element;

type Bytes = Box<[u8]>;

#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Bytes>,
    /// The blocks of every element.
    heap: usize,
}

/// Which end of a list (LPUSH/RPUSH, LMOVE's LEFT/RIGHT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub fn parse(word: &[u8]) -> Option<End> {
        if word.eq_ignore_ascii_case(b"LEFT") {
            Some(End::Left)
        } else if word.eq_ignore_ascii_case(b"RIGHT") {
            Some(End::Right)
        } else {
            None
        }
    }

    /// The keyspace event of a pop from this end (LPOP's, RPOP's).
    pub fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }

    /// The keyspace event of a push at this end (LPUSH's, RPUSH's).
    pub fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.heap + self.items.capacity() * std::mem::size_of::<Bytes>()
    }

    pub fn push(&mut self, end: End, value: &[u8]) {
        self.heap += element(value.len());
        match end {
            End::Left => self.items.push_front(value.into()),
            End::Right => self.items.push_back(value.into()),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let popped = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        self.heap -= element(popped.len());
        self.shrink();
        Some(popped)
    }

    /// Gives back most of the ring's capacity once the list has shrunk to a quarter of it.
    fn shrink(&mut self) {
        if self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|v| &**v)
    }

    /// Replaces the element at `index` (< len).
    pub fn set(&mut self, index: usize, value: &[u8]) {
        if let Some(slot) = self.items.get_mut(index) {
            self.heap = self.heap - element(slot.len()) + element(value.len());
            *slot = value.into();
        }
    }

    pub fn insert(&mut self, index: usize, value: &[u8]) {
        self.heap += element(value.len());
        self.items.insert(index, value.into());
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|v| &**v)
    }

    /// The elements from `start` to `end` inclusive (both < len).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        self.items.range(start..=end).map(|v| &**v)
    }

    /// LREM: removes up to `count` elements equal to `value` from the head (count > 0), from the tail
    /// (count < 0), or all (0); how many went.
    pub fn remove_equal(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let mut removed = 0;
        let len = self.items.len();
        let mut keep = vec![true; len];
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..len).rev())
        } else {
            Box::new(0..len)
        };
        for i in order {
            if removed == limit {
                break;
            }
            if &*self.items[i] == value {
                keep[i] = false;
                removed += 1;
            }
        }
        if removed > 0 {
            let mut i = 0;
            self.items.retain(|_| {
                i += 1;
                keep[i - 1]
            });
            self.heap -= removed * element(value.len());
            self.shrink();
        }
        removed
    }

    /// LTRIM: keeps the elements from `start` to `end` inclusive; an empty range (`start > end`) empties it.
    pub fn keep_range(&mut self, start: usize, end: usize) {
        if start > end || start >= self.items.len() {
            self.items.clear();
            self.heap = 0;
            self.shrink();
            return;
        }
        let end = end.min(self.items.len() - 1);
        for gone in self.items.drain(end + 1..) {
            self.heap -= element(gone.len());
        }
        for gone in self.items.drain(..start) {
            self.heap -= element(gone.len());
        }
        self.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<&[u8]> {
        l.iter().collect()
    }

    #[test]
    fn removes_and_trims_keep_the_byte_count() {
        let mut l = List::default();
        for v in [&b"a"[..], b"b", b"a", b"c", b"a"] {
            l.push(End::Right, v);
        }
        assert_eq!(l.remove_equal(b"a", -2), 2);
        assert_eq!(items(&l), [&b"a"[..], b"b", b"c"]);
        assert_eq!(l.heap, 3 * element(1));
        l.keep_range(1, 10);
        assert_eq!(items(&l), [&b"b"[..], b"c"]);
        assert_eq!(l.heap, 2 * element(1));
        l.set(0, &[b'x'; 100]);
        assert_eq!(l.heap, element(1) + element(100));
        l.keep_range(1, 0);
        assert!(l.is_empty() && l.heap == 0);
    }
}
