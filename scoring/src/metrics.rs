//! Per-class metrics and their macro means.

use crate::error::Result;
use crate::reference::Reference;
use crate::submission::Predictions;
use crate::task::Group;

/// Metrics of one label. Everything is `None` for an undefined label (no positives or no
/// negatives in the reference).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassMetrics {
    /// Label name.
    pub label: String,
    /// Prevalence group, if the task has groups.
    pub group: Option<Group>,
    /// Reference positives.
    pub positives: u64,
    /// Reference negatives.
    pub negatives: u64,
    /// Average precision (scikit-learn `average_precision_score`).
    pub ap: Option<f64>,
    /// Area under the ROC curve (scikit-learn `roc_auc_score`).
    pub auroc: Option<f64>,
    /// F1 with `p > 0.5` positive.
    pub f1: Option<f64>,
    /// Expected calibration error (torchmetrics binary, 15 bins, l1).
    pub ece: Option<f64>,
    /// Confusion counts at `p > 0.5`.
    pub tp: u64,
    /// False positives at `p > 0.5`.
    pub fp: u64,
    /// False negatives at `p > 0.5`.
    pub fn_: u64,
    /// True negatives at `p > 0.5`.
    pub tn: u64,
    /// True when the label is a critical finding of the task.
    pub critical: bool,
    /// False-negative rate FN / (TP + FN) when the label has positives.
    pub fnr: Option<f64>,
}

impl ClassMetrics {
    /// True when the label has both positives and negatives.
    pub fn defined(&self) -> bool {
        self.positives > 0 && self.negatives > 0
    }
}

/// All metrics of one submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Task name.
    pub task: String,
    /// Number of scored images.
    pub images: usize,
    /// Per-class results in task label order.
    pub classes: Vec<ClassMetrics>,
    /// Macro mean AP over defined classes (the ranking metric).
    pub map: f64,
    /// Macro mean AUROC (tie-break).
    pub mauroc: f64,
    /// Macro mean F1.
    pub mf1: f64,
    /// Micro F1 over defined classes.
    pub micro_f1: f64,
    /// Macro mean ECE.
    pub mece: f64,
    /// Mean AP of head labels.
    pub map_head: Option<f64>,
    /// Mean AP of medium labels.
    pub map_medium: Option<f64>,
    /// Mean AP of tail labels.
    pub map_tail: Option<f64>,
    /// Mean of the three group means.
    pub map_group_avg: Option<f64>,
    /// Labels left out of the means.
    pub undefined: Vec<String>,
}

/// Scores `predictions` (aligned to `reference`) on every metric.
pub fn score(_reference: &Reference, _predictions: &Predictions) -> Result<Scores> {
    todo!("metrics")
}
