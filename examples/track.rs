//! Debug aid: how the memory's objects near a point evolve, keyframe by keyframe.
use mnemo::core::embed::LexicalEmbedder;
use mnemo::core::memory::Memory;
use mnemo::sim::{memory_config, simulate, SimConfig};

fn main() {
    let a: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let (seed, p) = (a[0] as u64, [a[1], a[2], a[3]]);
    let cfg = SimConfig {
        seed,
        ..SimConfig::default()
    };
    let mut m = Memory::new(memory_config(), Box::new(LexicalEmbedder::default())).unwrap();
    let mut last: Vec<String> = Vec::new();
    let truth = simulate(&cfg, |obs| {
        let _ = m.ingest(obs);
        let mut now = Vec::new();
        for o in m.objects() {
            let d = ((o.position_world.x - p[0]).powi(2)
                + (o.position_world.y - p[1]).powi(2)
                + (o.position_world.z - p[2]).powi(2))
            .sqrt();
            if d < 0.4 || (o.id.0 == 5) {
                now.push(format!(
                    "#{} {} {:?} ret={} into={:?} pos=({:.2},{:.2}) conf={} seen={} missed={} since={:?} last={}",
                    o.id.0,
                    o.label,
                    o.state,
                    o.retired,
                    o.merged_into.map(|i| i.0),
                    o.position_world.x,
                    o.position_world.y,
                    o.confirmed,
                    o.times_seen,
                    o.missed_views,
                    m.missed_since(o.id).map(|t| (t - 1_767_225_600_000_000_000) / 1_000_000_000),
                    (o.last_seen_ns - 1_767_225_600_000_000_000) / 1_000_000_000
                ));
            }
        }
        if now != last {
            println!("t={} robot=({:.1},{:.1})", (obs.stamp_ns - 1_767_225_600_000_000_000) / 1_000_000_000, obs.world_from_body.translation.x, obs.world_from_body.translation.y);
            for l in &now {
                println!("   {l}");
            }
            last = now;
        }
    })
    .unwrap();
    for pt in &truth.patrols {
        println!(
            "patrol {} .. {}",
            (pt.start_ns - 1_767_225_600_000_000_000) / 1_000_000_000,
            (pt.end_ns - 1_767_225_600_000_000_000) / 1_000_000_000
        );
    }
}
