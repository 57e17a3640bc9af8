//! Reading a submission (a bare CSV or a zip holding one CSV), refusing what breaks the rules
//! of spec section 4, and aligning the predictions to the reference order.
//!
//! Choices where the spec is silent:
//!
//! - A zip is read in memory, never unpacked. Every entry is checked, even the ones that are
//!   ignored: an absolute path, a `..` component, a drive letter, a NUL byte, a symbolic link,
//!   a password or two entries of the same name refuse the whole upload. Backslashes count as
//!   path separators (old Windows tools write them), so `..\x.csv` is refused like `../x.csv`.
//! - The CSV is the one `.csv` file (extension in any case) at the root or inside one folder;
//!   `__MACOSX/` and `._*` files are ignored. Two such CSVs are refused rather than guessed.
//!   A zip inside the zip is never opened.
//! - The compression ratio limit is checked on the declared sizes and again on the bytes
//!   actually decompressed, which stop one byte past the limit.
//! - Values and ids may carry surrounding spaces; blank lines are skipped (still counted in
//!   row numbers). Row numbers are line numbers, the header being row 1.
//! - When the ids are wrong in several ways at once (duplicated, unknown, missing), the one
//!   message lists each problem, separated by `; `.
//!
//! Speed: a Task 1 file (78,946 rows x 40 values, ~65 MB) is split at newlines and parsed in
//! parallel. With a reference, a fused fast path (the `fast` module) reads fields and numbers
//! in one walk over the bytes; any file it does not plainly accept is read again by the
//! general path (`table` module, `str::parse::<f64>`), which owns every refusal message.

use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Result, ScoringError};
use crate::reference::Reference;
use crate::table::{self, count_of, quote, CellError, RowSink};
use crate::task::{Task, TASK1_LABELS, TASK3_LABELS};

mod fast;

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

/// How many ids or names a message lists before it stops.
const SHOWN: usize = 3;

/// The CSV bytes of an upload: the file itself, or the single CSV inside a zip.
pub fn extract_csv(upload: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    Ok(csv_bytes(upload, limits)?.into_owned())
}

/// Like [`extract_csv`], without copying a bare CSV.
fn csv_bytes<'a>(upload: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>> {
    if upload.len() as u64 > limits.max_upload_bytes {
        return Err(ScoringError::refused(format!(
            "the upload is {} bytes, over the limit of {} bytes",
            upload.len(),
            limits.max_upload_bytes
        )));
    }
    if upload.starts_with(b"PK\x03\x04") || upload.starts_with(b"PK\x05\x06") {
        return archive::csv_from_zip(upload, limits).map(Cow::Owned);
    }
    if let Some(kind) = binary_kind(upload) {
        return Err(ScoringError::refused(format!(
            "the upload is {kind}, not a CSV; upload a .csv file or a .zip holding one"
        )));
    }
    if upload.len() as u64 > limits.max_csv_bytes {
        return Err(ScoringError::refused(format!(
            "the CSV is {} bytes, over the limit of {} bytes",
            upload.len(),
            limits.max_csv_bytes
        )));
    }
    Ok(Cow::Borrowed(upload))
}

/// Names the kind of a binary upload that is certainly not CSV text.
fn binary_kind(data: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 9] = [
        (b"\x1f\x8b", "a gzip file"),
        (b"BZh", "a bzip2 file"),
        (b"\xFD7zXZ\x00", "an xz file"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip file"),
        (b"Rar!\x1A\x07", "a RAR file"),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "an old Excel/Office document",
        ),
        (b"PAR1", "a Parquet file"),
        (b"\x93NUMPY", "a NumPy array file"),
        (b"%PDF", "a PDF document"),
    ];
    if let Some((_, kind)) = MAGIC.iter().find(|(m, _)| data.starts_with(m)) {
        return Some(kind);
    }
    if data.starts_with(b"\xFF\xFE") || data.starts_with(b"\xFE\xFF") {
        return Some("UTF-16 text (save it as UTF-8)");
    }
    let head = &data[..data.len().min(8192)];
    memchr::memchr(0, head).map(|_| "a binary file (it holds NUL bytes)")
}

