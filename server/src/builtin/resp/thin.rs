//! A boxed byte string behind one 8-byte pointer: its length is a varint at the start of its own block
//! (`[length, LEB128][bytes]`), where a `Box<[u8]>` keeps it beside the pointer. The keyspace table holds
//! one per key, so a bucket is 8 bytes instead of 16: with the table between 8/7 and 16/7 buckets a key,
//! 9 to 18 bytes a key, for one byte more in the key's block.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

#[repr(transparent)]
pub struct ThinBytes(NonNull<u8>);

// SAFETY: a `ThinBytes` owns its block alone, as a `Box<[u8]>` does.
unsafe impl Send for ThinBytes {}
unsafe impl Sync for ThinBytes {}

/// The bytes of `len` as a varint.
pub fn varint_len(len: usize) -> usize {
    ((usize::BITS - len.leading_zeros()).div_ceil(7) as usize).max(1)
}

impl ThinBytes {
    /// A block of `len` bytes, which `fill` writes (it is zeroed before).
    pub fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> ThinBytes {
        let header = varint_len(len);
        let layout =
            Layout::array::<u8>(header + len).expect("a key's block is far below isize::MAX");
        // SAFETY: the layout is at least one byte long (the header).
        let Some(at) = NonNull::new(unsafe { alloc(layout) }) else {
            handle_alloc_error(layout)
        };
        let mut rest = len;
        for i in 0..header {
            let more = if i + 1 < header { 0x80 } else { 0 };
            // SAFETY: `i` < `header` <= the block's length.
            unsafe { at.add(i).write((rest & 0x7f) as u8 | more) };
            rest >>= 7;
        }
        // SAFETY: the `len` bytes after the header are inside the block.
        unsafe { at.add(header).write_bytes(0, len) };
        let mut thin = ThinBytes(at);
        fill(&mut thin);
        thin
    }

    /// (header bytes, length).
    fn header(&self) -> (usize, usize) {
        let (mut len, mut shift, mut i) = (0usize, 0, 0);
        loop {
            // SAFETY: the header was written whole by `build`, and `i` stays within it (its last byte has
            // no continuation bit).
            let byte = unsafe { self.0.add(i).read() };
            len |= usize::from(byte & 0x7f) << shift;
            i += 1;
            if byte & 0x80 == 0 {
                return (i, len);
            }
            shift += 7;
        }
    }

    /// The block's address, which stays put while the value lives (it may move, its block does not).
    pub fn address(&self) -> NonNull<u8> {
        self.0
    }

    /// The bytes of the block at `address`, as [`ThinBytes::address`] gave it.
    ///
    /// # Safety
    /// The `ThinBytes` whose block this is must outlive the borrow and not be changed meanwhile.
    pub unsafe fn at(address: &NonNull<u8>) -> &[u8] {
        // SAFETY: `ThinBytes` is a transparent `NonNull<u8>`, and the caller vouches for the block; the
        // view is never dropped (it is a reference).
        unsafe { &*(address as *const NonNull<u8> as *const ThinBytes) }
    }

    /// The whole block's size (header and bytes), what the allocator was asked for.
    pub fn block_len(&self) -> usize {
        let (header, len) = self.header();
        header + len
    }
}

impl Deref for ThinBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let (header, len) = self.header();
        // SAFETY: the block holds `len` initialized bytes after the header, owned by `self`.
        unsafe { std::slice::from_raw_parts(self.0.add(header).as_ptr(), len) }
    }
}

impl DerefMut for ThinBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        let (header, len) = self.header();
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(header).as_ptr(), len) }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> ThinBytes {
        ThinBytes::build(self.len(), |out| out.copy_from_slice(self))
    }
}

impl std::fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let layout = Layout::array::<u8>(self.block_len()).expect("allocated with this layout");
        // SAFETY: allocated by `build` with this same layout, and freed only here.
        unsafe { dealloc(self.0.as_ptr(), layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_past_one_header_byte() {
        for len in [0, 1, 127, 128, 16_383, 16_384, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut thin = ThinBytes::build(len, |out| out.copy_from_slice(&bytes));
            assert_eq!(&*thin, &bytes[..]);
            assert_eq!(thin.block_len(), varint_len(len) + len);
            if len > 0 {
                thin[len - 1] = 7;
                assert_eq!(thin[len - 1], 7);
            }
        }
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBytes>>(), 8);
    }
}
