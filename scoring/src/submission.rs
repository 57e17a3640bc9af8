//! Reading a submission (a bare CSV or a zip holding one CSV), refusing what breaks the rules
//! of spec section 4, and aligning the predictions to the reference order.

use crate::error::Result;
use crate::reference::Reference;
use crate::task::Task;

/// Size limits applied to an upload.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest compressed upload in bytes (default 200 MB).
    pub max_upload_bytes: u64,
    /// Largest uncompressed CSV in bytes (default 1 GB).
    pub max_csv_bytes: u64,
    /// Largest compression ratio of a zip entry (default 200).
    pub max_ratio: u64,
    /// Most entries in a zip (default 1,000).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload_bytes: 200_000_000,
            max_csv_bytes: 1_000_000_000,
            max_ratio: 200,
            max_entries: 1000,
        }
    }
}

/// Valid predictions: one probability in [0, 1] per image and label.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Image ids; in reference row order when validated against a reference, else file order.
    pub ids: Vec<String>,
    /// Scores per class (task label order), each aligned with `ids`.
    pub scores: Vec<Vec<f64>>,
    /// Non-fatal notes, e.g. ignored labels of another CXR-LT task.
    pub warnings: Vec<String>,
}

/// The CSV bytes of an upload: the file itself, or the single CSV inside a zip.
pub fn extract_csv(_upload: &[u8], _limits: &Limits) -> Result<Vec<u8>> {
    todo!("zip handling")
}

/// Parses and validates CSV bytes for `task`; with `reference`, the ids must match it
/// exactly and the rows come back in reference order.
pub fn parse_predictions(
    _csv: &[u8],
    _task: &Task,
    _reference: Option<&Reference>,
) -> Result<Predictions> {
    todo!("csv parsing")
}

/// [`extract_csv`] then [`parse_predictions`]: everything an upload needs.
pub fn validate_upload(
    upload: &[u8],
    task: &Task,
    reference: Option<&Reference>,
    limits: &Limits,
) -> Result<Predictions> {
    let csv = extract_csv(upload, limits)?;
    parse_predictions(&csv, task, reference)
}
