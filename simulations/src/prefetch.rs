//! Prefetch hints: the simulator's reading ahead (see `engine::warm`) tells the
//! processor which memory lines the next events will touch, so that their cache
//! misses are under way while the current event runs, without the load of each
//! holding the processor back until it completes, as ordinary reads do.
//!
//! This module holds the workspace's only `unsafe`: the prefetch intrinsic. A prefetch
//! is a hint. It never faults, whatever the address (an unmapped or invalid one is
//! ignored), and it neither reads nor writes anything the program can observe, so it
//! cannot break memory safety; the compiler only marks it `unsafe` because the
//! intrinsic is a `#[target_feature]` function taking a raw pointer. Elsewhere, and on
//! other architectures, these are no-ops.
#![allow(unsafe_code)]

/// Bytes in a cache line.
const LINE: usize = 64;

/// Hints that the line holding `p` will be read soon.
#[inline(always)]
pub(crate) fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a hint that cannot fault and has no visible effect
    // (see the module's comment); `sse` is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Hints that `value` will be read soon (the line it starts on).
#[inline(always)]
pub(crate) fn of<T>(value: &T) {
    line(std::ptr::from_ref(value));
}

/// Hints that every line of `items` will be read soon.
#[inline(always)]
pub(crate) fn slice<T>(items: &[T]) {
    bytes(items.as_ptr().cast(), std::mem::size_of_val(items));
}

/// Hints that every line of the `bytes` bytes from `start` will be read soon.
#[inline(always)]
pub(crate) fn bytes(start: *const u8, bytes: usize) {
    let mut off = 0;
    while off < bytes {
        line(start.wrapping_add(off));
        off += LINE;
    }
    if bytes > 0 {
        // The last line, when the slice does not start on a line.
        line(start.wrapping_add(bytes - 1));
    }
}
