//! Software prefetch: asks the CPU to start loading memory a query will read soon, so that
//! several cache misses overlap instead of waiting one after another. A hint only: it changes
//! no result, and is a no-op on architectures without one here.

/// Bytes per cache line assumed for prefetching (x86-64 and the Cortex-A78AE of a Jetson Orin).
const LINE: usize = 64;

/// Prefetches the cache line holding `ptr` into every cache level.
#[inline(always)]
fn line(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing architecturally; `ptr` points into a
    // live reference's bytes anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above; PRFM is a hint and cannot fault.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{0}]", in(reg) ptr, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = ptr;
}

/// Prefetches every cache line that holds part of `value`.
#[inline(always)]
pub fn prefetch_all<T>(value: &T) {
    let size = std::mem::size_of::<T>();
    if size == 0 {
        return;
    }
    let start = (value as *const T).cast::<u8>();
    // From the start of the first line to the line of the last byte.
    let lead = start as usize % LINE;
    let first = start.wrapping_sub(lead);
    let mut offset = 0;
    while offset < lead + size {
        line(first.wrapping_add(offset));
        offset += LINE;
    }
}
