//! Reference labels: `labels.csv` with a `dicom_id` column and one 0/1 column per label,
//! optionally `study_id` / `subject_id` for cluster resampling.
//!
//! Choices where the spec is silent:
//!
//! - Cells are `0` or `1` (also `0.0` / `1.0`, surrounding spaces allowed); anything else,
//!   an empty cell included, is an error naming row, column and value.
//! - Besides `dicom_id`, `study_id`, `subject_id` and `path`, every column must be a label of
//!   the task: an unexpected column is reported rather than silently dropped.
//! - A reference in which no label has both a positive and a negative can score nothing and
//!   is refused here (spec section 2: "a task whose every label is undefined").
//! - [`Reference::from_dir`] also accepts the labels inside one wrapper folder, as CodaLab
//!   leaves it when the organizer zipped a folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, ScoringError};
use crate::table::{self, count_of, quote, CellError, RowSink};
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
    /// Row of each id (see [`Reference::row_of`]).
    pub index: IdIndex,
}

/// The row of each reference id: an open-addressing hash table of row numbers that compares
/// against the id list itself, so the 79,000 ids of Task 1 are neither copied nor hashed
/// twice. Building it is a small serial step every scoring run waits for.
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    /// `row + 1` per slot, 0 when empty; the length is a power of two, at most half full.
    slots: Vec<u32>,
}

impl IdIndex {
    /// Indexes `ids`; also returns `(first row, later row)` for every repeated id.
    pub fn build(ids: &[String]) -> (IdIndex, Vec<(u32, u32)>) {
        let size = (ids.len() * 2).next_power_of_two().max(16);
        let mut index = IdIndex {
            slots: vec![0; size],
        };
        let mut repeated = Vec::new();
        for (row, id) in ids.iter().enumerate() {
            let mut slot = index.home(id);
            loop {
                match index.slots[slot] {
                    0 => {
                        index.slots[slot] = row as u32 + 1;
                        break;
                    }
                    taken if ids[taken as usize - 1] == *id => {
                        repeated.push((taken - 1, row as u32));
                        break;
                    }
                    _ => slot = (slot + 1) & (size - 1),
                }
            }
        }
        (index, repeated)
    }

    /// The row of `id` in `ids` (the list the index was built from).
    #[inline]
    pub fn get(&self, ids: &[String], id: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = self.home(id);
        loop {
            match self.slots[slot] {
                0 => return None,
                taken if ids[taken as usize - 1] == id => return Some(taken - 1),
                _ => slot = (slot + 1) & (self.slots.len() - 1),
            }
        }
    }

    /// The first slot probed for `id`: a multiplicative hash of its bytes, eight at a time.
    #[inline]
    fn home(&self, id: &str) -> usize {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let bytes = id.as_bytes();
        let mut h = bytes.len() as u64;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let word = u64::from_le_bytes(w.try_into().expect("eight bytes"));
            h = (h.rotate_left(23) ^ word).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        h = (h.rotate_left(23) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
        // The high bits are the best mixed.
        (h >> 32) as usize & (self.slots.len() - 1)
    }
}

/// Columns a reference may carry besides the labels.
const ID_COLUMNS: [&str; 4] = ["dicom_id", "study_id", "subject_id", "path"];

/// What a reference column is used for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Id,
    Label(usize),
    Cluster,
    Ignored,
}

/// One chunk of parsed reference rows.
struct ReferenceRows<'p> {
    roles: &'p [Role],
    ids: Vec<String>,
    rows: Vec<u32>,
    labels: Vec<Vec<u8>>,
    clusters: Vec<String>,
}

impl RowSink for ReferenceRows<'_> {
    fn row(&mut self, row: u32, fields: &[&str]) -> std::result::Result<(), CellError> {
        for (col, (field, role)) in fields.iter().zip(self.roles).enumerate() {
            let value = table::trim(field);
            match *role {
                Role::Label(k) => {
                    let bit = match value.as_bytes() {
                        [d @ (b'0' | b'1')] | [d @ (b'0' | b'1'), b'.', b'0'] => d - b'0',
                        _ => {
                            return Err(CellError {
                                col,
                                problem: format!("value {} is not 0 or 1", quote(value)),
                            })
                        }
                    };
                    self.labels[k].push(bit);
                }
                Role::Id | Role::Cluster if value.is_empty() => {
                    return Err(CellError {
                        col,
                        problem: "the cell is empty".into(),
                    })
                }
                Role::Id => self.ids.push(value.to_string()),
                Role::Cluster => self.clusters.push(value.to_string()),
                Role::Ignored => {}
            }
        }
        self.rows.push(row);
        Ok(())
    }
}