/// Zip handling: everything in memory, every entry checked.
mod archive {
    use super::*;
    use zip::{CompressionMethod, ZipArchive};

    /// The bytes of the one CSV inside a zip upload.
    pub(super) fn csv_from_zip(upload: &[u8], limits: &Limits) -> Result<Vec<u8>> {
        let directory = Directory::find(upload);
        if let Some(d) = &directory {
            if d.declared > limits.max_entries as u64 {
                return Err(too_many(d.declared, limits));
            }
            // The end record can understate the entries: the zip crate would then index
            // only the first few while other tools unpack them all. Count what is there.
            if let Some(n) = d.count_entries(upload) {
                if n > limits.max_entries as u64 {
                    return Err(too_many(n, limits));
                }
                if n != d.declared {
                    return Err(ScoringError::refused(format!(
                        "the zip's directory holds {n} entries but its end record says {}; make it again with a standard zip tool",
                        d.declared
                    )));
                }
            }
        }
        let mut archive = ZipArchive::new(Cursor::new(upload)).map_err(|e| {
            ScoringError::refused(format!(
                "the zip file cannot be read ({}); make it again with a standard zip tool",
                table::one_line(&e)
            ))
        })?;
        if archive.len() > limits.max_entries {
            return Err(too_many(archive.len() as u64, limits));
        }
        if archive.has_duplicate_names() {
            return Err(ScoringError::refused(
                "the zip holds two entries with the same name; such zips are refused",
            ));
        }
        if archive.is_empty() {
            return Err(ScoringError::refused("the zip file is empty"));
        }
        let mut csvs: Vec<(usize, String)> = Vec::new();
        let mut deep_csvs: Vec<String> = Vec::new();
        let mut zips: Vec<String> = Vec::new();
        let mut others: Vec<String> = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index_data(i).map_err(cannot_read)?;
            let name = match entry.name() {
                Ok(n) => n.into_owned(),
                Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
            };
            let parts = path_parts(&name).map_err(|why| {
                ScoringError::refused(format!(
                    "zip entry {} {why}; such entries are refused",
                    quote(&name)
                ))
            })?;
            if entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
                return Err(ScoringError::refused(format!(
                    "zip entry {} is a symbolic link; links are refused",
                    quote(&name)
                )));
            }
            if entry.encrypted() {
                return Err(ScoringError::refused(format!(
                    "zip entry {} is password-protected; upload a zip without a password",
                    quote(&name)
                )));
            }
            let Some(base) = parts.last() else { continue };
            let ignored = parts.contains(&"__MACOSX") || base.starts_with("._");
            if entry.is_dir() || ignored {
                continue;
            }
            let lower = base.to_ascii_lowercase();
            if lower.ends_with(".csv") {
                if parts.len() <= 2 {
                    csvs.push((i, name));
                } else {
                    deep_csvs.push(name);
                }
            } else if lower.ends_with(".zip") {
                zips.push(name);
            } else {
                others.push(name);
            }
        }
        let index = match csvs.as_slice() {
            [(index, _)] => *index,
            [] => return Err(no_csv(&deep_csvs, &zips, &others)),
            many => {
                return Err(ScoringError::refused(format!(
                    "the zip holds {} CSV files ({}); keep exactly one",
                    many.len(),
                    list(many.iter().map(|(_, n)| n.as_str()))
                )))
            }
        };
        read_entry(&mut archive, index, limits)
    }

    /// Decompresses the chosen entry, enforcing the size and ratio limits on the real bytes.
    fn read_entry(
        archive: &mut ZipArchive<Cursor<&[u8]>>,
        index: usize,
        limits: &Limits,
    ) -> Result<Vec<u8>> {
        let entry = archive.by_index_data(index).map_err(cannot_read)?;
        let method = entry.compression();
        if !matches!(
            method,
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ScoringError::refused(format!(
                "the CSV in the zip is compressed with {method}, which is not supported; use the standard (deflate) compression"
            )));
        }
        let compressed = entry.compressed_size().max(1);
        let ratio_cap = compressed.saturating_mul(limits.max_ratio);
        check_size(entry.size(), limits)?;
        if entry.size() > ratio_cap {
            return Err(bomb(limits));
        }
        let cap = ratio_cap.min(limits.max_csv_bytes);
        let file = archive.by_index(index).map_err(cannot_read)?;
        // Declared sizes can lie: read at most one byte past the limit, whatever they say.
        let mut csv = Vec::with_capacity(entry_capacity(file.size(), cap));
        file.take(cap + 1).read_to_end(&mut csv).map_err(|e| {
            ScoringError::refused(format!(
                "the CSV in the zip cannot be decompressed ({}); make the zip again",
                table::one_line(&e)
            ))
        })?;
        let actual = csv.len() as u64;
        check_size(actual, limits)?;
        if actual > ratio_cap {
            return Err(bomb(limits));
        }
        Ok(csv)
    }

    fn entry_capacity(declared: u64, cap: u64) -> usize {
        declared.min(cap).min(256 << 20) as usize
    }

    fn check_size(size: u64, limits: &Limits) -> Result<()> {
        if size > limits.max_csv_bytes {
            return Err(ScoringError::refused(format!(
                "the CSV in the zip is more than {} bytes uncompressed, over the limit",
                limits.max_csv_bytes
            )));
        }
        Ok(())
    }

    fn bomb(limits: &Limits) -> ScoringError {
        ScoringError::refused(format!(
            "the CSV in the zip expands more than {}:1; refused as a possible zip bomb",
            limits.max_ratio
        ))
    }

    fn too_many(n: u64, limits: &Limits) -> ScoringError {
        ScoringError::refused(format!(
            "the zip holds {n} entries, more than the limit of {}",
            limits.max_entries
        ))
    }

    fn cannot_read(e: zip::result::ZipError) -> ScoringError {
        ScoringError::refused(format!(
            "the zip file cannot be read ({}); make it again with a standard zip tool",
            table::one_line(&e)
        ))
    }

    fn no_csv(deep: &[String], zips: &[String], others: &[String]) -> ScoringError {
        let msg = if let Some(d) = deep.first() {
            format!(
                "the only CSV in the zip, {}, is more than one folder deep; put it at the root of the zip or inside one folder",
                quote(d)
            )
        } else if let Some(z) = zips.first() {
            format!(
                "the zip holds another zip ({}) but no CSV; zip the CSV itself (zips inside zips are not opened)",
                quote(z)
            )
        } else if others.iter().any(|o| o == "[Content_Types].xml") {
            "the upload is an Excel/Office document, not a CSV; save it as CSV (comma-separated)"
                .to_string()
        } else if others.is_empty() {
            "the zip holds no files".to_string()
        } else {
            format!(
                "the zip holds no .csv file (found {}); put the predictions in a .csv file",
                list(others.iter().map(String::as_str))
            )
        };
        ScoringError::refused(msg)
    }

    /// The non-empty components of an entry name, or why the name is dangerous.
    fn path_parts(name: &str) -> std::result::Result<Vec<&str>, &'static str> {
        if name.contains('\0') {
            return Err("has a NUL byte in its name");
        }
        if name.starts_with('/') || name.starts_with('\\') {
            return Err("has an absolute path");
        }
        let parts: Vec<&str> = name
            .split(['/', '\\'])
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if let Some(first) = parts.first() {
            let b = first.as_bytes();
            if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
                return Err("has an absolute path (a drive letter)");
            }
        }
        if parts.contains(&"..") {
            return Err("has \"..\" in its path");
        }
        Ok(parts)
    }

    /// What the end-of-central-directory record says, read before the zip crate builds its
    /// index (so a zip claiming millions of entries costs nothing).
    struct Directory {
        /// Entries the record declares.
        declared: u64,
        /// Offset and size of the central directory it points at.
        offset: u64,
        size: u64,
    }

    impl Directory {
        fn find(data: &[u8]) -> Option<Directory> {
            const EOCD_LEN: usize = 22;
            let tail_start = data.len().saturating_sub(EOCD_LEN + u16::MAX as usize);
            let pos = tail_start + memchr::memmem::rfind(&data[tail_start..], b"PK\x05\x06")?;
            let eocd = data.get(pos..pos + EOCD_LEN)?;
            let u16_at = |i: usize| u16::from_le_bytes([eocd[i], eocd[i + 1]]);
            let u32_at = |i: usize| u32::from_le_bytes(eocd[i..i + 4].try_into().expect("4 bytes"));
            let n = u16_at(10);
            let (size, offset) = (u32_at(12), u32_at(16));
            if n != u16::MAX && size != u32::MAX && offset != u32::MAX {
                return Some(Directory {
                    declared: n.into(),
                    offset: offset.into(),
                    size: size.into(),
                });
            }
            // Zip64: the locator just before the record points at the zip64 record.
            let loc = data.get(pos.checked_sub(20)?..pos)?;
            if !loc.starts_with(b"PK\x06\x07") {
                return None;
            }
            let off = u64::from_le_bytes(loc[8..16].try_into().ok()?) as usize;
            let rec = data.get(off..off.checked_add(56)?)?;
            if !rec.starts_with(b"PK\x06\x06") {
                return None;
            }
            let u64_at = |i: usize| u64::from_le_bytes(rec[i..i + 8].try_into().expect("8 bytes"));
            Some(Directory {
                declared: u64_at(32),
                size: u64_at(40),
                offset: u64_at(48),
            })
        }

        /// The central file headers actually present in the directory, walked header by
        /// header (linear in their number); `None` when the directory is not where the
        /// record says (e.g. data prepended to the zip), which the zip crate then sorts out.
        fn count_entries(&self, data: &[u8]) -> Option<u64> {
            const HEADER_LEN: usize = 46;
            let start = usize::try_from(self.offset).ok()?;
            let end = start.checked_add(usize::try_from(self.size).ok()?)?;
            let directory = data.get(start..end)?;
            let mut at = 0;
            let mut n = 0;
            while let Some(header) = directory.get(at..at + HEADER_LEN) {
                if !header.starts_with(b"PK\x01\x02") {
                    return None;
                }
                let len = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as usize;
                at += HEADER_LEN + len(28) + len(30) + len(32);
                n += 1;
            }
            Some(n)
        }
    }
}

