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

mod fast;

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
/// against the id list itself, so the 79,000 ids of Task 1 are not copied. Each slot also
/// keeps 32 bits of its id's hash, so that probing past other ids rarely has to look at
/// their text (a cache miss or two each). Building it is a serial step every scoring run
/// waits for; [`IdIndex::build_hashed`] takes hashes computed in parallel beforehand.
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    /// `tag << 32 | (row + 1)` per slot (see [`Slot`]), 0 when empty; the length is a power
    /// of two, at most two thirds full.
    slots: Vec<u64>,
}

/// What a slot holds, unpacked.
struct Slot {
    /// The low 32 bits of the id's hash (the slot number comes from the high bits).
    tag: u32,
    /// The row of the id.
    row: u32,
}

impl Slot {
    fn pack(hash: u64, row: usize) -> u64 {
        (hash << 32) | (row as u64 + 1)
    }

    /// `None` for an empty slot.
    #[inline]
    fn unpack(slot: u64) -> Option<Slot> {
        (slot != 0).then(|| Slot {
            tag: (slot >> 32) as u32,
            row: slot as u32 - 1,
        })
    }
}

impl IdIndex {
    /// Indexes `ids`; also returns `(first row, later row)` for every repeated id.
    pub fn build(ids: &[String]) -> (IdIndex, Vec<(u32, u32)>) {
        let hashes: Vec<u64> = ids.iter().map(|id| id_hash(id)).collect();
        IdIndex::build_hashed(ids, &hashes)
    }

    /// [`IdIndex::build`] given `hashes[row] == id_hash(&ids[row])`.
    pub(crate) fn build_hashed(ids: &[String], hashes: &[u64]) -> (IdIndex, Vec<(u32, u32)>) {
        assert_eq!(ids.len(), hashes.len(), "one hash per id");
        // At most two thirds full: probing stays short (and the slot tags spare most probes
        // a look at the id text), while a table twice as big costs a page fault per 4 KiB
        // more on every run.
        let size = (ids.len() + ids.len() / 2).next_power_of_two().max(16);
        let mut slots = vec![0u64; size];
        let mut repeated = Vec::new();
        for (row, (id, &hash)) in ids.iter().zip(hashes).enumerate() {
            let mut at = home(hash, size);
            loop {
                match Slot::unpack(slots[at]) {
                    None => {
                        slots[at] = Slot::pack(hash, row);
                        break;
                    }
                    Some(s) if s.tag == hash as u32 && ids[s.row as usize] == *id => {
                        repeated.push((s.row, row as u32));
                        break;
                    }
                    Some(_) => at = (at + 1) & (size - 1),
                }
            }
        }
        (IdIndex { slots }, repeated)
    }

    /// The row of `id` in `ids` (the list the index was built from).
    #[inline]
    pub fn get(&self, ids: &[String], id: &str) -> Option<u32> {
        let size = self.slots.len();
        if size == 0 {
            return None;
        }
        let hash = id_hash(id);
        let mut at = home(hash, size);
        loop {
            match Slot::unpack(self.slots[at]) {
                None => return None,
                Some(s) if s.tag == hash as u32 && ids[s.row as usize] == id => return Some(s.row),
                Some(_) => at = (at + 1) & (size - 1),
            }
        }
    }
}

/// The first slot probed for a hash in a table of `size` (a power of two) slots: the high
/// bits of the hash, which are the best mixed.
#[inline]
fn home(hash: u64, size: usize) -> usize {
    (hash >> 32) as usize & (size - 1)
}

