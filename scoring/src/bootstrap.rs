//! Percentile bootstrap confidence intervals.

use crate::reference::Reference;
use crate::submission::Predictions;

/// Bootstrap settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapOptions {
    /// Number of replicates (default 1000).
    pub replicates: usize,
    /// Seed (default fixed, so the same inputs always give the same interval).
    pub seed: u64,
    /// Coverage of the interval (default 0.95).
    pub confidence: f64,
}

/// The default seed.
pub const DEFAULT_SEED: u64 = 20240826;

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            replicates: 1000,
            seed: DEFAULT_SEED,
            confidence: 0.95,
        }
    }
}

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Intervals of one submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Intervals {
    /// Replicates drawn.
    pub replicates: usize,
    /// Seed used.
    pub seed: u64,
    /// mAP interval.
    pub map: Interval,
    /// mAUROC interval.
    pub mauroc: Interval,
    /// Per-class AP intervals (task label order; `None` for undefined labels).
    pub class_ap: Vec<Option<Interval>>,
    /// Per-class AUROC intervals.
    pub class_auroc: Vec<Option<Interval>>,
}

/// Draws the resampled index sets; the same sampler applied to several submissions gives
/// paired replicates.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// Rows per replicate.
    pub rows: usize,
    /// Settings.
    pub options: BootstrapOptions,
    /// Cluster of each row (cluster resampling) or `None` (image resampling).
    pub clusters: Option<Vec<u32>>,
}

impl Sampler {
    /// A sampler for `reference` (uses its clusters when the task resamples clusters).
    pub fn for_reference(reference: &Reference, options: BootstrapOptions) -> Sampler {
        Sampler {
            rows: reference.len(),
            options,
            clusters: reference.clusters.clone(),
        }
    }
}

/// Intervals for one submission.
pub fn intervals(
    _sampler: &Sampler,
    _reference: &Reference,
    _predictions: &Predictions,
) -> Intervals {
    todo!("bootstrap")
}