/// `"a", "b", "c"` with at most [`SHOWN`] names, then `...`.
fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    table::list(names, SHOWN)
}

/// Up to [`SHOWN`] examples joined by commas (the count is said elsewhere).
fn examples(items: impl Iterator<Item = String>) -> String {
    items.take(SHOWN).collect::<Vec<_>>().join(", ")
}

/// What a submission column is used for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Id,
    Label(usize),
    Ignored,
}

/// Optional id columns that are accepted and ignored.
const IGNORED_COLUMNS: [&str; 3] = ["study_id", "subject_id", "path"];

/// Maps header names to roles; the warnings name ignored labels of other tasks.
fn plan_columns(names: &[String], task: &Task) -> Result<(Vec<Role>, Vec<String>)> {
    let mut roles = Vec::with_capacity(names.len());
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut tolerated = Vec::new();
    for (c, name) in names.iter().enumerate() {
        if name.is_empty() {
            let hint = if c == 0 {
                " (an index column? with pandas use to_csv(index=False))"
            } else if c + 1 == names.len() {
                " (a comma at the end of the header?)"
            } else {
                ""
            };
            return Err(ScoringError::refused(format!(
                "column {} of the header has no name{hint}",
                c + 1
            )));
        }
        if let Some(first) = seen.insert(name, c) {
            return Err(ScoringError::refused(format!(
                "column {} appears twice in the header (columns {} and {})",
                quote(name),
                first + 1,
                c + 1
            )));
        }
        let role = if name == "dicom_id" {
            Role::Id
        } else if let Some(k) = task.label_index(name) {
            Role::Label(k)
        } else if IGNORED_COLUMNS.contains(&name.as_str()) {
            Role::Ignored
        } else if task.tolerated_extra.iter().any(|t| t == name) {
            tolerated.push(name.as_str());
            Role::Ignored
        } else {
            return Err(unknown_column(name, c, task));
        };
        roles.push(role);
    }
    if !roles.contains(&Role::Id) {
        return Err(ScoringError::refused(
            "the header has no \"dicom_id\" column",
        ));
    }
    let missing: Vec<&str> = task
        .labels
        .iter()
        .enumerate()
        .filter(|(k, _)| !roles.contains(&Role::Label(*k)))
        .map(|(_, l)| l.as_str())
        .collect();
    if !missing.is_empty() {
        let n = missing.len();
        // A file made for another task is the likely cause: say so.
        let label_columns: Vec<String> = names
            .iter()
            .filter(|n| *n != "dicom_id" && !IGNORED_COLUMNS.contains(&n.as_str()))
            .cloned()
            .collect();
        let other = match Task::detect(&label_columns) {
            Some(t) => format!("; the columns are those of {}", t.name),
            None => String::new(),
        };
        return Err(ScoringError::refused(format!(
            "{} of {} {} missing: {}{other}",
            count_of(n, "label column", "label columns"),
            task.name,
            if n == 1 { "is" } else { "are" },
            list(missing.iter().copied())
        )));
    }
    let mut warnings = Vec::new();
    if !tolerated.is_empty() {
        warnings.push(format!(
            "ignored {} of other CXR-LT tasks: {}",
            count_of(tolerated.len(), "column", "columns"),
            list(tolerated.iter().copied())
        ));
    }
    Ok((roles, warnings))
}