/// A multiplicative hash of the bytes of `id`, eight at a time in two independent lanes
/// (ids are about 44 bytes; one lane would wait on each multiplication in turn).
#[inline]
pub(crate) fn id_hash(id: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    const L: u64 = 0xc2b2_ae3d_27d4_eb4f;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("eight bytes"));
    let bytes = id.as_bytes();
    let (mut a, mut b) = (bytes.len() as u64, 0u64);
    if bytes.len() < 8 {
        let mut tail = [0u8; 8];
        tail[..bytes.len()].copy_from_slice(bytes);
        a = (a ^ word(&tail)).wrapping_mul(K);
    } else {
        let mut pairs = bytes.chunks_exact(16);
        for pair in &mut pairs {
            a = (a.rotate_left(23) ^ word(&pair[..8])).wrapping_mul(K);
            b = (b.rotate_left(23) ^ word(&pair[8..])).wrapping_mul(L);
        }
        // What is left (under 16 bytes): its first eight bytes, then the last eight bytes of
        // the id, which may overlap bytes already mixed in (harmless: the length is mixed in).
        let rest = pairs.remainder();
        if rest.len() > 8 {
            a = (a.rotate_left(23) ^ word(&rest[..8])).wrapping_mul(K);
        }
        if !rest.is_empty() {
            b = (b.rotate_left(23) ^ word(&bytes[bytes.len() - 8..])).wrapping_mul(L);
        }
    }
    (a ^ b.rotate_left(32)).wrapping_mul(K)
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

/// A labels file whose header has been read and checked against the task.
struct Layout<'a> {
    /// The bytes after the header.
    body: &'a [u8],
    /// Row number (1-based) of the first body line.
    first_body_row: u32,
    /// True when the task resamples by a cluster column.
    clustered: bool,
    /// Column names.
    names: Vec<String>,
    /// What each column is used for.
    roles: Vec<Role>,
    task: Task,
}

impl<'a> Layout<'a> {
    /// Reads the header of `csv` and matches its columns to `task` (detected when `None`).
    fn read(csv: &'a [u8], task: Option<Task>) -> Result<Layout<'a>> {
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
        Ok(Layout {
            body: &csv[header.body_start..],
            first_body_row: header.first_body_row,
            clustered: cluster_column.is_some(),
            names: header.names,
            roles,
            task,
        })
    }

    /// The general path: every row split into fields and checked cell by cell; gives the
    /// message of the first bad row in file order.
    fn parse_rows(self) -> Result<Reference> {
        let nlabels = self.task.labels.len();
        let chunks = table::parse_rows(self.body, self.first_body_row, &self.names, |rows| {
            ReferenceRows {
                roles: &self.roles,
                ids: Vec::with_capacity(rows),
                rows: Vec::with_capacity(rows),
                labels: (0..nlabels).map(|_| Vec::with_capacity(rows)).collect(),
                clusters: Vec::new(),
            }
        })
        .map_err(ScoringError::Reference)?;
        Reference::assemble(self.task, chunks, self.clustered)
    }
}

impl Reference {
    /// Parses `labels.csv` bytes. With `task == None` the built-in task whose label set
    /// equals the label columns is used; none matching is an error.
    pub fn parse(csv: &[u8], task: Option<Task>) -> Result<Reference> {
        let layout = Layout::read(csv, task)?;
        match fast::parse(&layout) {
            Some(reference) => Ok(reference),
            None => layout.parse_rows(),
        }
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
    fn every_byte_of_an_id_and_its_length_change_its_hash() {
        let base = "0123456789abcdef-0123456789abcdef-0123456789";
        for len in 0..=base.len() {
            let id = &base[..len];
            let mut seen = std::collections::HashSet::new();
            assert!(seen.insert(id_hash(id)));
            for at in 0..len {
                let mut changed = id.as_bytes().to_vec();
                changed[at] = b'x';
                let changed = String::from_utf8(changed).unwrap();
                assert!(
                    seen.insert(id_hash(&changed)),
                    "{changed:?} hashes like another"
                );
            }
            assert_ne!(id_hash(id), id_hash(&format!("{id}\0")), "{id:?}");
        }
    }

    #[test]
    fn ids_crowding_the_last_slot_wrap_around_to_the_first() {
        let size = 16;
        let ids: Vec<String> = (0..)
            .map(|i| format!("id-{i}"))
            .filter(|id| home(id_hash(id), size) == size - 1)
            .take(8)
            .collect();
        let (index, repeated) = IdIndex::build(&ids);
        assert_eq!(index.slots.len(), size);
        assert!(repeated.is_empty());
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(index.get(&ids, id), Some(row as u32), "{id}");
        }
        assert_eq!(index.get(&ids, "id-x"), None);
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
