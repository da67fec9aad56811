//! The household: rooms with walls and doors, furniture with support surfaces, small-object
//! classes with look-alikes, and ray casting against axis-aligned boxes (occlusion, depth).

use nalgebra::{Point3, Vector3};

use super::rng::Rng;

/// Side length of a room, m.
pub const ROOM_SIZE_M: f64 = 5.0;
/// Wall height, m.
pub const WALL_HEIGHT_M: f64 = 2.5;
/// Wall thickness, m.
pub const WALL_THICKNESS_M: f64 = 0.1;
/// Door width, m.
pub const DOOR_WIDTH_M: f64 = 1.0;
/// Position of a door along its wall, from the wall's lower corner, m.
pub const DOOR_OFFSET_M: f64 = 1.25;

/// An axis-aligned box (occluder), by its min and max corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// Minimum corner.
    pub min: Point3<f64>,
    /// Maximum corner.
    pub max: Point3<f64>,
}

impl Aabb {
    /// A box from its centre and full size.
    pub fn centered(c: Point3<f64>, size: Vector3<f64>) -> Self {
        Self {
            min: c - size / 2.0,
            max: c + size / 2.0,
        }
    }

    /// Entry parameter `t` of the ray `origin + t * dir` into the box, if it hits with `t >= 0`.
    pub fn ray_entry(&self, origin: &Point3<f64>, dir: &Vector3<f64>) -> Option<f64> {
        let mut t0 = 0.0f64;
        let mut t1 = f64::INFINITY;
        for a in 0..3 {
            if dir[a].abs() < 1e-12 {
                if origin[a] < self.min[a] || origin[a] > self.max[a] {
                    return None;
                }
                continue;
            }
            let inv = 1.0 / dir[a];
            let mut ta = (self.min[a] - origin[a]) * inv;
            let mut tb = (self.max[a] - origin[a]) * inv;
            if ta > tb {
                std::mem::swap(&mut ta, &mut tb);
            }
            t0 = t0.max(ta);
            t1 = t1.min(tb);
            if t0 > t1 {
                return None;
            }
        }
        Some(t0)
    }

    /// Squared distance from a point to the box (0 inside).
    pub fn dist2(&self, p: &Point3<f64>) -> f64 {
        let mut d = 0.0;
        for a in 0..3 {
            let v = if p[a] < self.min[a] {
                self.min[a] - p[a]
            } else if p[a] > self.max[a] {
                p[a] - self.max[a]
            } else {
                0.0
            };
            d += v * v;
        }
        d
    }
}

/// Kinds of furniture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FurnitureKind {
    /// Dining/desk table, top at 0.75 m.
    Table,
    /// Kitchen counter, solid, top at 0.9 m.
    Counter,
    /// Open shelf with boards at 0.4 and 1.0 m; objects stand *in* it.
    Shelf,
    /// Sofa with a seat at 0.45 m.
    Sofa,
    /// Low coffee table, top at 0.45 m.
    CoffeeTable,
}

impl FurnitureKind {
    /// Detector label.
    pub fn label(self) -> &'static str {
        match self {
            FurnitureKind::Table => "table",
            FurnitureKind::Counter => "counter",
            FurnitureKind::Shelf => "shelf",
            FurnitureKind::Sofa => "sofa",
            FurnitureKind::CoffeeTable => "coffee table",
        }
    }

    /// Footprint (along the wall, depth from the wall) and height, m.
    fn size(self) -> (f64, f64, f64) {
        match self {
            FurnitureKind::Table => (1.2, 0.8, 0.75),
            FurnitureKind::Counter => (1.6, 0.6, 0.9),
            FurnitureKind::Shelf => (0.9, 0.35, 1.8),
            FurnitureKind::Sofa => (1.8, 0.85, 0.85),
            FurnitureKind::CoffeeTable => (1.0, 0.6, 0.45),
        }
    }
}