/// The refusal of an unknown column, with a hint when a near miss is recognised.
fn unknown_column(name: &str, c: usize, task: &Task) -> ScoringError {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|ch| ch.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(name);
    let known = std::iter::once("dicom_id")
        .chain(task.labels.iter().map(String::as_str))
        .chain(IGNORED_COLUMNS);
    let hint = if let Some(k) = known.clone().find(|k| squash(k) == wanted) {
        format!(
            "; did you mean {}? (names are exact, case matters)",
            quote(k)
        )
    } else if name.starts_with("Unnamed: ") {
        "; is it an index column? (with pandas use to_csv(index=False))".to_string()
    } else {
        String::new()
    };
    let other_task = TASK1_LABELS.contains(&name) || TASK3_LABELS.contains(&name);
    let what = if other_task {
        format!(
            "column {} (column {}) is not a label of {}",
            quote(name),
            c + 1,
            task.name
        )
    } else {
        format!("unknown column {} (column {})", quote(name), c + 1)
    };
    ScoringError::refused(format!(
        "{what}; expected \"dicom_id\" and the {} labels of {}{hint}",
        task.labels.len(),
        task.name
    ))
}

/// A probability cell: a finite number in [0, 1].
fn parse_probability(cell: &str) -> std::result::Result<f64, String> {
    let text = table::trim(cell);
    if text.is_empty() {
        return Err("the cell is empty; every cell needs a probability in [0, 1]".into());
    }
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) if v.is_nan() => Err(format!(
            "value {} is not a number (NaN); use a probability in [0, 1]",
            quote(text)
        )),
        Ok(v) if v.is_infinite() => Err(format!(
            "value {} is infinite; use a probability in [0, 1]",
            quote(text)
        )),
        Ok(_) => Err(format!("value {} is outside [0, 1]", quote(text))),
        Err(_) => Err(format!(
            "value {} is not a number; use a probability in [0, 1]",
            quote(text)
        )),
    }
}

