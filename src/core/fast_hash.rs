//! Owns [`FastMap`]: a hash map with a small, fast hasher for the core's internal lookups.
//!
//! The ingest path looks up every detection's label (its compatibility group, its label-index
//! entry) several times per keyframe. std's default SipHash is built to resist collision
//! attacks from untrusted keys, and on a 10-byte label costs more than the lookup's memory
//! access. These maps hold the memory's own labels, so a keyless hash is enough: per 8-byte word
//! one "folded multiply" (the full 128-bit product of state ^ word and a constant, its halves
//! xored; the mixing step of wyhash and foldhash), which spreads every input bit over the whole
//! result. (FxHash's plain multiply, tried first, only carries upwards: labels differing in a
//! few bytes collided in all 64 bits, 400 of `class_00000`..`class_09999`.) Iteration order is
//! as unspecified as with std's hasher (and now the same in every run); nothing may depend on it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Per word: xor into the state, then a folded multiply by a constant.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

/// An odd constant with well-mixed bits (from PCG's multiplier family).
const MULTIPLIER: u64 = 0x5851_f42d_4c95_7f2d;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.hash ^ word) * u128::from(MULTIPLIER);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash_of<T: Hash + ?Sized>(x: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(x)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        assert_eq!(hash_of("class_00042"), hash_of(&"class_00042".to_string()));
        let labels: Vec<String> = (0..10_000).map(|i| format!("class_{i:05}")).collect();
        let distinct: std::collections::BTreeSet<u64> =
            labels.iter().map(|l| hash_of(l.as_str())).collect();
        assert_eq!(
            distinct.len(),
            labels.len(),
            "no collisions among 10k labels"
        );
        // The low bits (a hash table's bucket) are spread too: 10k labels in 16k buckets fill
        // about 1 - e^(-10/16.4) = 46 % of them when the hash is uniform.
        let buckets: std::collections::BTreeSet<u64> =
            distinct.iter().map(|h| h & 0x3fff).collect();
        assert!(buckets.len() > 7_000, "{} buckets", buckets.len());
        assert_ne!(hash_of("a"), hash_of("a\0"));
        assert_ne!(hash_of("mug"), hash_of("cup"));
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut m: FastMap<String, u32> = FastMap::default();
        for i in 0..1000u32 {
            m.insert(format!("label {i}"), i);
        }
        for i in 0..1000u32 {
            assert_eq!(m.get(format!("label {i}").as_str()), Some(&i));
        }
        assert_eq!(m.get("label 1000"), None);
    }
}
