//! The values a key can hold besides a string: hashes, lists, sets and sorted sets, each in a compact encoding while
//! small and a scalable one past a size, as Redis's `listpack`/`intset` and hash tables.
//!
//! A [`super::store::Store`] slot owns a boxed [`Collection`]; commands reach it through
//! [`super::store::Store::read`] and [`super::store::Store::change`] with the type they expect ([`Typed`]),
//! and get [`WrongType`] when the key holds another. Each collection counts the heap bytes it holds
//! ([`Collection::bytes`]), approximately but from its real capacities, so `maxmemory` bounds it too.

pub mod encodings;
pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

use super::heap::chunk;

/// What a key holds, as TYPE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
}

impl Kind {
    /// From the flag bits a slot keeps (only ever written from a `Kind`).
    pub fn from_bits(bits: u8) -> Kind {
        match bits {
            1 => Kind::Hash,
            2 => Kind::List,
            3 => Kind::Set,
            4 => Kind::ZSet,
            _ => Kind::String,
        }
    }

    pub fn name(self) -> &'static [u8] {
        match self {
            Kind::String => b"string",
            Kind::Hash => b"hash",
            Kind::List => b"list",
            Kind::Set => b"set",
            Kind::ZSet => b"zset",
        }
    }
}

/// A command found a key of another kind than it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

impl WrongType {
    pub const MESSAGE: &'static [u8] =
        b"WRONGTYPE Operation against a key holding the wrong kind of value";
}

/// A collection value. Every collection key owns one in a box of its own, so it is kept to 24 bytes (a
/// 32-byte block): a small hash, the most numerous kind, sits in it directly; the other kinds' structures
/// are boxed behind it.
#[derive(Debug, Clone)]
pub enum Collection {
    Hash(Hash),
    List(Box<List>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl Collection {
    pub fn kind(&self) -> Kind {
        match self {
            Collection::Hash(_) => Kind::Hash,
            Collection::List(_) => Kind::List,
            Collection::Set(_) => Kind::Set,
            Collection::ZSet(_) => Kind::ZSet,
        }
    }

    /// Fields, elements or members.
    pub fn len(&self) -> usize {
        match self {
            Collection::Hash(h) => h.len(),
            Collection::List(l) => l.len(),
            Collection::Set(s) => s.len(),
            Collection::ZSet(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Collection::Hash(h) => h.is_empty(),
            Collection::List(l) => l.is_empty(),
            Collection::Set(s) => s.is_empty(),
            Collection::ZSet(z) => z.is_empty(),
        }
    }

    /// The encoding Redis 7.0 would report for this collection in OBJECT ENCODING: its compact form
    /// (`listpack`, `intset`) while small, its table or skip list past that; a list is always a `quicklist`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Collection::Hash(h) if h.is_compact() => "listpack",
            Collection::Hash(_) => "hashtable",
            Collection::List(_) => "quicklist",
            Collection::Set(s) if s.is_compact() => "intset",
            Collection::Set(_) => "hashtable",
            Collection::ZSet(z) if z.is_compact() => "listpack",
            Collection::ZSet(_) => "skiplist",
        }
    }

    /// Heap bytes held: the box, the structure's capacity and every element's own block.
    pub fn bytes(&self) -> usize {
        chunk(std::mem::size_of::<Collection>())
            + match self {
                Collection::Hash(h) => h.bytes(),
                Collection::List(l) => chunk(std::mem::size_of::<List>()) + l.bytes(),
                Collection::Set(s) => chunk(std::mem::size_of::<Set>()) + s.bytes(),
                Collection::ZSet(z) => chunk(std::mem::size_of::<ZSet>()) + z.bytes(),
            }
    }
}

/// One kind of collection, as a command names the one it expects.
pub trait Typed: Default + Into<Collection> {
    fn of(collection: &Collection) -> Option<&Self>;
    fn of_mut(collection: &mut Collection) -> Option<&mut Self>;
    fn is_empty(&self) -> bool;
}

macro_rules! typed {
    ($type:ident, $wrap:path) => {
        impl From<$type> for Collection {
            fn from(value: $type) -> Collection {
                Collection::$type($wrap(value))
            }
        }
        impl Typed for $type {
            fn of(collection: &Collection) -> Option<&Self> {
                match collection {
                    Collection::$type(value) => Some(std::borrow::Borrow::<$type>::borrow(value)),
                    _ => None,
                }
            }
            fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
                match collection {
                    Collection::$type(value) => {
                        Some(std::borrow::BorrowMut::<$type>::borrow_mut(value))
                    }
                    _ => None,
                }
            }
            fn is_empty(&self) -> bool {
                $type::is_empty(self)
            }
        }
    };
}
/// A small hash sits in the collection itself.
fn unboxed<T>(value: T) -> T {
    value
}
typed!(Hash, unboxed);
typed!(List, Box::new);
typed!(Set, Box::new);
typed!(ZSet, Box::new);

/// What an element of `len` bytes costs on the heap as a `Box<[u8]>` (nothing when empty).
pub fn element(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        chunk(len)
    }
}

/// A random number below `bound` (> 0), for HRANDFIELD, SPOP and SRANDMEMBER.
pub fn random_below(bound: usize) -> usize {
    (super::random::random_u64() % bound.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every collection key pays for the box: 24 bytes are a 32-byte block, the allocator's smallest.
    #[test]
    fn a_collection_box_is_small() {
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        assert_eq!(std::mem::size_of::<Collection>(), 24);
        assert_eq!(chunk(std::mem::size_of::<Collection>()), 32);
    }
}
