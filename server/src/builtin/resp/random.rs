//! Cheap randomness for choices that need no secrecy (which part to evict from, which member to return).

use std::cell::Cell;
use std::hash::BuildHasher;

/// A per-thread xorshift, seeded from the OS: no lock or shared counter is touched to choose (not security:
/// which part or member is picked is no secret).
pub fn random_u64() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(std::collections::hash_map::RandomState::new().hash_one(0u64) | 1);
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}
