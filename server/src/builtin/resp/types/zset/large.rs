//! A sorted set's large form: an order-statistic B-tree of members ordered by (score, member bytes) and a
//! hash table finding a member, both on one block per member (`[score: f64, little-endian][member]`, a
//! [`ThinBytes`]). The tree owns the blocks; the table keeps their addresses. Against a tree of (score,
//! `Arc<[u8]>`) and a map of `Arc<[u8]>` → score, a 14-byte member is a 32-byte block instead of 48 (no
//! counters), the tree's entries are 8 bytes instead of 24, and the table's 8 instead of 24.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::ops::Bound;
use std::ptr::NonNull;

use hashbrown::HashTable;
use wabi_tree::OSBTreeSet;

use crate::builtin::resp::heap::chunk;
use crate::builtin::resp::thin::ThinBytes;

/// What a member's entry costs in the tree: 8 bytes in nodes about two thirds full, and the tree's own
/// index of it.
pub const TREE_ENTRY: usize = 20;

/// A member's block as the tree compares it (unsized, so a probe made on the stack compares alike).
#[repr(transparent)]
pub struct Key([u8]);

impl Key {
    fn of(block: &[u8]) -> &Key {
        // SAFETY: `Key` is a transparent wrapper of `[u8]`, so the two references have one layout.
        unsafe { &*(block as *const [u8] as *const Key) }
    }

    fn score(&self) -> f64 {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(&self.0[..8]);
        f64::from_le_bytes(bytes)
    }

    fn member(&self) -> &[u8] {
        &self.0[8..]
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        // Scores are never NaN, and zero is kept as +0 (see `normal`), so the total order is the numeric one.
        self.score()
            .total_cmp(&other.score())
            .then_with(|| self.member().cmp(other.member()))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// The block `[score][member]`.
fn block(score: f64, member: &[u8]) -> ThinBytes {
    ThinBytes::build(8 + member.len(), |out| {
        out[..8].copy_from_slice(&score.to_le_bytes());
        out[8..].copy_from_slice(member);
    })
}

/// A member in the tree, which owns its block.
#[derive(Debug, Clone)]
struct Entry(ThinBytes);

impl Borrow<Key> for Entry {
    fn borrow(&self) -> &Key {
        Key::of(&self.0)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        Borrow::<Key>::borrow(self).cmp(other.borrow())
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// The table's reference to a block the tree owns.
#[derive(Debug)]
struct Shared(NonNull<u8>);

impl Shared {
    fn key(&self) -> &Key {
        // SAFETY: every `Shared` in the table is the address of the block of an entry in the same `Large`'s
        // tree: both are added together (`insert`) and the table's is removed before the tree's
        // (`remove`); a block never moves while its entry lives (the tree moves the pointer, not the
        // block), and the tree never changes one.
        Key::of(unsafe { ThinBytes::at(&self.0) })
    }
}

#[derive(Debug)]
pub struct Large {
    order: OSBTreeSet<Entry>,
    members: HashTable<Shared>,
    hasher: ahash::RandomState,
    /// The blocks of every member.
    heap: usize,
}

// SAFETY: the table's pointers lead only into blocks this value owns through its tree, and nothing is
// changed through a shared reference, so it may move to, or be read from, another thread as a whole.
unsafe impl Send for Large {}
unsafe impl Sync for Large {}

impl Clone for Large {
    fn clone(&self) -> Large {
        let mut copy = Large::with_capacity(self.len());
        for (member, score) in self.iter() {
            copy.insert(member, score);
        }
        copy
    }
}

impl Large {
    pub fn with_capacity(capacity: usize) -> Large {
        Large {
            order: OSBTreeSet::new(),
            members: HashTable::with_capacity(capacity),
            hasher: Default::default(),
            heap: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The blocks, a tree entry ([`TREE_ENTRY`]) and a table bucket (8 bytes and a control byte, at
    /// seven eighths of the buckets at most) per member.
    pub fn bytes(&self) -> usize {
        chunk(std::mem::size_of::<Large>())
            + self.heap
            + self.order.len() * TREE_ENTRY
            + self.members.capacity() * 10
    }

    fn find(&self, member: &[u8]) -> Option<&Key> {
        let hash = self.hasher.hash_one(member);
        self.members
            .find(hash, |s| s.key().member() == member)
            .map(Shared::key)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(Key::score)
    }

    /// Adds `member` (not in the set).
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let entry = Entry(block(score, member));
        let shared = Shared(entry.0.address());
        self.heap += chunk(entry.0.block_len());
        let hasher = &self.hasher;
        self.members
            .insert_unique(hasher.hash_one(member), shared, |s| {
                hasher.hash_one(s.key().member())
            });
        self.order.insert(entry);
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let found = self
            .members
            .find_entry(hash, |s| s.key().member() == member)
            .ok()?;
        let (shared, _) = found.remove();
        // A copy to find the entry by: the tree frees the block itself.
        let probe = shared.key().0.to_vec();
        let key = Key::of(&probe);
        self.order.remove(key);
        self.heap -= chunk(crate::builtin::resp::thin::varint_len(probe.len()) + probe.len());
        Some(key.score())
    }

    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        self.order.rank_of(self.find(member)?)
    }

    /// From rank `rank` (< len) up, or with `reverse` down.
    pub fn at_rank(
        &self,
        rank: usize,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let Some(at) = self.order.get_by_rank(rank) else {
            return Box::new(std::iter::empty());
        };
        if reverse {
            Box::new(self.order.range::<Entry, _>(..=at).rev().map(pair))
        } else {
            Box::new(self.order.range::<Entry, _>(at..).map(pair))
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.iter().map(pair)
    }

    /// The members with a score of at least `min`, ascending.
    pub fn at_least(&self, min: f64) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let probe = block(min, b"");
        let from: (Bound<&Key>, Bound<&Key>) = (Bound::Included(Key::of(&probe)), Bound::Unbounded);
        Box::new(self.order.range::<Key, _>(from).map(pair))
    }

    /// The members with a score below `below`, descending.
    pub fn below_score_rev(&self, below: f64) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let probe = block(below, b"");
        let to: (Bound<&Key>, Bound<&Key>) = (Bound::Unbounded, Bound::Excluded(Key::of(&probe)));
        Box::new(self.order.range::<Key, _>(to).rev().map(pair))
    }
}

fn pair(entry: &Entry) -> (&[u8], f64) {
    let key: &Key = entry.borrow();
    (key.member(), key.score())
}
