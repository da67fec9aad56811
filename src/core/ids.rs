//! Typed ids for the arenas of the scene graph and the event log.
//!
//! Owns the id newtypes only. Ids are dense indexes into their arena, never reused, so an id
//! stays valid (possibly pointing at a retired entry) for the lifetime of a memory.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The arena index this id points at.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// An object of the scene graph (a mug, a table, a text landmark).
    ObjectId,
    u32
);
id_type!(
    /// A place: a region of space the robot visited.
    PlaceId,
    u32
);
id_type!(
    /// An entry of the episodic event log.
    EventId,
    u64
);
id_type!(
    /// One interval during which an object was believed to stand at one position.
    PlacementId,
    u32
);
