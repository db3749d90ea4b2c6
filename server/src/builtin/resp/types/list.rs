//! A list: Redis's quicklist. A ring of nodes, each one packed buffer of many elements (`[length][bytes]
//! [length, bytes reversed]`, the lengths little-endian base-128 varints, so a node is walked from either
//! end as a listpack is), up to `list-max-listpack-size` (8 KiB by default, see [`super::encodings`]). A
//! 12-byte element costs 14 bytes, where a block and a pointer of its own cost 48. Pushes and pops at either
//! end touch one node; an index walks the nodes' counts from the nearer end, then one node.

use std::collections::VecDeque;

use super::encodings;
use crate::builtin::resp::heap::chunk;

type Bytes = Box<[u8]>;

#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// The blocks of every node's buffer.
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

fn varint_len(mut len: usize) -> usize {
    let mut n = 1;
    while len >= 0x80 {
        len >>= 7;
        n += 1;
    }
    n
}

/// What an element of `len` bytes takes in a node.
fn entry_len(len: usize) -> usize {
    len + 2 * varint_len(len)
}

/// Writes `value` as an entry into `out` (exactly `entry_len(value.len())` bytes).
fn write_entry(out: &mut [u8], value: &[u8]) {
    let n = varint_len(value.len());
    let mut len = value.len();
    for i in 0..n {
        let byte = (len & 0x7f) as u8 | if i + 1 < n { 0x80 } else { 0 };
        len >>= 7;
        out[i] = byte;
        // The same varint reversed after the bytes, read from the end backwards.
        out[2 * n + value.len() - 1 - i] = byte;
    }
    out[n..n + value.len()].copy_from_slice(value);
}

