//! Reference labels: `labels.csv` with a `dicom_id` column and one 0/1 column per label,
//! optionally `study_id` / `subject_id` for cluster resampling.

use std::collections::HashMap;

use crate::error::Result;
use crate::task::Task;

/// Parsed, checked reference labels of one task.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The task the labels belong to.
    pub task: Task,
    /// Image ids in file order; every per-row array uses this order.
    pub ids: Vec<String>,
    /// Labels per class (task label order), each a 0/1 vector over `ids`.
    pub labels: Vec<Vec<u8>>,
    /// Cluster number per row when the task resamples by study or subject.
    pub clusters: Option<Vec<u32>>,
    /// Row of each id.
    pub row_of: HashMap<String, u32>,
}

impl Reference {
    /// Parses `labels.csv` bytes. With `task == None` the built-in task whose label set
    /// equals the label columns is used; none matching is an error.
    pub fn parse(_csv: &[u8], _task: Option<Task>) -> Result<Reference> {
        todo!("reference parsing")
    }

    /// Reads `DIR/labels.csv` and the optional `DIR/task.toml`.
    pub fn from_dir(_dir: &std::path::Path) -> Result<Reference> {
        todo!("reference from dir")
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}
