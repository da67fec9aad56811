//! Text matching through the [`Embedder`] seam, and the lexical embedder the core ships.
//!
//! Owns the trait, [`LexicalEmbedder`] (hashed bag of word stems, so cosine similarity measures
//! word overlap) and [`cosine`]. Real sentence embeddings (ONNX) implement the same trait outside
//! the core.

use super::error::CoreError;

/// Turns text into a fixed-size vector whose cosine similarity ranks texts by meaning.
pub trait Embedder: Send + Sync {
    /// Dimension of every vector this embedder returns.
    fn dim(&self) -> usize;
    /// Embeds one text. Implementations return an L2-normalised vector (or all zeros for text
    /// with no content).
    ///
    /// # Errors
    /// Implementation-specific failures (a model that fails to run), as [`CoreError`].
    fn embed(&self, text: &str) -> Result<Vec<f32>, CoreError>;
}

/// Cosine similarity of two vectors; 0 when either is all zeros or the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na <= 0.0 || nb <= 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Words that carry no meaning for matching.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "of", "on", "in", "at", "to", "and", "with", "is", "are", "my", "where",
    "what", "when", "did", "i", "see", "was", "near", "by", "some", "there", "this", "that",
];

/// Splits text into lower-case word stems (a crude plural strip), dropping stop words.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

fn stem(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        format!("{}y", &word[..word.len() - 3])
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

/// A deterministic lexical embedder: word stems hashed (FNV-1a) into `dim` buckets, L2-normalised.
/// "coffee mug" and "mug" score about 0.7; "mug" and "cup" score 0 — synonyms need a real model.
#[derive(Debug, Clone)]
pub struct LexicalEmbedder {
    dim: usize,
}

impl LexicalEmbedder {
    /// An embedder with `dim` buckets (at least 1).
    pub fn new(dim: usize) -> Self {
        Self { dim: dim.max(1) }
    }
}

impl Default for LexicalEmbedder {
    fn default() -> Self {
        Self::new(256)
    }
}

/// 64-bit FNV-1a of bytes: stable across platforms and releases.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Embedder for LexicalEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, CoreError> {
        let mut v = vec![0.0f32; self.dim];
        for t in tokens(text) {
            let h = fnv1a64(t.as_bytes());
            v[(h % self.dim as u64) as usize] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_similarity_measures_overlap() {
        let e = LexicalEmbedder::default();
        let mug = e.embed("mug").unwrap();
        let coffee_mug = e.embed("the coffee mugs").unwrap();
        let plate = e.embed("plate").unwrap();
        assert!((cosine(&mug, &mug) - 1.0).abs() < 1e-6);
        assert!(cosine(&mug, &coffee_mug) > 0.6);
        assert!(cosine(&mug, &plate) < 0.01);
        assert_eq!(cosine(&e.embed("").unwrap(), &mug), 0.0);
    }

    #[test]
    fn stems_plurals() {
        assert_eq!(
            tokens("Keys, batteries and the glass"),
            vec!["key", "battery", "glass"]
        );
    }
}
