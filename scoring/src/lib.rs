//! # scoring: the Tailboard scoring engine
//!
//! Everything a CXR-LT leaderboard number depends on, with no web or database code:
//!
//! - [`task`]: the built-in CXR-LT 2024 tasks and custom tasks from `task.toml`;
//! - [`reference`]: reference labels (`labels.csv`) parsed and checked;
//! - [`submission`]: reading an upload (CSV or zip), refusing what breaks the rules, aligning
//!   the predictions to the reference order;
//! - [`metrics`]: per-class AP, AUROC, F1, ECE, FNR and their macro means (scikit-learn and
//!   torchmetrics semantics);
//! - [`bootstrap`]: percentile confidence intervals over a reusable (paired) resampler;
//! - [`report`]: `scores.txt`, `scores.json`, `per_class.csv`, `detailed_results.html`;
//! - [`codalab`]: the CodaLab / Codabench scoring program (`tailboard score`);
//! - [`demo`]: synthetic reference labels and submissions for demos, tests and benchmarks.
//!
//! Data flows one way: bytes -> [`submission::Predictions`] (valid by construction) ->
//! [`metrics::Scores`] (+ [`bootstrap::Intervals`]) -> [`report::Report`] -> files.

pub mod bootstrap;
pub mod codalab;
mod decimal;
pub mod demo;
pub mod error;
pub mod file;
pub mod metrics;
pub mod reference;
pub mod report;
pub mod rng;
pub mod submission;
mod table;
pub mod task;
#[doc(hidden)]
pub mod testcases;

pub use error::{Result, ScoringError};
pub use task::Task;