/// Marks a row whose id is not in the reference.
const UNKNOWN: u32 = u32::MAX;

/// What one chunk of submission rows holds once parsed.
struct PredictionRows<'p> {
    roles: &'p [Role],
    reference: Option<&'p Reference>,
    /// Row number of the first body line of the file.
    first_row: u32,
    /// Scores per label, in chunk row order, without a reference.
    columns: Vec<Vec<f64>>,
    /// Scores per label in reference row order, written in place, with a reference.
    placed: &'p [&'p [AtomicU64]],
    /// Index of the id column.
    id_col: usize,
    /// Row number of every record.
    rows: Vec<u32>,
    /// Reference row of every record ([`UNKNOWN`] if absent), with a reference.
    keys: Vec<u32>,
    /// Ids in file order, without a reference.
    ids: Vec<String>,
    /// Ids absent from the reference, with their row numbers.
    unknown: Vec<(u32, String)>,
}

/// The reference row of `id`. Files usually keep the reference order, so the row at the same
/// position is tried before the hash table.
#[inline]
fn reference_row(reference: &Reference, id: &str, guess: u32) -> Option<u32> {
    match reference.ids.get(guess as usize) {
        Some(same) if same == id => Some(guess),
        _ => reference.row_of(id),
    }
}

impl RowSink for PredictionRows<'_> {
    fn row(&mut self, row: u32, fields: &[&str]) -> std::result::Result<(), CellError> {
        // The id is looked up first so that each score goes straight to its reference row;
        // its errors still come in column order below.
        let id = table::trim(fields[self.id_col]);
        let key = match self.reference {
            Some(r) if !id.is_empty() => reference_row(r, id, row - self.first_row),
            _ => None,
        };
        for (col, (field, role)) in fields.iter().zip(self.roles).enumerate() {
            match *role {
                Role::Label(k) => {
                    let v =
                        parse_probability(field).map_err(|problem| CellError { col, problem })?;
                    if self.reference.is_none() {
                        self.columns[k].push(v);
                    } else if let Some(key) = key {
                        // Two rows write the same place only when an id is duplicated, and
                        // then the file is refused: the value written last does not matter.
                        self.placed[k][key as usize].store(v.to_bits(), Ordering::Relaxed);
                    }
                }
                Role::Id => {
                    if id.is_empty() {
                        return Err(CellError {
                            col,
                            problem: "the cell is empty; every row needs its dicom_id".into(),
                        });
                    }
                    match (self.reference, key) {
                        (Some(_), Some(k)) => self.keys.push(k),
                        (Some(_), None) => {
                            self.keys.push(UNKNOWN);
                            self.unknown.push((row, id.to_string()));
                        }
                        (None, _) => self.ids.push(id.to_string()),
                    }
                }
                Role::Ignored => {}
            }
        }
        self.rows.push(row);
        Ok(())
    }
}

