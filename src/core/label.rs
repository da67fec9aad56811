//! Owns [`Label`]: an object's class name, stored inside the record that holds it when short.
//!
//! Nearly every detector class ("mug", "coffee table", "class_00042") fits in
//! [`Label::INLINE_CAP`] bytes. Keeping those bytes inline means reading an object's label
//! touches only the object's own record, not a separate heap buffer: on a million objects that
//! second cache miss per hit was a fifth of a `near` query's time. Longer labels live on the heap
//! and behave the same. Compares, orders, hashes and serializes exactly as its text.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; Label::INLINE_CAP],
    },
    Heap(Box<str>),
}

/// A label: text, inline up to [`Label::INLINE_CAP`] bytes.
#[derive(Clone)]
pub struct Label(Repr);

impl Label {
    /// Longest label (in UTF-8 bytes) kept inline.
    pub const INLINE_CAP: usize = 22;

    /// A label holding `text`.
    pub fn new(text: &str) -> Self {
        let len = text.len();
        if len <= Self::INLINE_CAP {
            let mut bytes = [0u8; Self::INLINE_CAP];
            bytes[..len].copy_from_slice(text.as_bytes());
            // `len <= 22` fits a u8.
            Self(Repr::Inline {
                len: len as u8,
                bytes,
            })
        } else {
            Self(Repr::Heap(text.into()))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes are a whole `&str` copied in `new`, so they are valid UTF-8.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(s) => s,
        }
    }

    /// Whether the text is stored inline (no heap buffer).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Default for Label {
    fn default() -> Self {
        Self::new("")
    }
}

impl Deref for Label {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Label {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Label {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for Label {
    fn from(text: String) -> Self {
        Self::new(&text)
    }
}

impl From<&String> for Label {
    fn from(text: &String) -> Self {
        Self::new(text)
    }
}

impl From<Label> for String {
    fn from(label: Label) -> Self {
        label.as_str().to_owned()
    }
}

impl From<&Label> for String {
    fn from(label: &Label) -> Self {
        label.as_str().to_owned()
    }
}

impl PartialEq for Label {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Label {}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Label {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Label> for str {
    fn eq(&self, other: &Label) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Label> for &str {
    fn eq(&self, other: &Label) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Label> for String {
    fn eq(&self, other: &Label) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Label {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Label {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor rather than going through `String` or `Cow<str>` (serde's `Cow` always
        // owns): a short label is copied from the input straight into place, with no heap
        // string made and dropped on the way (a million objects hold several labels each).
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Label;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a label")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Label, E> {
                Ok(Label::new(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn short_labels_are_inline_long_ones_on_the_heap_and_both_keep_their_text() {
        for text in [
            "",
            "mug",
            "coffee table",
            "exactly_22_bytes_long!",
            "exactly_23_bytes_long!!",
            "a much longer label than any detector would emit",
            "tasse à café ☕",
            "a \"quoted\" \\ label",
        ] {
            let label = Label::new(text);
            assert_eq!(label.as_str(), text);
            assert_eq!(label.is_inline(), text.len() <= Label::INLINE_CAP, "{text}");
            assert_eq!(label, text);
            assert_eq!(String::from(&label), text);
            assert_eq!(label.to_string(), text);
            assert_eq!(format!("{label:?}"), format!("{text:?}"));
            assert_eq!(
                hash_of(&label),
                hash_of(text),
                "Borrow<str> needs equal hashes"
            );
            let json = serde_json::to_string(&label).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            let back: Label = serde_json::from_str(&json).unwrap();
            assert_eq!(back, label);
            // The store's binary encoding (borrowed text) reads back the same.
            let bytes = postcard::to_allocvec(&label).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(text).unwrap());
            let back: Label = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, label);
        }
        assert!(serde_json::from_str::<Label>("5").is_err());
    }

    #[test]
    fn labels_order_as_their_text() {
        let mut texts = vec!["mug", "bowl", "a much longer label than inline", "cup", ""];
        let mut labels: Vec<Label> = texts.iter().map(|t| Label::new(t)).collect();
        texts.sort();
        labels.sort();
        let sorted: Vec<&str> = labels.iter().map(Label::as_str).collect();
        assert_eq!(sorted, texts);
        let set: std::collections::BTreeSet<Label> = labels.into_iter().collect();
        assert!(set.contains("cup"));
        assert!(!set.contains("plate"));
    }

    #[test]
    fn a_label_is_no_bigger_than_a_string() {
        assert_eq!(std::mem::size_of::<Label>(), std::mem::size_of::<String>());
    }
}
