//! Percentile bootstrap confidence intervals.
//!
//! # Method
//!
//! A replicate resamples the test set with replacement: `n` draws among the `n` images (image
//! resampling, the default), or `m` draws among the `m` clusters when the reference carries
//! cluster ids (`study_id` / `subject_id`, chosen by the organizer in `task.toml`), every image
//! of a cluster drawn `k` times then counting `k` times. The result is one multinomial count per
//! row, shared by all classes of the replicate, and the metrics are computed with each row
//! counted that many times (scikit-learn's `sample_weight` semantics: weighted AP and AUROC over
//! the same tied-score groups as the point estimate).
//!
//! - In a replicate, a class with no positive weight or no negative weight is left out of that
//!   replicate's macro means (spec §3). Classes undefined in the full reference never count.
//! - A replicate in which no class is defined (only possible on tiny test sets) is skipped: it
//!   contributes to no interval. Whether a replicate is skipped depends only on the reference
//!   and the weights, so paired submissions skip the same replicates.
//! - The interval is the percentile interval: with confidence `c` (default 0.95) its ends are
//!   the `(1 − c)/2` and `(1 + c)/2` quantiles of the replicate values, computed like
//!   `numpy.percentile(values, [2.5, 97.5])` with numpy's default `linear` method ([`percentile`]).
//!   With no usable replicate the bounds are NaN.
//! - Per-class intervals use the replicates in which the class is defined; `None` for classes
//!   undefined in the reference.
//!
//! # Reproducibility and pairing
//!
//! Replicate `b`'s counts are a pure function of `(seed, b)`: they come from
//! [`Rng::for_stream`]`(seed, b)`. So the same inputs always give the same interval, on any
//! number of threads, and one [`Sampler`] applied to several submissions (one at a time, or with
//! [`paired_replicates`]) gives them the very same resampled sets: replicate `b` of every
//! submission is comparable, which is what [`rank_intervals`] needs.
//!
//! Counts are stored in a byte per row and saturate at 255. With `n` draws among `n` units a
//! unit is drawn more than 255 times with probability below `1/256!` (about 10^-507), and
//! never when there are fewer than 256 units, so the saturation is never reached in practice.
//!
//! # Speed
//!
//! Each class is sorted once ([`RankedClass`]); a replicate then makes one weighted pass per
//! class that sums the weights of the runs of negatives between tied groups holding positives
//! and divides only at those groups (see [`RankedClass::weighted_lanes`]). Sixteen replicates
//! share each pass: their counts sit side by side, one byte each, in a row's 16-byte record,
//! so one gather serves all sixteen and the sums are SIMD additions. Each replicate's arithmetic
//! is exactly the single-replicate one, so results do not depend on this batching. Batches run
//! in parallel with rayon, each thread reusing one weight buffer (1.3 MB for Task 1): memory
//! does not grow with `B`.

use rayon::prelude::*;

use crate::error::Result;
use crate::metrics::{self, RankedClass};
use crate::reference::Reference;
use crate::rng::Rng;
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

impl Interval {
    /// True when `value` lies within the bounds.
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
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

    /// Fills `weights` with replicate `b`'s count per row and returns their sum. The counts
    /// depend only on the seed, `b` and the rows (or clusters), never on the submission.
    pub fn replicate_weights(&self, b: usize, weights: &mut Vec<u8>) -> u64 {
        let draw = Draw::new(self);
        weights.clear();
        weights.resize(self.rows, 0);
        let (lanes, _) = weights.as_chunks_mut::<1>();
        let [total] = draw.fill(b, lanes, &mut Vec::new());
        total
    }
}

/// Replicates evaluated together in one pass over each class (one byte lane each).
const LANES: usize = 16;

/// A [`Sampler`] made ready to draw: clusters renumbered densely.
struct Draw {
    rows: usize,
    seed: u64,
    replicates: usize,
    /// Dense cluster number of each row and the number of clusters.
    clusters: Option<(Vec<u32>, usize)>,
}

impl Draw {
    fn new(sampler: &Sampler) -> Draw {
        let clusters = sampler.clusters.as_ref().map(|of_row| {
            assert_eq!(of_row.len(), sampler.rows, "one cluster per row");
            let mut ids = of_row.clone();
            ids.sort_unstable();
            ids.dedup();
            let dense = of_row
                .iter()
                .map(|c| ids.binary_search(c).expect("id is listed") as u32)
                .collect();
            (dense, ids.len())
        });
        Draw {
            rows: sampler.rows,
            seed: sampler.options.seed,
            replicates: sampler.options.replicates,
            clusters,
        }
    }

