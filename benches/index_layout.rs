//! `cargo bench --bench index_layout`: why `PointIndex` builds its k-d trees on (x, y).
//! Times the same exact radius queries (r = 1 m) over 1M points spread over a nearly flat
//! world (1 km x 1 km, z within 2 m) with a 3D tree and with a 2D tree plus an exact z check,
//! in the same run, and prints the ratio.

use std::time::Instant;

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use mnemo::sim::rng::Rng;

fn main() {
    let n = 1_000_000;
    let side = 1000.0;
    let r = 1.0f32;
    let mut rng = Rng::new(7);
    let pts: Vec<[f32; 3]> = (0..n)
        .map(|_| {
            [
                rng.range(0.0, side) as f32,
                rng.range(0.0, side) as f32,
                rng.range(0.0, 2.0) as f32,
            ]
        })
        .collect();
    let queries: Vec<[f32; 3]> = (0..20_000)
        .map(|_| {
            [
                rng.range(0.0, side) as f32,
                rng.range(0.0, side) as f32,
                rng.range(0.0, 2.0) as f32,
            ]
        })
        .collect();
    let tree3: ImmutableKdTree<f32, 3> = match ImmutableKdTree::new_from_slice(&pts) {
        Ok(t) => t,
        Err(e) => return eprintln!("3D tree: {e:?}"),
    };
    let xy: Vec<[f32; 2]> = pts.iter().map(|p| [p[0], p[1]]).collect();
    let tree2: ImmutableKdTree<f32, 2> = match ImmutableKdTree::new_from_slice(&xy) {
        Ok(t) => t,
        Err(e) => return eprintln!("2D tree: {e:?}"),
    };
    let began = Instant::now();
    let mut hits3 = 0usize;
    for q in &queries {
        hits3 += tree3
            .query(q)
            .within::<SquaredEuclidean<f32>>(r * r)
            .unsorted()
            .execute()
            .len();
    }
    let t3 = began.elapsed().as_secs_f64() * 1e6 / queries.len() as f64;
    let began = Instant::now();
    let mut hits2 = 0usize;
    for q in &queries {
        for hit in tree2
            .query(&[q[0], q[1]])
            .within::<SquaredEuclidean<f32>>(r * r)
            .unsorted()
            .execute()
        {
            let p = pts[hit.item as usize];
            if (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2) <= r * r {
                hits2 += 1;
            }
        }
    }
    let t2 = began.elapsed().as_secs_f64() * 1e6 / queries.len() as f64;
    println!(
        "radius {r} m over {n} points on a flat world, {} queries",
        queries.len()
    );
    println!("3D tree                 {t3:>8.2} us/query ({hits3} hits)");
    println!("2D tree + exact z check {t2:>8.2} us/query ({hits2} hits)");
    println!(
        "2D is {:.1}x faster; same answers: {}",
        t3 / t2.max(1e-9),
        hits2 == hits3
    );
}