/// The entry starting at `at`: (where its bytes are, where it ends).
fn entry_after(packed: &[u8], at: usize) -> (std::ops::Range<usize>, usize) {
    let (mut len, mut shift, mut i) = (0usize, 0, at);
    loop {
        let byte = packed[i];
        i += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let n = i - at;
    (i..i + len, i + len + n)
}

/// The entry ending at `end`: (where its bytes are, where it starts).
fn entry_before(packed: &[u8], end: usize) -> (std::ops::Range<usize>, usize) {
    let (mut len, mut shift, mut i) = (0usize, 0, end);
    loop {
        i -= 1;
        let byte = packed[i];
        len |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let n = end - i;
    (i - len..i, i - len - n)
}

/// The most a node bounded by a count of elements packs (Redis's `SIZE_SAFETY_LIMIT`), as with a byte
/// bound an element larger than this has a node of its own.
const SAFETY_LIMIT: usize = 8192;

/// A packed node of elements.
#[derive(Debug, Clone, Default)]
struct Node {
    packed: Vec<u8>,
    count: u32,
}

impl Node {
    fn cost(&self) -> usize {
        if self.packed.capacity() == 0 {
            0
        } else {
            chunk(self.packed.capacity())
        }
    }

    /// Whether an element of `len` bytes may join: an empty node takes any; past that, the node stays
    /// within `list-max-listpack-size` (bytes when negative, elements when positive).
    fn has_room(&self, len: usize) -> bool {
        if self.count == 0 {
            return true;
        }
        match encodings::list_node() {
            encodings::ListNode::Bytes(max) => self.packed.len() + entry_len(len) <= max,
            encodings::ListNode::Entries(max) => {
                (self.count as usize) < max && self.packed.len() + entry_len(len) <= SAFETY_LIMIT
            }
        }
    }

    fn is_over(&self) -> bool {
        self.count > 1
            && match encodings::list_node() {
                encodings::ListNode::Bytes(max) => self.packed.len() > max,
                encodings::ListNode::Entries(max) => {
                    self.count as usize > max || self.packed.len() > SAFETY_LIMIT
                }
            }
    }

    /// Where entry `index` (<= count) starts, walking from the nearer end.
    fn offset(&self, index: usize) -> usize {
        let count = self.count as usize;
        if index <= count / 2 {
            (0..index).fold(0, |at, _| entry_after(&self.packed, at).1)
        } else {
            (index..count).fold(self.packed.len(), |end, _| {
                entry_before(&self.packed, end).1
            })
        }
    }

    fn get(&self, index: usize) -> &[u8] {
        let (bytes, _) = entry_after(&self.packed, self.offset(index));
        &self.packed[bytes]
    }

    /// Puts `value` at byte offset `at`, growing the buffer by an eighth at least, so a node filled one
    /// element at a time is copied a bounded number of times and wastes at most an eighth.
    fn insert_at(&mut self, at: usize, value: &[u8]) {
        let add = entry_len(value.len());
        if self.packed.capacity() - self.packed.len() < add {
            let room = match encodings::list_node() {
                encodings::ListNode::Bytes(max) => max.saturating_sub(self.packed.len()),
                encodings::ListNode::Entries(_) => SAFETY_LIMIT.saturating_sub(self.packed.len()),
            };
            self.packed
                .reserve_exact((self.packed.len() / 8).min(room).max(add));
        }
        let old = self.packed.len();
        self.packed.resize(old + add, 0);
        self.packed.copy_within(at..old, at + add);
        write_entry(&mut self.packed[at..at + add], value);
        self.count += 1;
    }

    /// Removes the entry at byte offset `at`; its bytes.
    fn remove_at(&mut self, at: usize) -> Bytes {
        let (bytes, end) = entry_after(&self.packed, at);
        let value = Bytes::from(&self.packed[bytes]);
        self.packed.drain(at..end);
        self.count -= 1;
        self.fit();
        value
    }

    /// Gives back the buffer's spare room once it is more than half of it.
    fn fit(&mut self) {
        if self.packed.capacity() > 2 * self.packed.len() + 64 {
            self.packed.shrink_to_fit();
        }
    }

    /// Splits off the entries from `index` on into a new node.
    fn split_off(&mut self, index: usize) -> Node {
        let at = self.offset(index);
        let tail = Node {
            packed: self.packed[at..].to_vec(),
            count: self.count - index as u32,
        };
        self.packed.truncate(at);
        self.count = index as u32;
        self.packed.shrink_to_fit();
        tail
    }
}

/// The elements of a list in order, from either end.
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    /// (node, byte offset) of the next element from the front.
    front: (usize, usize),
    /// (node, byte offset past it) of the next element from the back.
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        while self.front.1 >= self.nodes[self.front.0].packed.len() {
            self.front = (self.front.0 + 1, 0);
        }
        let packed = &self.nodes[self.front.0].packed;
        let (bytes, end) = entry_after(packed, self.front.1);
        self.front.1 = end;
        self.remaining -= 1;
        Some(&packed[bytes])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        while self.back.1 == 0 {
            self.back.0 -= 1;
            self.back.1 = self.nodes[self.back.0].packed.len();
        }
        let packed = &self.nodes[self.back.0].packed;
        let (bytes, start) = entry_before(packed, self.back.1);
        self.back.1 = start;
        self.remaining -= 1;
        Some(&packed[bytes])
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl List {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn bytes(&self) -> usize {
        let ring = self.nodes.capacity() * std::mem::size_of::<Node>();
        self.heap + if ring == 0 { 0 } else { chunk(ring) }
    }

    /// Runs `change` on node `at`, keeping the byte count in step.
    fn edit<R>(&mut self, at: usize, change: impl FnOnce(&mut Node) -> R) -> R {
        let node = &mut self.nodes[at];
        let before = node.cost();
        let result = change(node);
        self.heap = self.heap + node.cost() - before;
        result
    }

    /// Adds an empty node at `at` (a single node's ring holds just it: most lists are one node).
    fn add_node(&mut self, at: usize) {
        if self.nodes.capacity() == 0 {
            self.nodes.reserve_exact(1);
        }
        self.nodes.insert(at, Node::default());
    }

    fn remove_node(&mut self, at: usize) {
        if let Some(node) = self.nodes.remove(at) {
            self.heap -= node.cost();
        }
        if self.nodes.is_empty() {
            self.nodes = VecDeque::new();
        } else if self.nodes.capacity() > 8 && self.nodes.len() < self.nodes.capacity() / 4 {
            self.nodes.shrink_to(self.nodes.len() * 2);
        }
    }

    /// (node, index within it) of element `index` (< len), walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut left = index;
            for (at, node) in self.nodes.iter().enumerate() {
                if left < node.count as usize {
                    return (at, left);
                }
                left -= node.count as usize;
            }
        } else {
            let mut right = self.len - index;
            for (at, node) in self.nodes.iter().enumerate().rev() {
                if right <= node.count as usize {
                    return (at, node.count as usize - right);
                }
                right -= node.count as usize;
            }
        }
        unreachable!("index {index} within a list of {} elements", self.len)
    }

    pub fn push(&mut self, end: End, value: &[u8]) {
        let at = match end {
            End::Left => 0,
            End::Right => self.nodes.len().saturating_sub(1),
        };
        let at = match self.nodes.get(at) {
            Some(node) if node.has_room(value.len()) => at,
            _ => {
                let at = if end == End::Left {
                    0
                } else {
                    self.nodes.len()
                };
                self.add_node(at);
                at
            }
        };
        self.edit(at, |node| {
            let offset = if end == End::Left {
                0
            } else {
                node.packed.len()
            };
            node.insert_at(offset, value)
        });
        self.len += 1;
    }

    /// Pushes each of `values` in turn (LPUSH's order: the last ends at the head), sizing the end node for
    /// all of them at once, so a list made by one command wastes no room.
    pub fn push_all(&mut self, end: End, values: &[&[u8]]) {
        if values.is_empty() {
            return;
        }
        if self.nodes.is_empty() {
            self.add_node(0);
        }
        let add: usize = values.iter().map(|v| entry_len(v.len())).sum();
        if let Some(node) = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        } {
            let fits = match encodings::list_node() {
                encodings::ListNode::Bytes(max) => node.packed.len() + add <= max,
                encodings::ListNode::Entries(max) => {
                    node.count as usize + values.len() <= max
                        && node.packed.len() + add <= SAFETY_LIMIT
                }
            };
            if fits && node.packed.capacity() - node.packed.len() < add {
                let before = node.cost();
                node.packed.reserve_exact(add);
                self.heap = self.heap + node.cost() - before;
            }
        }
        for v in values {
            self.push(end, v);
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let at = match end {
            End::Left if self.nodes.is_empty() => return None,
            End::Left => 0,
            End::Right => self.nodes.len().checked_sub(1)?,
        };
        let popped = self.edit(at, |node| {
            let offset = match end {
                End::Left => 0,
                End::Right => entry_before(&node.packed, node.packed.len()).1,
            };
            node.remove_at(offset)
        });
        self.len -= 1;
        if self.nodes[at].count == 0 {
            self.remove_node(at);
        }
        Some(popped)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (at, within) = self.locate(index);
        Some(self.nodes[at].get(within))
    }

    /// Replaces the element at `index` (< len).
    pub fn set(&mut self, index: usize, value: &[u8]) {
        if index >= self.len {
            return;
        }
        let (at, within) = self.locate(index);
        self.edit(at, |node| {
            let offset = node.offset(within);
            node.remove_at(offset);
            node.insert_at(offset, value);
        });
        self.split_if_over(at);
    }

    /// Puts `value` before element `index` (<= len).
    pub fn insert(&mut self, index: usize, value: &[u8]) {
        if index >= self.len {
            return self.push(End::Right, value);
        }
        let (at, within) = self.locate(index);
        self.edit(at, |node| {
            let offset = node.offset(within);
            node.insert_at(offset, value);
        });
        self.len += 1;
        self.split_if_over(at);
    }

    /// Halves node `at` if a change took it past the node size.
    fn split_if_over(&mut self, at: usize) {
        if !self.nodes[at].is_over() {
            return;
        }
        let half = self.nodes[at].count as usize / 2;
        let tail = self.edit(at, |node| node.split_off(half));
        self.add_node(at + 1);
        self.edit(at + 1, |node| *node = tail);
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            nodes: &self.nodes,
            front: (0, 0),
            back: (
                self.nodes.len().saturating_sub(1),
                self.nodes.back().map_or(0, |n| n.packed.len()),
            ),
            remaining: self.len,
        }
    }

    /// The elements from `start` to `end` inclusive (both < len).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        let mut iter = self.iter();
        if start < self.len {
            let (at, within) = self.locate(start);
            iter.front = (at, self.nodes[at].offset(within));
            iter.remaining = self.len - start;
        }
        iter.take((end + 1).saturating_sub(start))
    }

    /// LREM: removes up to `count` elements equal to `value` from the head (count > 0), from the tail
    /// (count < 0), or all (0); how many went.
    pub fn remove_equal(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let matches = self.iter().filter(|v| *v == value).count().min(limit);
        if matches == 0 {
            return 0;
        }
        // Rebuilt in order, skipping the first (or last) `matches` equal elements: nodes come out full.
        let old = std::mem::take(self);
        let total = old.iter().filter(|v| *v == value).count();
        let mut seen = 0;
        for v in old.iter() {
            if v == value {
                seen += 1;
                let gone = if count < 0 {
                    seen > total - matches
                } else {
                    seen <= matches
                };
                if gone {
                    continue;
                }
            }
            self.push(End::Right, v);
        }
        matches
    }

    /// LTRIM: keeps the elements from `start` to `end` inclusive; an empty range (`start > end`) empties it.
    pub fn keep_range(&mut self, start: usize, end: usize) {
        if start > end || start >= self.len {
            *self = List::default();
            return;
        }
        let end = end.min(self.len - 1);
        // The tail past `end`: whole nodes, then part of the node holding it.
        let (at, within) = self.locate(end);
        while self.nodes.len() > at + 1 {
            let last = self.nodes.len() - 1;
            self.len -= self.nodes[last].count as usize;
            self.remove_node(last);
        }
        let cut = self.nodes[at].count as usize - (within + 1);
        if cut > 0 {
            self.edit(at, |node| drop(node.split_off(within + 1)));
            self.len -= cut;
        }
        // The head before `start`.
        let (at, within) = self.locate(start);
        for _ in 0..at {
            self.len -= self.nodes[0].count as usize;
            self.remove_node(0);
        }
        if within > 0 {
            self.edit(0, |node| *node = node.split_off(within));
            self.len -= within;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts, the byte count and the nodes agree with what the list holds.
    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        assert!(l.nodes.iter().all(|n| n.count > 0), "no empty node");
        let counted: usize = l.nodes.iter().map(|n| n.count as usize).sum();
        assert_eq!(counted, l.len());
        assert_eq!(l.heap, l.nodes.iter().map(Node::cost).sum::<usize>());
        assert!(l.iter().eq(model.iter().map(|v| &v[..])));
        assert!(l.iter().rev().eq(model.iter().rev().map(|v| &v[..])));
    }

    #[test]
    fn entries_read_the_same_from_either_end() {
        for len in [0, 1, 127, 128, 300, 20_000] {
            let value: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut packed = vec![0; entry_len(len)];
            write_entry(&mut packed, &value);
            let (bytes, end) = entry_after(&packed, 0);
            assert_eq!((&packed[bytes], end), (&value[..], packed.len()));
            let (bytes, start) = entry_before(&packed, packed.len());
            assert_eq!((&packed[bytes], start), (&value[..], 0));
        }
    }

    /// Every operation against a `VecDeque` doing the same, over lists of many nodes (elements up to 700
    /// bytes, so an 8 KiB node holds a dozen or more) and with lengths past one varint byte.
    #[test]
    fn behaves_as_a_deque_across_many_nodes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound.max(1) as u64) as usize
        };
        let (mut l, mut model) = (List::default(), VecDeque::<Vec<u8>>::new());
        for step in 0..6000 {
            let value: Vec<u8> = {
                let len = [0, 3, 12, 200, 700][next(5)];
                vec![b'a' + next(3) as u8; len]
            };
            match next(10) {
                0 | 1 => {
                    l.push(End::Left, &value);
                    model.push_front(value);
                }
                2 | 3 => {
                    let values = [&value[..], b"x", b"yz"];
                    l.push_all(End::Right, &values);
                    model.extend(values.iter().map(|v| v.to_vec()));
                }
                4 | 5 if model.is_empty() => {
                    assert_eq!(l.pop(End::Left), None);
                    assert_eq!(l.pop(End::Right), None);
                }
                4 => assert_eq!(l.pop(End::Left).as_deref(), model.pop_front().as_deref()),
                5 => assert_eq!(l.pop(End::Right).as_deref(), model.pop_back().as_deref()),
                6 if !model.is_empty() => {
                    let at = next(model.len());
                    assert_eq!(l.get(at), Some(&model[at][..]));
                    l.set(at, &value);
                    model[at] = value;
                }
                7 => {
                    let at = next(model.len() + 1);
                    l.insert(at, &value);
                    model.insert(at, value);
                }
                8 if step % 7 == 0 => {
                    let count = next(5) as i64 - 2;
                    let target = vec![b'a' + next(3) as u8; 12];
                    let mut expected = model.clone();
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    let mut gone = 0;
                    let order: Vec<usize> = if count < 0 {
                        (0..model.len()).rev().collect()
                    } else {
                        (0..model.len()).collect()
                    };
                    let mut drop = vec![false; model.len()];
                    for i in order {
                        if gone < limit && model[i] == target {
                            drop[i] = true;
                            gone += 1;
                        }
                    }
                    let mut i = 0;
                    expected.retain(|_| {
                        i += 1;
                        !drop[i - 1]
                    });
                    assert_eq!(l.remove_equal(&target, count), gone);
                    model = expected;
                }
                9 if step % 11 == 0 && !model.is_empty() => {
                    let start = next(model.len() / 4 + 1);
                    let end = model.len() - 1 - next(model.len() / 4 + 1).min(model.len() - 1);
                    l.keep_range(start, end);
                    if start > end {
                        model.clear();
                    } else {
                        model = model.range(start..=end).cloned().collect();
                    }
                }
                _ if !model.is_empty() => {
                    let start = next(model.len());
                    let end = start + next(model.len() - start);
                    assert!(l
                        .range(start, end)
                        .eq(model.range(start..=end).map(|v| &v[..])));
                }
                _ => {}
            }
            check(&l, &model);
        }
        assert!(l.nodes.len() > 3, "the run went past one node");
    }

    #[test]
    fn small_elements_pack_into_one_block() {
        let mut l = List::default();
        let values: Vec<&[u8]> = vec![&b"element00042"[..]; 100];
        l.push_all(End::Right, &values);
        assert_eq!(l.nodes.len(), 1);
        assert_eq!(
            l.nodes[0].packed.len(),
            100 * 14,
            "a varint before and after each element"
        );
        assert_eq!(
            l.bytes(),
            chunk(1400) + chunk(std::mem::size_of::<Node>()),
            "sized exactly"
        );
        l.keep_range(1, 0);
        assert!(l.is_empty() && l.bytes() == 0);
    }
}