    /// Counts per row of replicates `first..first + K` into lane `k` of `weights` (length
    /// `rows`); returns each lane's sum. Lanes past the last replicate stay 0.
    /// `cluster_counts` is scratch space for cluster resampling.
    fn fill<const K: usize>(
        &self,
        first: usize,
        weights: &mut [[u8; K]],
        cluster_counts: &mut Vec<[u8; K]>,
    ) -> [u64; K] {
        debug_assert_eq!(weights.len(), self.rows);
        let lanes = K.min(self.replicates.saturating_sub(first)).max(1);
        let draw_into = |counts: &mut [[u8; K]]| {
            counts.fill([0; K]);
            for k in 0..lanes {
                multinomial(
                    &mut Rng::for_stream(self.seed, (first + k) as u64),
                    counts,
                    k,
                );
            }
        };
        match &self.clusters {
            None => draw_into(weights),
            Some((of_row, count)) => {
                cluster_counts.resize(*count, [0; K]);
                draw_into(cluster_counts);
                for (w, &c) in weights.iter_mut().zip(of_row) {
                    *w = cluster_counts[c as usize];
                }
            }
        }
        let mut totals = [0u64; K];
        for w in weights.iter() {
            for k in 0..K {
                totals[k] += u64::from(w[k]);
            }
        }
        totals
    }
}

/// `counts.len()` draws with replacement among `counts.len()` units, counted per unit in
/// lane `lane`.
fn multinomial<const K: usize>(rng: &mut Rng, counts: &mut [[u8; K]], lane: usize) {
    let n = u32::try_from(counts.len()).expect("fewer than 2^32 units");
    for _ in 0..n {
        let unit = &mut counts[rng.below(n) as usize][lane];
        *unit = unit.saturating_add(1);
    }
}

/// Per-replicate results of one submission, in replicate order (skipped replicates left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Replicates {
    /// Replicate number `b` of each entry below: the same for every submission scored with
    /// the same sampler and reference, so entry `j` of two submissions is a paired comparison.
    pub replicate: Vec<u32>,
    /// mAP per replicate.
    pub map: Vec<f64>,
    /// mAUROC per replicate.
    pub mauroc: Vec<f64>,
    /// AP per class (task label order) and replicate; `None` where the class is undefined.
    pub class_ap: Vec<Vec<Option<f64>>>,
    /// AUROC per class and replicate; `None` where the class is undefined.
    pub class_auroc: Vec<Vec<Option<f64>>>,
}

/// Intervals for one submission.
///
/// # Panics
/// When `predictions` are not aligned to `reference`; [`metrics::score`] refuses those first.
pub fn intervals(sampler: &Sampler, reference: &Reference, predictions: &Predictions) -> Intervals {
    let ranked = metrics::rank_classes(reference, predictions)
        .expect("bootstrap intervals need predictions that metrics::score accepted");
    intervals_ranked(sampler, &ranked)
}

/// [`intervals`] for classes already ranked by [`metrics::rank_classes`].
pub fn intervals_ranked(sampler: &Sampler, ranked: &[RankedClass]) -> Intervals {
    summarize(&replicates_ranked(sampler, ranked), &sampler.options)
}

/// Per-replicate mAP, mAUROC and per-class values of one submission.
pub fn replicates(
    sampler: &Sampler,
    reference: &Reference,
    predictions: &Predictions,
) -> Result<Replicates> {
    let ranked = metrics::rank_classes(reference, predictions)?;
    Ok(replicates_ranked(sampler, &ranked))
}

/// Per-replicate results of several submissions under the same resampled sets (paired
/// bootstrap). Submissions are processed one after the other, so memory stays that of one.
pub fn paired_replicates(
    sampler: &Sampler,
    reference: &Reference,
    submissions: &[&Predictions],
) -> Result<Vec<Replicates>> {
    submissions
        .iter()
        .map(|p| replicates(sampler, reference, p))
        .collect()
}

/// [`replicates`] for classes already ranked by [`metrics::rank_classes`].
pub fn replicates_ranked(sampler: &Sampler, ranked: &[RankedClass]) -> Replicates {
    let draw = Draw::new(sampler);
    let batches = sampler.options.replicates.div_ceil(LANES);
    // Per batch, per class: the rankings of its LANES replicates. Classes undefined in the
    // reference are never evaluated (no weighting can give them both kinds of rows).
    let per_batch: Vec<Vec<[Option<metrics::Ranking>; LANES]>> = (0..batches)
        .into_par_iter()
        .map_init(
            || (vec![[0u8; LANES]; sampler.rows], Vec::new()),
            |(weights, scratch), batch| {
                let totals = draw.fill(batch * LANES, weights, scratch);
                ranked
                    .iter()
                    .map(|class| match class.defined() {
                        true => class.weighted_lanes(weights, &totals),
                        false => [None; LANES],
                    })
                    .collect()
            },
        )
        .collect();

    let mut out = Replicates {
        replicate: Vec::new(),
        map: Vec::new(),
        mauroc: Vec::new(),
        class_ap: vec![Vec::new(); ranked.len()],
        class_auroc: vec![Vec::new(); ranked.len()],
    };
    for b in 0..sampler.options.replicates {
        let rankings: Vec<Option<metrics::Ranking>> = per_batch[b / LANES]
            .iter()
            .map(|lanes| lanes[b % LANES])
            .collect();
        let present: Vec<&metrics::Ranking> = rankings.iter().flatten().collect();
        if present.is_empty() {
            continue; // no class defined in this replicate
        }
        let n = present.len() as f64;
        out.replicate.push(b as u32);
        out.map.push(present.iter().map(|r| r.ap).sum::<f64>() / n);
        out.mauroc
            .push(present.iter().map(|r| r.auroc).sum::<f64>() / n);
        for (c, r) in rankings.iter().enumerate() {
            out.class_ap[c].push(r.map(|r| r.ap));
            out.class_auroc[c].push(r.map(|r| r.auroc));
        }
    }
    out
}