/// Parses and validates CSV bytes for `task`; with `reference`, the ids must match it
/// exactly and the rows come back in reference order.
pub fn parse_predictions(
    csv: &[u8],
    task: &Task,
    reference: Option<&Reference>,
) -> Result<Predictions> {
    parse_by(csv, task, reference, Path::Fast)
}

/// Which body reader [`parse_by`] may use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    /// The fused fast path when there is a reference, the general path if it declines.
    Fast,
    /// The general path only (tests compare both).
    #[cfg_attr(not(test), allow(dead_code))]
    General,
}

fn parse_by(
    csv: &[u8],
    task: &Task,
    reference: Option<&Reference>,
    path: Path,
) -> Result<Predictions> {
    let csv = table::strip_bom(csv);
    let header = table::read_header(csv).map_err(ScoringError::Refused)?;
    let (roles, warnings) = plan_columns(&header.names, task)?;
    let body = &csv[header.body_start..];
    let nlabels = task.labels.len();
    let id_col = roles
        .iter()
        .position(|r| *r == Role::Id)
        .expect("plan_columns checks the id column");
    // With a reference, the scores are written straight into reference row order (no
    // file-order copy of the whole table to allocate, fill and move).
    let mut placed: Vec<Vec<f64>> = match reference {
        Some(r) => (0..nlabels).map(|_| vec![0.0; r.len()]).collect(),
        None => Vec::new(),
    };
    let views: Vec<&[AtomicU64]> = placed.iter_mut().map(|c| atomic_view(c)).collect();
    let fast = reference
        .filter(|_| path == Path::Fast)
        .and_then(|r| fast::parse_body(body, header.first_body_row, &roles, nlabels, r, &views));
    let general = || {
        table::parse_rows(body, header.first_body_row, &header.names, |rows| {
            let file_order = if reference.is_some() { 0 } else { rows };
            PredictionRows {
                roles: &roles,
                reference,
                first_row: header.first_body_row,
                columns: (0..nlabels)
                    .map(|_| Vec::with_capacity(file_order))
                    .collect(),
                placed: &views,
                id_col,
                rows: Vec::with_capacity(rows),
                keys: Vec::with_capacity(rows - file_order),
                ids: Vec::with_capacity(file_order),
                unknown: Vec::new(),
            }
        })
    };
    let chunks = match fast {
        Some(chunks) => chunks,
        None => general().map_err(ScoringError::Refused)?,
    };
    if chunks.iter().all(|c| c.rows.is_empty()) {
        return Err(ScoringError::refused(
            "the file has a header but no data rows",
        ));
    }
    let (ids, scores) = match reference {
        Some(r) => {
            check_ids(&chunks, r)?;
            drop(chunks);
            drop(views);
            // 79,000 small strings for Task 1: copied on both cores.
            (r.ids.par_iter().cloned().collect(), placed)
        }
        None => in_file_order(chunks, nlabels)?,
    };
    Ok(Predictions {
        ids,
        scores,
        warnings,
    })
}