/// A horizontal surface objects can stand on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surface {
    /// Minimum x, y of the usable area, m.
    pub min_xy: [f64; 2],
    /// Maximum x, y of the usable area, m.
    pub max_xy: [f64; 2],
    /// Height of the surface, m.
    pub z_m: f64,
    /// Index of the furniture piece.
    pub furniture: usize,
}

/// A piece of furniture.
#[derive(Debug, Clone, PartialEq)]
pub struct Furniture {
    /// Kind.
    pub kind: FurnitureKind,
    /// Room index.
    pub room: usize,
    /// Bounding box centre, m.
    pub center: Point3<f64>,
    /// Bounding box size (world axes), m.
    pub extent: Vector3<f64>,
    /// Solid parts (occluders).
    pub parts: Vec<Aabb>,
}

/// A room.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Kind name (kitchen, living room, office, bedroom).
    pub name: &'static str,
    /// Lower corner (x, y), m.
    pub origin: [f64; 2],
    /// Grid cell (column, row).
    pub cell: (usize, usize),
}

impl Room {
    /// Centre of the floor, m.
    pub fn center(&self) -> Point3<f64> {
        Point3::new(
            self.origin[0] + ROOM_SIZE_M / 2.0,
            self.origin[1] + ROOM_SIZE_M / 2.0,
            0.0,
        )
    }
}

/// A small-object class: label, size and its look-alike (the detector confuses them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectClass {
    /// Label.
    pub label: &'static str,
    /// Size x, y, z, m.
    pub size: [f64; 3],
    /// Look-alike label, if any.
    pub look_alike: Option<&'static str>,
}

/// The 36 small-object classes.
pub const CLASSES: &[ObjectClass] = &[
    ObjectClass {
        label: "mug",
        size: [0.09, 0.09, 0.10],
        look_alike: Some("cup"),
    },
    ObjectClass {
        label: "cup",
        size: [0.08, 0.08, 0.09],
        look_alike: Some("mug"),
    },
    ObjectClass {
        label: "plate",
        size: [0.25, 0.25, 0.02],
        look_alike: None,
    },
    ObjectClass {
        label: "bowl",
        size: [0.16, 0.16, 0.07],
        look_alike: None,
    },
    ObjectClass {
        label: "bottle",
        size: [0.07, 0.07, 0.25],
        look_alike: None,
    },
    ObjectClass {
        label: "glass",
        size: [0.07, 0.07, 0.12],
        look_alike: None,
    },
    ObjectClass {
        label: "kettle",
        size: [0.20, 0.15, 0.22],
        look_alike: None,
    },
    ObjectClass {
        label: "book",
        size: [0.15, 0.22, 0.03],
        look_alike: Some("notebook"),
    },
    ObjectClass {
        label: "notebook",
        size: [0.15, 0.21, 0.015],
        look_alike: Some("book"),
    },
    ObjectClass {
        label: "laptop",
        size: [0.33, 0.23, 0.02],
        look_alike: None,
    },
    ObjectClass {
        label: "phone",
        size: [0.07, 0.15, 0.01],
        look_alike: None,
    },
    ObjectClass {
        label: "keys",
        size: [0.08, 0.04, 0.02],
        look_alike: None,
    },
    ObjectClass {
        label: "wallet",
        size: [0.11, 0.09, 0.02],
        look_alike: None,
    },
    ObjectClass {
        label: "remote",
        size: [0.05, 0.18, 0.02],
        look_alike: None,
    },
    ObjectClass {
        label: "glasses",
        size: [0.14, 0.05, 0.04],
        look_alike: None,
    },
    ObjectClass {
        label: "headphones",
        size: [0.18, 0.16, 0.08],
        look_alike: None,
    },
    ObjectClass {
        label: "charger",
        size: [0.06, 0.06, 0.03],
        look_alike: None,
    },
    ObjectClass {
        label: "toy car",
        size: [0.12, 0.06, 0.05],
        look_alike: None,
    },
    ObjectClass {
        label: "teddy bear",
        size: [0.20, 0.15, 0.25],
        look_alike: None,
    },
    ObjectClass {
        label: "vase",
        size: [0.12, 0.12, 0.25],
        look_alike: None,
    },
    ObjectClass {
        label: "potted plant",
        size: [0.20, 0.20, 0.30],
        look_alike: None,
    },
    ObjectClass {
        label: "candle",
        size: [0.07, 0.07, 0.10],
        look_alike: None,
    },
    ObjectClass {
        label: "clock",
        size: [0.20, 0.06, 0.20],
        look_alike: None,
    },
    ObjectClass {
        label: "picture frame",
        size: [0.20, 0.03, 0.25],
        look_alike: None,
    },
    ObjectClass {
        label: "box",
        size: [0.30, 0.20, 0.15],
        look_alike: None,
    },
    ObjectClass {
        label: "banana",
        size: [0.18, 0.04, 0.04],
        look_alike: None,
    },
    ObjectClass {
        label: "apple",
        size: [0.08, 0.08, 0.08],
        look_alike: None,
    },
    ObjectClass {
        label: "scissors",
        size: [0.18, 0.07, 0.01],
        look_alike: None,
    },
    ObjectClass {
        label: "stapler",
        size: [0.15, 0.04, 0.05],
        look_alike: None,
    },
    ObjectClass {
        label: "desk lamp",
        size: [0.15, 0.15, 0.40],
        look_alike: None,
    },
    ObjectClass {
        label: "tissue box",
        size: [0.24, 0.12, 0.10],
        look_alike: None,
    },
    ObjectClass {
        label: "towel",
        size: [0.30, 0.20, 0.05],
        look_alike: None,
    },
    ObjectClass {
        label: "cushion",
        size: [0.40, 0.40, 0.15],
        look_alike: None,
    },
    ObjectClass {
        label: "bag",
        size: [0.35, 0.15, 0.30],
        look_alike: None,
    },
    ObjectClass {
        label: "hat",
        size: [0.28, 0.28, 0.12],
        look_alike: None,
    },
    ObjectClass {
        label: "cutting board",
        size: [0.35, 0.25, 0.02],
        look_alike: None,
    },
];

