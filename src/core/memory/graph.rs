//! Keeping the scene graph's derived structure in step: places from the trajectory, captions,
//! the per-label index and text embeddings, and incremental `on` / `in` / `near` relations.

use super::*;

impl Memory {
    /// Recomputes an object's cached compatibility group after its label changed.
    pub(super) fn refresh_group(&mut self, id: ObjectId) {
        let label = self.objects[id.index()].label.clone();
        let g = self.group_of(&label);
        self.touch(id);
        self.objects[id.index()].group = g;
    }

    pub(super) fn record_caption(
        &mut self,
        text: &str,
        stamp: StampNs,
        world_from_body: &Isometry3<f64>,
        place: PlaceId,
    ) {
        let embedding = self.embedder.embed(text).unwrap_or_default();
        let p = world_from_body.translation.vector;
        let index = self.log.add_caption(CaptionRecord {
            text: text.to_string(),
            embedding,
            robot_position_world: [p.x, p.y, p.z],
            robot_yaw_rad: yaw_rad(world_from_body),
        });
        self.push_event(Event {
            id: EventId(0),
            stamp_ns: stamp,
            kind: EventKind::Caption,
            object: None,
            place: Some(place),
            start_ns: stamp,
            end_ns: stamp,
            position_world: [p.x as f32, p.y as f32, p.z as f32],
            from_world: None,
            caption: Some(index),
        });
    }

    /// Nearest place within twice the place radius of `position`.
    pub(super) fn place_for(&self, position: &Point3<f64>) -> Option<PlaceId> {
        self.nearest_place(position, 2.0 * self.config.place_radius_m)
    }

    /// Nearest place within `radius_m` (ties to the lower id).
    pub(super) fn nearest_place(&self, position: &Point3<f64>, radius_m: f64) -> Option<PlaceId> {
        let mut best: Option<(f32, u32)> = None;
        self.place_index
            .for_each_within(to_f32(position), radius_m as f32, |raw, d2| {
                if best.is_none_or(|b| (d2, raw) < b) {
                    best = Some((d2, raw));
                }
            });
        best.map(|(_, raw)| PlaceId(raw))
    }

    /// Places the robot: the nearest place within the place radius, or a new one.
    pub(super) fn update_place(
        &mut self,
        stamp: StampNs,
        world_from_body: &Isometry3<f64>,
    ) -> PlaceId {
        let p = world_from_body.translation.vector;
        let here = Point3::new(p.x, p.y, p.z);
        let place = match self.nearest_place(&here, self.config.place_radius_m) {
            Some(id) => {
                self.touch_place(id);
                self.places[id.index()].last_visit_ns = stamp;
                id
            }
            None => {
                let id = PlaceId(self.places.len() as u32);
                self.touch_place(id);
                self.places.push(Place {
                    id,
                    center_world: here,
                    first_visit_ns: stamp,
                    last_visit_ns: stamp,
                });
                self.place_index.upsert(id.0, to_f32(&here));
                id
            }
        };
        if self.current_place != Some(place) {
            self.current_place = Some(place);
            self.push_event(Event {
                id: EventId(0),
                stamp_ns: stamp,
                kind: EventKind::PlaceEntered,
                object: None,
                place: Some(place),
                start_ns: stamp,
                end_ns: stamp,
                position_world: to_f32(&here),
                from_world: None,
                caption: None,
            });
        }
        place
    }

    pub(super) fn ensure_label_embedding(&mut self, label: &str) {
        if !self.label_embeddings.contains_key(label) {
            let e = self.embedder.embed(label).unwrap_or_default();
            self.label_embeddings.insert(label.to_string(), e);
        }
    }

    pub(super) fn refresh_text_embedding(&mut self, id: ObjectId) {
        let obj = &self.objects[id.index()];
        if !obj.is_reportable() {
            return;
        }
        if let Some(text) = obj.text.clone() {
            let e = self.embedder.embed(&text).unwrap_or_default();
            self.text_embeddings.insert(id, e);
        }
    }

    /// Keeps the per-label index in step with the object's label, state and last sighting.
    pub(super) fn refresh_label_index(&mut self, id: ObjectId) {
        if self
            .label_index
            .set(id, membership(&self.objects[id.index()]))
        {
            // A label's first member registers its embedding.
            let label = self.objects[id.index()].label.clone();
            self.ensure_label_embedding(&label);
        }
    }

