//! A short list kept on the stack, spilling to the heap only when it outgrows its array.
//!
//! Owns [`StackBuf`]. A near query gathers a handful of candidates (a few on average); a `Vec`
//! for each of its intermediate lists costs an allocation and a free per list per query, a
//! noticeable part of a query that takes a microsecond or two.

/// Up to `N` copyable items inline; more move everything to a `Vec` (so the items always form
/// one slice, in push order).
#[derive(Debug)]
pub(crate) struct StackBuf<T: Copy, const N: usize> {
    inline: [T; N],
    len: usize,
    /// Every item once more than `N` were pushed; empty before.
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> StackBuf<T, N> {
    /// An empty buffer; `fill` only initialises the unused array slots (never read).
    pub(crate) fn new(fill: T) -> Self {
        Self {
            inline: [fill; N],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Appends `item`.
    pub(crate) fn push(&mut self, item: T) {
        if self.spill.is_empty() {
            if self.len < N {
                self.inline[self.len] = item;
                self.len += 1;
                return;
            }
            self.spill.reserve(2 * N.max(1));
            self.spill.extend_from_slice(&self.inline[..self.len]);
        }
        self.spill.push(item);
    }

    /// The items, in push order.
    pub(crate) fn as_slice(&self) -> &[T] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    /// The items, in push order, mutable (to sort or truncate in place).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        if self.spill.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.spill
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_push_order_inline_and_after_spilling() {
        for n in [0usize, 1, 3, 4, 5, 9, 100] {
            let mut b: StackBuf<u32, 4> = StackBuf::new(u32::MAX);
            for i in 0..n as u32 {
                b.push(i * 7);
            }
            let want: Vec<u32> = (0..n as u32).map(|i| i * 7).collect();
            assert_eq!(b.as_slice(), want.as_slice(), "n = {n}");
            b.as_mut_slice().reverse();
            let mut rev = want.clone();
            rev.reverse();
            assert_eq!(b.as_slice(), rev.as_slice(), "n = {n}");
        }
    }

    #[test]
    fn zero_capacity_spills_at_once() {
        let mut b: StackBuf<u8, 0> = StackBuf::new(0);
        b.push(1);
        b.push(2);
        assert_eq!(b.as_slice(), &[1, 2]);
    }
}