/// Groups of labels the simulated detector confuses (passed to the memory's config).
pub fn look_alike_groups() -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for c in CLASSES {
        if let Some(other) = c.look_alike {
            let mut g = vec![c.label.to_string(), other.to_string()];
            g.sort();
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    groups
}

/// Class by label.
pub fn class_of(label: &str) -> Option<&'static ObjectClass> {
    CLASSES.iter().find(|c| c.label == label)
}

/// The static layout: rooms, walls, furniture, surfaces, occluders.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Rooms, in patrol order.
    pub rooms: Vec<Room>,
    /// Furniture.
    pub furniture: Vec<Furniture>,
    /// Support surfaces.
    pub surfaces: Vec<Surface>,
    /// Wall boxes and the floor.
    pub structure: Vec<Aabb>,
    /// Door centres (floor level) between consecutive rooms of the patrol: `doors[i]` joins
    /// room `i` and `i + 1`.
    pub doors: Vec<Point3<f64>>,
}

const ROOM_NAMES: &[&str] = &["kitchen", "living room", "office", "bedroom"];

/// Which wall of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wall {
    South,
    North,
    West,
    East,
}

impl Layout {
    /// Builds `n_rooms` rooms in a snake-ordered grid with doors between consecutive rooms.
    pub fn build(n_rooms: usize, rng: &mut Rng) -> Self {
        let n_rooms = n_rooms.max(1);
        let cols = (n_rooms as f64).sqrt().ceil() as usize;
        let mut rooms = Vec::new();
        for i in 0..n_rooms {
            let row = i / cols;
            let col_in_row = i % cols;
            let col = if row.is_multiple_of(2) {
                col_in_row
            } else {
                cols - 1 - col_in_row
            };
            rooms.push(Room {
                name: ROOM_NAMES[i % ROOM_NAMES.len()],
                origin: [col as f64 * ROOM_SIZE_M, row as f64 * ROOM_SIZE_M],
                cell: (col, row),
            });
        }
        // Doors between consecutive rooms (adjacent by construction of the snake).
        let mut door_walls: Vec<Vec<Wall>> = vec![Vec::new(); n_rooms];
        let mut doors = Vec::new();
        for i in 0..n_rooms.saturating_sub(1) {
            let (a, b) = (rooms[i].cell, rooms[i + 1].cell);
            let (wa, wb) = if b.0 > a.0 {
                (Wall::East, Wall::West)
            } else if b.0 < a.0 {
                (Wall::West, Wall::East)
            } else {
                (Wall::North, Wall::South)
            };
            door_walls[i].push(wa);
            door_walls[i + 1].push(wb);
            let o = rooms[i].origin;
            let p = match wa {
                Wall::East => Point3::new(o[0] + ROOM_SIZE_M, o[1] + DOOR_OFFSET_M, 0.0),
                Wall::West => Point3::new(o[0], o[1] + DOOR_OFFSET_M, 0.0),
                Wall::North | Wall::South => {
                    Point3::new(o[0] + DOOR_OFFSET_M, o[1] + ROOM_SIZE_M, 0.0)
                }
            };
            doors.push(p);
        }
        let mut structure = Vec::new();
        let cols_f = cols as f64;
        let rows = n_rooms.div_ceil(cols);
        structure.push(Aabb {
            min: Point3::new(-1.0, -1.0, -0.05),
            max: Point3::new(
                cols_f * ROOM_SIZE_M + 1.0,
                rows as f64 * ROOM_SIZE_M + 1.0,
                0.0,
            ),
        });
        for (i, room) in rooms.iter().enumerate() {
            for wall in [Wall::South, Wall::North, Wall::West, Wall::East] {
                structure.extend(wall_boxes(room, wall, door_walls[i].contains(&wall)));
            }
        }
        let mut furniture = Vec::new();
        let mut surfaces = Vec::new();
        for (i, room) in rooms.iter().enumerate() {
            let kinds: &[FurnitureKind] = match room.name {
                "kitchen" => &[
                    FurnitureKind::Counter,
                    FurnitureKind::Counter,
                    FurnitureKind::Table,
                ],
                "living room" => &[
                    FurnitureKind::Sofa,
                    FurnitureKind::Shelf,
                    FurnitureKind::CoffeeTable,
                ],
                "office" => &[
                    FurnitureKind::Table,
                    FurnitureKind::Shelf,
                    FurnitureKind::Shelf,
                ],
                _ => &[
                    FurnitureKind::Table,
                    FurnitureKind::Shelf,
                    FurnitureKind::Sofa,
                ],
            };
            // Wall slots avoid door walls' door positions by sitting at 3.1 m along the wall.
            let mut walls = [Wall::North, Wall::East, Wall::South, Wall::West];
            // Rotate deterministically per seed so layouts differ.
            let r = rng.index(4);
            walls.rotate_left(r);
            for (slot, kind) in kinds.iter().enumerate() {
                let idx = furniture.len();
                let f = place_furniture(room, i, *kind, walls[slot], idx, &mut surfaces);
                furniture.push(f);
            }
        }
        Self {
            rooms,
            furniture,
            surfaces,
            structure,
            doors,
        }
    }