impl Reference {
    /// Parses `labels.csv` bytes. With `task == None` the built-in task whose label set
    /// equals the label columns is used; none matching is an error.
    pub fn parse(csv: &[u8], task: Option<Task>) -> Result<Reference> {
        let bad = |m: String| ScoringError::Reference(m);
        let csv = table::strip_bom(csv);
        let header = table::read_header(csv).map_err(bad)?;
        let names = &header.names;
        let mut seen = HashMap::new();
        for (c, name) in names.iter().enumerate() {
            if let Some(first) = seen.insert(name.as_str(), c) {
                return Err(bad(format!(
                    "column {} appears twice in the header (columns {} and {})",
                    quote(name),
                    first + 1,
                    c + 1
                )));
            }
        }
        if !seen.contains_key("dicom_id") {
            return Err(bad("the header has no \"dicom_id\" column".into()));
        }
        let label_columns: Vec<String> = names
            .iter()
            .filter(|n| !ID_COLUMNS.contains(&n.as_str()))
            .cloned()
            .collect();
        let task = match task {
            Some(t) => t,
            None => Task::detect(&label_columns).ok_or_else(|| bad(no_task(&label_columns)))?,
        };
        let cluster_column = task.resample.column();
        let mut roles = Vec::with_capacity(names.len());
        for name in names {
            let role = if name == "dicom_id" {
                Role::Id
            } else if Some(name.as_str()) == cluster_column {
                Role::Cluster
            } else if ID_COLUMNS.contains(&name.as_str()) {
                Role::Ignored
            } else if let Some(k) = task.label_index(name) {
                Role::Label(k)
            } else {
                return Err(bad(format!(
                    "column {} is not a label of {}",
                    quote(name),
                    task.name
                )));
            };
            roles.push(role);
        }
        let missing: Vec<&str> = (0..task.labels.len())
            .filter(|k| !roles.contains(&Role::Label(*k)))
            .map(|k| task.labels[k].as_str())
            .collect();
        if !missing.is_empty() {
            return Err(bad(format!(
                "{} of {} missing: {}",
                count_of(missing.len(), "label column is", "label columns are"),
                task.name,
                table::list(missing.iter().copied(), 5)
            )));
        }
        if let Some(col) = cluster_column {
            if !roles.contains(&Role::Cluster) {
                return Err(bad(format!(
                    "the task resamples by {col} but the header has no {} column",
                    quote(col)
                )));
            }
        }
        let nlabels = task.labels.len();
        let chunks = table::parse_rows(
            &csv[header.body_start..],
            header.first_body_row,
            names,
            |rows| ReferenceRows {
                roles: &roles,
                ids: Vec::with_capacity(rows),
                rows: Vec::with_capacity(rows),
                labels: (0..nlabels).map(|_| Vec::with_capacity(rows)).collect(),
                clusters: Vec::new(),
            },
        )
        .map_err(bad)?;
        Reference::assemble(task, chunks, cluster_column.is_some())
    }

    /// Joins the parsed chunks, checking ids and label content.
    fn assemble(task: Task, chunks: Vec<ReferenceRows<'_>>, clustered: bool) -> Result<Reference> {
        let bad = |m: String| ScoringError::Reference(m);
        let total: usize = chunks.iter().map(|c| c.ids.len()).sum();
        if total == 0 {
            return Err(bad("the file has a header but no data rows".into()));
        }
        let mut ids = Vec::with_capacity(total);
        let mut rows = Vec::with_capacity(total);
        let mut labels: Vec<Vec<u8>> = vec![Vec::with_capacity(total); task.labels.len()];
        let mut cluster_keys = Vec::new();
        for chunk in chunks {
            ids.extend(chunk.ids);
            rows.extend(chunk.rows);
            cluster_keys.extend(chunk.clusters);
            for (out, col) in labels.iter_mut().zip(chunk.labels) {
                out.extend_from_slice(&col);
            }
        }
        let (index, repeated) = IdIndex::build(&ids);
        let mut duplicated = Vec::new();
        let mut duplicated_count = 0;
        let mut reported = std::collections::HashSet::new();
        for (first, again) in repeated {
            let id = ids[first as usize].as_str();
            if reported.insert(id) {
                duplicated_count += 1;
                if duplicated.len() < 3 {
                    duplicated.push(format!(
                        "{} (rows {} and {})",
                        quote(id),
                        rows[first as usize],
                        rows[again as usize]
                    ));
                }
            }
        }
        if duplicated_count > 0 {
            return Err(bad(format!(
                "{} more than once, e.g. {}",
                count_of(duplicated_count, "id appears", "ids appear"),
                duplicated.join(", ")
            )));
        }
        let defined = labels
            .iter()
            .any(|col| col.contains(&0) && col.contains(&1));
        if !defined {
            return Err(bad(format!(
                "no label of {} has both a positive and a negative image, so nothing can be scored",
                task.name
            )));
        }
        let clusters = clustered.then(|| {
            let mut number: HashMap<&str, u32> = HashMap::new();
            cluster_keys
                .iter()
                .map(|k| {
                    let next = number.len() as u32;
                    *number.entry(k.as_str()).or_insert(next)
                })
                .collect()
        });
        Ok(Reference {
            task,
            ids,
            labels,
            clusters,
            index,
        })
    }

