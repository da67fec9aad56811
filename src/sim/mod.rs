//! A synthetic household with ground truth, for tests, benches and the demo.
//!
//! Owns the simulated world (rooms, furniture, 36 small-object classes with look-alikes), robot
//! patrols with a 640x480 pinhole camera, a detector model (misses, false positives, noise,
//! confusion), people changing things between patrols, and the question-answer set used by
//! `mnemo eval`. Everything is seeded and deterministic. Feeds the core through its public
//! inputs only, exactly as an adapter would.

pub mod export;
pub mod qa;
pub mod rng;
pub mod scenario;
pub mod world;

pub use qa::{evaluate, questions, EvalReport, Question};
pub use scenario::{simulate, simulate_with_sources, GroundTruth, SimConfig, SimError};

use crate::core::config::MemoryConfig;
use crate::core::embed::LexicalEmbedder;
use crate::core::error::CoreError;
use crate::core::memory::Memory;

/// The memory configuration for simulated runs: defaults plus the detector's look-alike groups
/// (a deployment would list its own detector's confusions the same way).
pub fn memory_config() -> MemoryConfig {
    MemoryConfig {
        compatible_labels: world::look_alike_groups(),
        ..MemoryConfig::default()
    }
}

/// Errors of a simulated evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A bad simulation knob.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A bad memory configuration.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Result of [`run_eval`].
pub struct EvalRun {
    /// The memory after the whole run.
    pub memory: Memory,
    /// What really happened.
    pub truth: GroundTruth,
    /// The questions asked.
    pub questions: Vec<Question>,
    /// The scores.
    pub report: EvalReport,
    /// Keyframes the memory refused (should be 0 for the simulator).
    pub rejected_keyframes: u64,
}

/// Simulates a world, feeds every keyframe to a fresh memory, and scores its answers.
///
/// # Errors
/// [`EvalError`] for bad knobs or config.
pub fn run_eval(sim: &SimConfig, config: MemoryConfig) -> Result<EvalRun, EvalError> {
    let mut memory = Memory::new(config, Box::new(LexicalEmbedder::default()))?;
    let mut rejected = 0u64;
    let truth = simulate(sim, |obs| {
        if memory.ingest(obs).is_err() {
            rejected += 1;
        }
    })?;
    let questions = questions(&truth);
    let report = evaluate(&memory, None, &truth, &questions);
    Ok(EvalRun {
        memory,
        truth,
        questions,
        report,
        rejected_keyframes: rejected,
    })
}

/// Result of [`run_eval_persistent`].
pub struct PersistentEvalRun {
    /// What really happened.
    pub truth: GroundTruth,
    /// The questions asked.
    pub questions: Vec<Question>,
    /// The scores (old windows answered from the store).
    pub report: EvalReport,
    /// Keyframes the memory refused.
    pub rejected_keyframes: u64,
}

/// Simulates a world into a persistent memory (committing as its policy says), calls
/// `on_day(day, memory)` after each simulated day (0-based, at the first keyframe of the next
/// day and once at the end), commits, and scores the answers.
///
/// # Errors
/// [`EvalError`] for bad knobs.
pub fn run_eval_persistent(
    sim: &SimConfig,
    memory: &mut crate::store::PersistentMemory,
    mut on_day: impl FnMut(u32, &crate::store::PersistentMemory),
) -> Result<PersistentEvalRun, EvalError> {
    let mut rejected = 0u64;
    let mut day = 0u32;
    let truth = simulate(sim, |obs| {
        let d = u32::try_from((obs.stamp_ns - scenario::SIM_EPOCH_NS).max(0) / 86_400_000_000_000)
            .unwrap_or(u32::MAX);
        while day < d {
            let _ = memory.commit();
            on_day(day, memory);
            day += 1;
        }
        if memory.ingest(obs).is_err() {
            rejected += 1;
        }
    })?;
    let _ = memory.commit();
    on_day(day, memory);
    let questions = questions(&truth);
    let cold = memory
        .store()
        .map(|s| s as &dyn crate::core::memory::ColdEvents);
    let report = evaluate(memory.memory(), cold, &truth, &questions);
    Ok(PersistentEvalRun {
        truth,
        questions,
        report,
        rejected_keyframes: rejected,
    })
}