    /// All occluders: structure plus furniture parts, skipping the parts of `skip_furniture`.
    pub fn occluders(&self, skip_furniture: Option<usize>) -> impl Iterator<Item = &Aabb> {
        self.structure.iter().chain(
            self.furniture
                .iter()
                .enumerate()
                .filter(move |(i, _)| Some(*i) != skip_furniture)
                .flat_map(|(_, f)| f.parts.iter()),
        )
    }

    /// The room containing a point (by its floor cell).
    pub fn room_of(&self, p: &Point3<f64>) -> Option<usize> {
        self.rooms.iter().position(|r| {
            p.x >= r.origin[0]
                && p.x < r.origin[0] + ROOM_SIZE_M
                && p.y >= r.origin[1]
                && p.y < r.origin[1] + ROOM_SIZE_M
        })
    }
}

fn wall_boxes(room: &Room, wall: Wall, door: bool) -> Vec<Aabb> {
    let (ox, oy) = (room.origin[0], room.origin[1]);
    let t = WALL_THICKNESS_M / 2.0;
    let h = WALL_HEIGHT_M;
    // Each wall as (start, end) along its axis, fixed coordinate.
    let (horizontal, fixed) = match wall {
        Wall::South => (true, oy),
        Wall::North => (true, oy + ROOM_SIZE_M),
        Wall::West => (false, ox),
        Wall::East => (false, ox + ROOM_SIZE_M),
    };
    let start = if horizontal { ox } else { oy };
    let mut spans = Vec::new();
    if door {
        let d0 = start + DOOR_OFFSET_M - DOOR_WIDTH_M / 2.0;
        let d1 = start + DOOR_OFFSET_M + DOOR_WIDTH_M / 2.0;
        spans.push((start, d0));
        spans.push((d1, start + ROOM_SIZE_M));
    } else {
        spans.push((start, start + ROOM_SIZE_M));
    }
    spans
        .into_iter()
        .map(|(a, b)| {
            if horizontal {
                Aabb {
                    min: Point3::new(a, fixed - t, 0.0),
                    max: Point3::new(b, fixed + t, h),
                }
            } else {
                Aabb {
                    min: Point3::new(fixed - t, a, 0.0),
                    max: Point3::new(fixed + t, b, h),
                }
            }
        })
        .collect()
}