    pub(super) fn refresh_relations_if_moved(&mut self, id: ObjectId) {
        let obj = &self.objects[id.index()];
        if (obj.position_world - self.relation_anchor[id.index()]).norm() >= RELATION_UPDATE_M {
            self.refresh_relations(id);
        }
    }

    /// Whether an object takes part in relations (reportable and present).
    pub(super) fn in_relations(&self, id: ObjectId) -> bool {
        self.reportable_and_present(id)
    }

    /// Search radius that finds every possible relation partner.
    pub(super) fn relation_reach(&self) -> f64 {
        self.config.near_relation_m.max(self.max_extent_seen_m) + self.config.on_tolerance_m
    }

    /// Recomputes every relation involving `id` from the anchors.
    pub(super) fn refresh_relations(&mut self, id: ObjectId) {
        self.touch_relations(id);
        self.relation_anchor[id.index()] = self.objects[id.index()].position_world;
        let as_subject: Vec<Relation> = self
            .relations
            .range(
                Relation {
                    subject: id,
                    kind: crate::core::scene_graph::RelationKind::On,
                    object: ObjectId(0),
                }..,
            )
            .take_while(|r| r.subject == id)
            .copied()
            .collect();
        for r in as_subject {
            self.relations.remove(&r);
            self.relations_rev.remove(&(r.object, r.kind, r.subject));
        }
        let as_object: Vec<(ObjectId, crate::core::scene_graph::RelationKind, ObjectId)> = self
            .relations_rev
            .range((id, crate::core::scene_graph::RelationKind::On, ObjectId(0))..)
            .take_while(|r| r.0 == id)
            .copied()
            .collect();
        for r in as_object {
            self.touch_relations(r.2);
            self.relations_rev.remove(&r);
            self.relations.remove(&Relation {
                subject: r.2,
                kind: r.1,
                object: r.0,
            });
        }
        if !self.in_relations(id) {
            return;
        }
        self.add_relations_of(id);
    }

    /// Inserts every relation between `id` (at its anchor) and its partners, both ways.
    pub(super) fn add_relations_of(&mut self, id: ObjectId) {
        let anchor = self.relation_anchor[id.index()];
        let mut partners: Vec<u32> = Vec::new();
        self.objects_within(to_f32(&anchor), self.relation_reach() as f32, |raw, _| {
            partners.push(raw);
        });
        partners.sort_unstable();
        for raw in partners {
            let other = ObjectId(raw);
            if other == id || !self.in_relations(other) {
                continue;
            }
            for (s, o) in [(id, other), (other, id)] {
                if let Some(kind) = self.relation_of(s, o) {
                    self.touch_relations(s);
                    self.relations.insert(Relation {
                        subject: s,
                        kind,
                        object: o,
                    });
                    self.relations_rev.insert((o, kind, s));
                }
            }
        }
    }

    pub(super) fn relation_of(
        &self,
        subject: ObjectId,
        object: ObjectId,
    ) -> Option<crate::core::scene_graph::RelationKind> {
        let a = BoxShape {
            center: self.relation_anchor[subject.index()],
            extent: self.objects[subject.index()].extent_m,
        };
        let b = BoxShape {
            center: self.relation_anchor[object.index()],
            extent: self.objects[object.index()].extent_m,
        };
        relation_between(
            &a,
            &b,
            self.config.near_relation_m,
            self.config.on_tolerance_m,
        )
    }

    /// Relations recomputed from scratch over all objects (brute force). Equal to
    /// [`Memory::relations`] at all times; exposed for tests and audits.
    pub fn relations_from_scratch(&self) -> BTreeSet<Relation> {
        let ids: Vec<ObjectId> = self
            .objects
            .iter()
            .filter(|o| self.in_relations(o.id))
            .map(|o| o.id)
            .collect();
        let mut out = BTreeSet::new();
        for a in &ids {
            for b in &ids {
                if a != b {
                    if let Some(kind) = self.relation_of(*a, *b) {
                        out.insert(Relation {
                            subject: *a,
                            kind,
                            object: *b,
                        });
                    }
                }
            }
        }
        out
    }
}