/// `col` seen as atomics, so that parallel chunks can write its cells through shared
/// references without `unsafe` at every write.
fn atomic_view(col: &mut [f64]) -> &[AtomicU64] {
    const _: () = assert!(
        std::mem::size_of::<f64>() == std::mem::size_of::<AtomicU64>()
            && std::mem::align_of::<f64>() >= std::mem::align_of::<AtomicU64>()
    );
    // SAFETY: same size and (checked above) compatible alignment; `AtomicU64` has the memory
    // layout of `u64`, every bit pattern is a valid f64, and the exclusive borrow of `col`
    // lasts as long as the view, so no plain access can race with the atomic ones.
    unsafe { &*(col as *mut [f64] as *const [AtomicU64]) }
}

/// Checks the ids against the reference (the scores are already in reference row order).
fn check_ids(chunks: &[PredictionRows<'_>], reference: &Reference) -> Result<()> {
    const UNSEEN: u32 = 0;
    // Row number where each reference id was first seen (0: not seen).
    let mut seen_at = vec![UNSEEN; reference.len()];
    let mut duplicated: Vec<String> = Vec::new();
    let mut duplicated_count = 0usize;
    let mut reported = vec![false; reference.len()];
    for chunk in chunks {
        for (&key, &row) in chunk.keys.iter().zip(&chunk.rows) {
            if key == UNKNOWN {
                continue;
            }
            let first = seen_at[key as usize];
            if first == UNSEEN {
                seen_at[key as usize] = row;
                continue;
            }
            if !std::mem::replace(&mut reported[key as usize], true) {
                duplicated_count += 1;
                if duplicated.len() < SHOWN {
                    duplicated.push(format!(
                        "{} (rows {first} and {row})",
                        quote(&reference.ids[key as usize])
                    ));
                }
            }
        }
    }
    let mut problems = Vec::new();
    if duplicated_count > 0 {
        problems.push(format!(
            "{} more than once, e.g. {}",
            count_of(duplicated_count, "id appears", "ids appear"),
            duplicated.join(", ")
        ));
    }
    let unknown_count: usize = chunks.iter().map(|c| c.unknown.len()).sum();
    if unknown_count > 0 {
        let shown: Vec<String> = chunks
            .iter()
            .flat_map(|c| &c.unknown)
            .take(SHOWN)
            .map(|(row, id)| format!("{} (row {row})", quote(id)))
            .collect();
        // Upper-cased ids are a common slip; say so when the first one only differs in case.
        let first = &chunks
            .iter()
            .flat_map(|c| &c.unknown)
            .next()
            .expect("one")
            .1;
        let lower = first.to_lowercase();
        let hint = if reference.row_of(&lower).is_some() {
            format!(
                " (ids are case-sensitive: the reference has {})",
                quote(&lower)
            )
        } else {
            String::new()
        };
        problems.push(format!(
            "{} not in the reference, e.g. {}{hint}",
            count_of(unknown_count, "id is", "ids are"),
            shown.join(", ")
        ));
    }
    let missing: Vec<usize> = (0..reference.len())
        .filter(|&k| seen_at[k] == UNSEEN)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of the reference {} missing, e.g. {}",
            count_of(missing.len(), "id", "ids"),
            if missing.len() == 1 { "is" } else { "are" },
            examples(missing.iter().map(|&k| quote(&reference.ids[k])))
        ));
    }
    if !problems.is_empty() {
        return Err(ScoringError::Refused(problems.join("; ")));
    }
    Ok(())
}