fn place_furniture(
    room: &Room,
    room_index: usize,
    kind: FurnitureKind,
    wall: Wall,
    index: usize,
    surfaces: &mut Vec<Surface>,
) -> Furniture {
    let (len, depth, height) = kind.size();
    let (ox, oy) = (room.origin[0], room.origin[1]);
    let gap = WALL_THICKNESS_M / 2.0 + 0.02;
    let along = 3.1;
    // Free-standing pieces (coffee table, kitchen/desk table not against a wall) stay clear of
    // the room centre where the robot turns.
    let (cx, cy, ex, ey) = match wall {
        Wall::South => (ox + along, oy + gap + depth / 2.0, len, depth),
        Wall::North => (ox + along, oy + ROOM_SIZE_M - gap - depth / 2.0, len, depth),
        Wall::West => (ox + gap + depth / 2.0, oy + along, depth, len),
        Wall::East => (ox + ROOM_SIZE_M - gap - depth / 2.0, oy + along, depth, len),
    };
    let (cx, cy) = if kind == FurnitureKind::CoffeeTable {
        // Pulled 0.9 m away from the wall, into the room.
        match wall {
            Wall::South => (cx, cy + 0.9),
            Wall::North => (cx, cy - 0.9),
            Wall::West => (cx + 0.9, cy),
            Wall::East => (cx - 0.9, cy),
        }
    } else {
        (cx, cy)
    };
    let center = Point3::new(cx, cy, height / 2.0);
    let extent = Vector3::new(ex, ey, height);
    let bb = Aabb::centered(center, extent);
    let inset = 0.08;
    let area = |z: f64| Surface {
        min_xy: [bb.min.x + inset, bb.min.y + inset],
        max_xy: [bb.max.x - inset, bb.max.y - inset],
        z_m: z,
        furniture: index,
    };
    let slab = |z0: f64, z1: f64| Aabb {
        min: Point3::new(bb.min.x, bb.min.y, z0),
        max: Point3::new(bb.max.x, bb.max.y, z1),
    };
    let mut parts = Vec::new();
    match kind {
        FurnitureKind::Table | FurnitureKind::CoffeeTable => {
            parts.push(slab(height - 0.04, height));
            surfaces.push(area(height));
        }
        FurnitureKind::Counter => {
            parts.push(slab(0.0, height));
            surfaces.push(area(height));
        }
        FurnitureKind::Sofa => {
            parts.push(slab(0.0, 0.45));
            // Backrest along the wall side.
            let back = match wall {
                Wall::South => Aabb {
                    min: bb.min,
                    max: Point3::new(bb.max.x, bb.min.y + 0.2, height),
                },
                Wall::North => Aabb {
                    min: Point3::new(bb.min.x, bb.max.y - 0.2, 0.0),
                    max: bb.max,
                },
                Wall::West => Aabb {
                    min: bb.min,
                    max: Point3::new(bb.min.x + 0.2, bb.max.y, height),
                },
                Wall::East => Aabb {
                    min: Point3::new(bb.max.x - 0.2, bb.min.y, 0.0),
                    max: bb.max,
                },
            };
            parts.push(back);
            let mut seat = area(0.45);
            match wall {
                Wall::South => seat.min_xy[1] += 0.2,
                Wall::North => seat.max_xy[1] -= 0.2,
                Wall::West => seat.min_xy[0] += 0.2,
                Wall::East => seat.max_xy[0] -= 0.2,
            }
            surfaces.push(seat);
        }
        FurnitureKind::Shelf => {
            for (z0, z1) in [(0.0, 0.02), (0.38, 0.40), (0.98, 1.0), (1.78, 1.8)] {
                parts.push(slab(z0, z1));
            }
            // Back panel and sides.
            let t = 0.02;
            let back = match wall {
                Wall::South => Aabb {
                    min: bb.min,
                    max: Point3::new(bb.max.x, bb.min.y + t, height),
                },
                Wall::North => Aabb {
                    min: Point3::new(bb.min.x, bb.max.y - t, 0.0),
                    max: bb.max,
                },
                Wall::West => Aabb {
                    min: bb.min,
                    max: Point3::new(bb.min.x + t, bb.max.y, height),
                },
                Wall::East => Aabb {
                    min: Point3::new(bb.max.x - t, bb.min.y, 0.0),
                    max: bb.max,
                },
            };
            parts.push(back);
            if ex > ey {
                parts.push(Aabb {
                    min: bb.min,
                    max: Point3::new(bb.min.x + t, bb.max.y, height),
                });
                parts.push(Aabb {
                    min: Point3::new(bb.max.x - t, bb.min.y, 0.0),
                    max: bb.max,
                });
            } else {
                parts.push(Aabb {
                    min: bb.min,
                    max: Point3::new(bb.max.x, bb.min.y + t, height),
                });
                parts.push(Aabb {
                    min: Point3::new(bb.min.x, bb.max.y - t, 0.0),
                    max: bb.max,
                });
            }
            surfaces.push(area(0.40));
            surfaces.push(area(1.0));
        }
    }
    Furniture {
        kind,
        room: room_index,
        center,
        extent,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_box_entry() {
        let b = Aabb {
            min: Point3::new(1.0, -1.0, -1.0),
            max: Point3::new(2.0, 1.0, 1.0),
        };
        let t = b
            .ray_entry(&Point3::origin(), &Vector3::new(1.0, 0.0, 0.0))
            .unwrap();
        assert!((t - 1.0).abs() < 1e-12);
        assert!(b
            .ray_entry(&Point3::origin(), &Vector3::new(-1.0, 0.0, 0.0))
            .is_none());
        assert!(b
            .ray_entry(&Point3::origin(), &Vector3::new(0.0, 1.0, 0.0))
            .is_none());
    }

    #[test]
    fn layout_has_enough_classes_rooms_and_doors() {
        assert!(CLASSES.len() >= 30);
        let mut rng = Rng::new(1);
        let l = Layout::build(4, &mut rng);
        assert_eq!(l.rooms.len(), 4);
        assert_eq!(l.doors.len(), 3);
        assert_eq!(l.furniture.len(), 12);
        assert!(l.surfaces.len() >= 12);
        // Consecutive rooms are grid neighbours.
        for w in l.rooms.windows(2) {
            let d = w[0].cell.0.abs_diff(w[1].cell.0) + w[0].cell.1.abs_diff(w[1].cell.1);
            assert_eq!(d, 1);
        }
    }
}