/// Every relation (equal to [`Memory::relations_from_scratch`]), split over the available
/// cores: the fast path when a memory is rebuilt from its parts. The anchors are binned
/// into a grid of cells at least the relation reach wide and sorted by cell; every pair of
/// anchors in the same or neighbouring cells is examined once, in one sequential sweep
/// (each cell meets its own pairs, the next cell up and the three cells of the next
/// column), so no pair within reach is missed and no k-d tree search is needed.
/// Unsorted.
pub(super) fn relations_in_bulk(
    objects: &[MemoryObject],
    anchors: &[Point3<f64>],
    config: &MemoryConfig,
    reach_m: f64,
) -> Vec<Relation> {
    // (An object without an anchor has no relations: the parts are rejected anyway.)
    let shapes: Vec<Option<BoxShape>> = objects
        .iter()
        .zip(anchors.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(o, anchor)| {
            let anchor = anchor.filter(|_| o.is_reportable() && o.state.is_present())?;
            Some(BoxShape {
                center: *anchor,
                extent: o.extent_m,
            })
        })
        .collect();
    // (A millimetre more covers rounding.)
    let reach = reach_m + 1e-3;
    let reach2 = reach * reach;
    let cell = reach.max(0.5);
    let mut order: Vec<(i64, i64, ObjectId)> = shapes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.as_ref().map(|s| {
                (
                    (s.center.x / cell).floor() as i64,
                    (s.center.y / cell).floor() as i64,
                    ObjectId(i as u32),
                )
            })
        })
        .collect();
    order.sort_unstable();
    // Occupied cells in order: (cell x, cell y, first, end) into `order`.
    let cells: Vec<(i64, i64, usize, usize)> = {
        let mut cells = Vec::new();
        let mut start = 0;
        for run in order.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            cells.push((run[0].0, run[0].1, start, start + run.len()));
            start += run.len();
        }
        cells
    };
    let (near_m, tol) = (config.near_relation_m, config.on_tolerance_m);
    // Both directions of one pair of objects.
    let pair = |a: ObjectId, b: ObjectId, out: &mut Vec<Relation>| {
        if a == b {
            return;
        }
        let (Some(sa), Some(sb)) = (&shapes[a.index()], &shapes[b.index()]) else {
            return;
        };
        if (sa.center - sb.center).norm_squared() > reach2 {
            return;
        }
        if let Some(kind) = relation_between(sa, sb, near_m, tol) {
            out.push(Relation {
                subject: a,
                kind,
                object: b,
            });
        }
        if let Some(kind) = relation_between(sb, sa, near_m, tol) {
            out.push(Relation {
                subject: b,
                kind,
                object: a,
            });
        }
    };
    let between =
        |c: &(i64, i64, usize, usize), d: &(i64, i64, usize, usize), out: &mut Vec<Relation>| {
            for a in &order[c.2..c.3] {
                for b in &order[d.2..d.3] {
                    pair(a.2, b.2, out);
                }
            }
        };
    // Cells `range` of `cells`, each with its forward neighbours.
    let of_cells = |range: std::ops::Range<usize>| {
        let mut out = Vec::new();
        // First cell of the next column at or above `y - 1`: only moves forward.
        let mut cursor = cells.partition_point(|c| {
            cells
                .get(range.start)
                .is_some_and(|s| (c.0, c.1) < (s.0.saturating_add(1), s.1.saturating_sub(1)))
        });
        for ci in range {
            let c = &cells[ci];
            let members = &order[c.2..c.3];
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    pair(a.2, b.2, &mut out);
                }
            }
            let (right, below, above) = (
                c.0.saturating_add(1),
                c.1.saturating_sub(1),
                c.1.saturating_add(1),
            );
            if let Some(up) = cells.get(ci + 1).filter(|u| u.0 == c.0 && u.1 == above) {
                between(c, up, &mut out);
            }
            while cells
                .get(cursor)
                .is_some_and(|d| (d.0, d.1) < (right, below))
            {
                cursor += 1;
            }
            let mut k = cursor;
            while let Some(d) = cells.get(k).filter(|d| d.0 == right && d.1 <= above) {
                between(c, d, &mut out);
                k += 1;
            }
        }
        out
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    if threads == 1 || order.len() < 4096 {
        return of_cells(0..cells.len());
    }
    let n_cells = cells.len();
    let chunk = n_cells.div_ceil(threads);
    std::thread::scope(|scope| {
        let of_cells = &of_cells;
        let handles: Vec<_> = (0..n_cells)
            .step_by(chunk)
            .map(|s| scope.spawn(move || of_cells(s..(s + chunk).min(n_cells))))
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(super::joined(h));
        }
        all
    })
}
