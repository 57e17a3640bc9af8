//! The result files of a scored submission.

use crate::bootstrap::Intervals;
use crate::metrics::Scores;

/// Everything reported about one scored submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Point estimates.
    pub scores: Scores,
    /// Bootstrap intervals, when computed.
    pub intervals: Option<Intervals>,
    /// Non-fatal notes from validation.
    pub warnings: Vec<String>,
}
