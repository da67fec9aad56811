//! `cargo bench`: the core benchmark at a size that runs in about a minute, printed as ratios
//! against the linear-scan and SQLite R*Tree baselines of the same run. The full-size run
//! (1M objects, 10M events) is `mnemo bench`.

fn main() {
    let cfg = mnemo::bench::BenchConfig {
        objects: 200_000,
        events: 2_000_000,
        queries: 5_000,
        seed: 1,
    };
    match mnemo::bench::run_bench(&cfg) {
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
