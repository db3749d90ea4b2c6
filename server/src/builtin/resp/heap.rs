//! What memory costs: the block the allocator takes for a request, which the keyspace's byte accounting
//! (`maxmemory`) and the collections' sizes are counted in.

/// What the glibc allocator takes for a block of `len` bytes: an 8-byte header, rounded up to 16, at
/// least 32 (its minimum chunk).
pub fn chunk(len: usize) -> usize {
    (len + 8).next_multiple_of(16).max(32)
}