/// Percentile intervals from replicate results.
pub fn summarize(replicates: &Replicates, options: &BootstrapOptions) -> Intervals {
    let c = options.confidence;
    let class = |values: &Vec<Option<f64>>| {
        let kept: Vec<f64> = values.iter().flatten().copied().collect();
        (!kept.is_empty()).then(|| percentile_interval(&kept, c))
    };
    Intervals {
        replicates: options.replicates,
        seed: options.seed,
        map: percentile_interval(&replicates.map, c),
        mauroc: percentile_interval(&replicates.mauroc, c),
        class_ap: replicates.class_ap.iter().map(class).collect(),
        class_auroc: replicates.class_auroc.iter().map(class).collect(),
    }
}

/// The central `confidence` percentile interval of `values` (NaN bounds when empty).
pub fn percentile_interval(values: &[f64], confidence: f64) -> Interval {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    // 100·c first, so that c = 0.95 gives exactly numpy's [2.5, 97.5].
    let tail = (100.0 - 100.0 * confidence) / 2.0;
    Interval {
        low: percentile(&sorted, tail),
        high: percentile(&sorted, 100.0 - tail),
    }
}

/// `numpy.percentile(sorted, percent)` with numpy's default `linear` method, bit for bit:
/// the value at virtual index `(n − 1)·percent/100`, interpolated between its neighbours as
/// numpy's `_lerp` does. `sorted` must be ascending; NaN when it is empty.
pub fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * (percent / 100.0);
    if virtual_index >= (n - 1) as f64 {
        return sorted[n - 1];
    }
    if virtual_index < 0.0 {
        return sorted[0];
    }
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let (a, b) = (sorted[previous as usize], sorted[previous as usize + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Rank intervals from paired replicates (one [`Replicates`] per submission, all from the same
/// sampler and reference): in every replicate each submission is ranked by mAP, then mAUROC
/// (rank 1 is best; equal pairs share the better rank), and the interval is the percentile
/// interval of its ranks.
///
/// # Panics
/// When the replicates are not paired (different replicate numbers).
pub fn rank_intervals(paired: &[Replicates], confidence: f64) -> Vec<Interval> {
    let Some(first) = paired.first() else {
        return Vec::new();
    };
    assert!(
        paired.iter().all(|r| r.replicate == first.replicate),
        "rank intervals need replicates from one sampler and reference"
    );
    let mut ranks = vec![Vec::with_capacity(first.replicate.len()); paired.len()];
    for j in 0..first.replicate.len() {
        let key = |i: usize| (paired[i].map[j], paired[i].mauroc[j]);
        for (i, r) in ranks.iter_mut().enumerate() {
            let better = (0..paired.len()).filter(|&k| key(k) > key(i)).count();
            r.push((better + 1) as f64);
        }
    }
    ranks
        .iter()
        .map(|r| percentile_interval(r, confidence))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 2.5), 1.1);
        assert_eq!(percentile(&v, 97.5), 4.9);
        assert_eq!(percentile(&[7.0], 2.5), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn image_weights_sum_to_rows_and_cluster_weights_keep_clusters_whole() {
        let mut sampler = Sampler {
            rows: 500,
            options: BootstrapOptions::default(),
            clusters: None,
        };
        let mut w = Vec::new();
        assert_eq!(sampler.replicate_weights(3, &mut w), 500);
        assert!(w.contains(&0) && w.iter().any(|&x| x > 1));
        // Clusters of 5 consecutive rows, numbered sparsely.
        sampler.clusters = Some((0..500).map(|r| (r / 5) * 7 + 100).collect());
        let total = sampler.replicate_weights(3, &mut w);
        assert_eq!(total % 5, 0);
        for cluster in w.chunks(5) {
            assert!(cluster.iter().all(|&x| x == cluster[0]), "{cluster:?}");
        }
    }
}