/// Without a reference: refuses duplicated ids and keeps the file order.
fn in_file_order(
    chunks: Vec<PredictionRows<'_>>,
    nlabels: usize,
) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let total: usize = chunks.iter().map(|c| c.rows.len()).sum();
    let mut first_row: HashMap<&str, u32> = HashMap::with_capacity(total);
    let mut duplicated: Vec<String> = Vec::new();
    let mut duplicated_count = 0usize;
    let mut reported: HashMap<&str, ()> = HashMap::new();
    for chunk in &chunks {
        for (id, &row) in chunk.ids.iter().zip(&chunk.rows) {
            if let Some(&first) = first_row.get(id.as_str()) {
                if reported.insert(id, ()).is_none() {
                    duplicated_count += 1;
                    if duplicated.len() < SHOWN {
                        duplicated.push(format!("{} (rows {first} and {row})", quote(id)));
                    }
                }
            } else {
                first_row.insert(id, row);
            }
        }
    }
    if duplicated_count > 0 {
        return Err(ScoringError::Refused(format!(
            "{} more than once, e.g. {}",
            count_of(duplicated_count, "id appears", "ids appear"),
            duplicated.join(", ")
        )));
    }
    drop(first_row);
    drop(reported);
    let mut ids = Vec::with_capacity(total);
    let mut scores: Vec<Vec<f64>> = (0..nlabels).map(|_| Vec::with_capacity(total)).collect();
    for chunk in chunks {
        ids.extend(chunk.ids);
        for (out, col) in scores.iter_mut().zip(chunk.columns) {
            out.extend_from_slice(&col);
        }
    }
    Ok((ids, scores))
}

/// [`extract_csv`] then [`parse_predictions`]: everything an upload needs.
pub fn validate_upload(
    upload: &[u8],
    task: &Task,
    reference: Option<&Reference>,
    limits: &Limits,
) -> Result<Predictions> {
    let csv = csv_bytes(upload, limits)?;
    parse_predictions(&csv, task, reference)
}