    /// Reads `DIR/labels.csv` and the optional `DIR/task.toml`.
    pub fn from_dir(dir: &Path) -> Result<Reference> {
        let dir = labels_dir(dir)?;
        let labels_path = dir.join("labels.csv");
        let csv = std::fs::metadata(&labels_path)
            .and_then(|m| crate::file::FileBytes::read(&labels_path, m.len()))
            .map_err(|e| io_error(&labels_path, &e))?;
        let toml_path = dir.join("task.toml");
        let task = match std::fs::read_to_string(&toml_path) {
            Ok(text) => Some(Task::from_toml_str(&text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&toml_path, &e)),
        };
        Reference::parse(&csv, task)
    }

    /// A reference over `ids` (which must be distinct) with the given labels.
    pub fn new(
        task: Task,
        ids: Vec<String>,
        labels: Vec<Vec<u8>>,
        clusters: Option<Vec<u32>>,
    ) -> Reference {
        let (index, repeated) = IdIndex::build(&ids);
        assert!(repeated.is_empty(), "reference ids must be distinct");
        Reference {
            task,
            ids,
            labels,
            clusters,
            index,
        }
    }

    /// The row of image `id`, if the reference has it.
    #[inline]
    pub fn row_of(&self, id: &str) -> Option<u32> {
        self.index.get(&self.ids, id)
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

/// `dir` itself, or its single subfolder when only that one holds `labels.csv`.
fn labels_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join("labels.csv").is_file() {
        return Ok(dir.to_path_buf());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, &e))?;
    let subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.join("labels.csv").is_file())
        .collect();
    match subdirs.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ScoringError::Io(format!(
            "{} has no labels.csv (the reference labels)",
            dir.display()
        ))),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> ScoringError {
    ScoringError::Io(format!(
        "cannot read {}: {}",
        path.display(),
        table::one_line(e)
    ))
}

/// Why no built-in task matches the label columns: the nearest task and the differences.
fn no_task(columns: &[String]) -> String {
    let best = (1..=3)
        .filter_map(Task::builtin)
        .map(|t| {
            let missing: Vec<String> = t
                .labels
                .iter()
                .filter(|l| !columns.contains(l))
                .cloned()
                .collect();
            let unknown: Vec<String> = columns
                .iter()
                .filter(|c| !t.labels.contains(c))
                .cloned()
                .collect();
            (missing.len() + unknown.len(), t, missing, unknown)
        })
        .min_by_key(|(d, ..)| *d);
    let Some((_, task, missing, unknown)) = best else {
        return "the label columns match no task".into();
    };
    let show = |v: &[String]| table::list(v.iter().map(String::as_str), 5);
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", show(&missing)));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown {}", show(&unknown)));
    }
    format!(
        "the {} label columns match no CXR-LT 2024 task and there is no task.toml; nearest is {} ({})",
        columns.len(),
        task.name,
        parts.join("; ")
    )
}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn every_id_is_found_at_its_row_and_others_are_not() {
        let ids: Vec<String> = (0..5000u64)
            .map(|i| {
                format!(
                    "{:08x}-{i}-{}",
                    i * 2654435761u64 % 1000003,
                    "x".repeat(i as usize % 13)
                )
            })
            .collect();
        let (index, repeated) = IdIndex::build(&ids);
        assert!(repeated.is_empty());
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(index.get(&ids, id), Some(row as u32), "{id}");
        }
        for missing in ["", "nope", "00000000-0-z", &format!("{}y", ids[17])] {
            assert_eq!(index.get(&ids, missing), None, "{missing}");
        }
        assert_eq!(IdIndex::default().get(&ids, &ids[0]), None);
    }

    #[test]
    fn repeated_ids_are_reported_with_both_rows() {
        let ids: Vec<String> = ["a", "b", "a", "c", "b", "a"].map(String::from).to_vec();
        let (index, repeated) = IdIndex::build(&ids);
        assert_eq!(repeated, vec![(0, 2), (1, 4), (0, 5)]);
        assert_eq!(index.get(&ids, "a"), Some(0));
        assert_eq!(index.get(&ids, "c"), Some(3));
    }
}
