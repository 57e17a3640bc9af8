//! The CodaLab / Codabench scoring program: `tailboard score INPUT OUTPUT`.
//!
//! The platforms unpack the reference data into `INPUT/ref/` and the participant's zip into
//! `INPUT/res/` (see `shared/spec/codalab.md`). This module finds the submission there,
//! validates it against the reference exactly as an upload to the server is validated, scores
//! it and writes the report files into `OUTPUT/`. Choices made here:
//!
//! - **Finding the submission**: hidden entries (`.x`), `__MACOSX`, a `metadata` file (added
//!   by Codabench) and `code/` folders are ignored, and so are symbolic links (a link could
//!   point at the reference labels). The submission is the one `.csv` file at the root of
//!   `INPUT/res`; if there is none, the one `.csv` one folder down (CodaLab v1.5 does not
//!   flatten a wrapper folder, and unpacks a zip inside the zip into a folder of its name);
//!   if there is none either, the one `.zip` at the root, read in memory with the same strict
//!   zip rules as an upload. Two or more candidates at the first level that has any are
//!   refused: the program never guesses.
//! - **Bootstrap**: 1000 replicates with the fixed default seed unless told otherwise
//!   ([`ScoreOptions`]); `--bootstrap 0` turns it off and drops the CI keys. Task-1-size data
//!   takes a couple of seconds, well inside CodaLab's 300 s default limit.
//! - **Refusal**: nothing is written to `OUTPUT` unless every step succeeded; the error is one
//!   line, printed first on stderr by the binary.

use std::path::{Path, PathBuf};

use crate::bootstrap::{self, BootstrapOptions, Sampler};
use crate::error::{Result, ScoringError};
use crate::file::FileBytes;
use crate::metrics::{self, RankedClass};
use crate::reference::Reference;
use crate::report::{self, Report};
use crate::submission::{self, Limits, Predictions};
use crate::task::Task;

/// Options of `tailboard score`.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Bootstrap replicates; 0 disables the confidence intervals.
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Upload limits applied to the submission.
    pub limits: Limits,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        let b = BootstrapOptions::default();
        ScoreOptions {
            bootstrap: b.replicates,
            seed: b.seed,
            limits: Limits::default(),
        }
    }
}

/// Scores `INPUT/res` against `INPUT/ref` and writes the report files into `output_dir`.
pub fn run(input_dir: &Path, output_dir: &Path, options: &ScoreOptions) -> Result<Report> {
    run_scored(input_dir, output_dir, options).map(|scored| scored.report)
}

/// What [`run_scored`] built: the report and the big intermediate data.
pub struct Scored {
    /// The report written to `OUTPUT`.
    pub report: Report,
    /// The parsed reference and submission and the ranked classes (about 100 MB for Task 1).
    /// Returned rather than dropped so that a process about to exit can skip freeing them.
    pub inputs: (Reference, Predictions, Vec<RankedClass>),
}

/// [`run`], also handing back the intermediate data instead of freeing it.
pub fn run_scored(input_dir: &Path, output_dir: &Path, options: &ScoreOptions) -> Result<Scored> {
    // Reading the submission (tens of MB) needs no reference: do it while the reference is
    // parsed, so the two cores are both busy from the start. A reference error still wins,
    // as when the steps ran one after the other.
    let (reference, upload) = rayon::join(
        || Reference::from_dir(&input_dir.join("ref")),
        || {
            let found = find_submission(&input_dir.join("res"))?;
            read_upload(&found, &options.limits)
        },
    );
    let reference = reference?;
    let (bytes, limits) = upload?;
    let predictions =
        submission::validate_upload(&bytes, &reference.task, Some(&reference), &limits)?;
    drop(bytes);
    let (report, ranked) = score_keeping_ranks(&reference, &predictions, options)?;
    report::write_all(&report, output_dir)?;
    Ok(Scored {
        report,
        inputs: (reference, predictions, ranked),
    })
}

/// Scores validated predictions (and the bootstrap when `options.bootstrap > 0`).
pub fn score(
    reference: &Reference,
    predictions: &Predictions,
    options: &ScoreOptions,
) -> Result<Report> {
    score_keeping_ranks(reference, predictions, options).map(|(report, _)| report)
}

/// [`score`], also returning the ranked classes.
fn score_keeping_ranks(
    reference: &Reference,
    predictions: &Predictions,
    options: &ScoreOptions,
) -> Result<(Report, Vec<RankedClass>)> {
    // Each class is sorted once, for the point scores and the bootstrap alike.
    let ranked = metrics::rank_classes(reference, predictions)?;
    let scores = metrics::score_ranked(reference, &ranked)?;
    let intervals = (options.bootstrap > 0).then(|| {
        let sampler = Sampler::for_reference(
            reference,
            BootstrapOptions {
                replicates: options.bootstrap,
                seed: options.seed,
                ..BootstrapOptions::default()
            },
        );
        bootstrap::intervals_ranked(&sampler, &ranked)
    });
    let report = Report {
        scores,
        intervals,
        warnings: predictions.warnings.clone(),
    };
    Ok((report, ranked))
}

/// The submission file found under `INPUT/res`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A bare CSV file.
    Csv(PathBuf),
    /// A zip file that should hold one CSV.
    Zip(PathBuf),
}

/// Entries of `dir` that may be part of a submission: files and folders, no links, nothing
/// hidden, no platform or macOS leftovers.
fn entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        ScoringError::Io(format!(
            "cannot read submission folder {}: {e}",
            dir.display()
        ))
    })?;
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in read {
        let entry = entry.map_err(|e| ScoringError::Io(format!("{}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__MACOSX" || name == "metadata" {
            continue;
        }
        // file_type() does not follow links, so a link is neither a file nor a folder here.
        let kind = entry
            .file_type()
            .map_err(|e| ScoringError::Io(format!("{}: {e}", entry.path().display())))?;
        if kind.is_file() {
            files.push(entry.path());
        } else if kind.is_dir() && name != "code" {
            dirs.push(entry.path());
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
}

fn exactly_one(mut found: Vec<PathBuf>, what: &str, root: &Path) -> Result<Option<PathBuf>> {
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => {
            let names: Vec<String> = found
                .iter()
                .map(|p| {
                    p.strip_prefix(root)
                        .unwrap_or(p)
                        .to_string_lossy()
                        .into_owned()
                })
                .take(5)
                .collect();
            Err(ScoringError::refused(format!(
                "the submission holds {n} {what} files ({}); it must hold exactly one",
                names.join(", ")
            )))
        }
    }
}

/// Finds the one submission file under `res` (rules in the module docs).
pub fn find_submission(res: &Path) -> Result<Found> {
    let (files, dirs) = entries(res)?;
    let root_csv = files
        .iter()
        .filter(|p| has_ext(p, "csv"))
        .cloned()
        .collect();
    if let Some(p) = exactly_one(root_csv, "CSV", res)? {
        return Ok(Found::Csv(p));
    }
    let mut nested = Vec::new();
    for d in &dirs {
        let (inner, _) = entries(d)?;
        nested.extend(inner.into_iter().filter(|p| has_ext(p, "csv")));
    }
    if let Some(p) = exactly_one(nested, "CSV", res)? {
        return Ok(Found::Csv(p));
    }
    let zips = files.into_iter().filter(|p| has_ext(p, "zip")).collect();
    if let Some(p) = exactly_one(zips, "zip", res)? {
        return Ok(Found::Zip(p));
    }
    Err(ScoringError::refused(
        "no CSV file found in the submission: upload a zip holding one .csv file \
         (at its root or inside one folder)",
    ))
}

/// Reads a file no larger than `max` bytes (the size is checked before reading).
fn read_limited(path: &Path, max: u64, what: &str) -> Result<FileBytes> {
    let io = |e: std::io::Error| ScoringError::Io(format!("cannot read {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > max {
        return Err(ScoringError::refused(format!(
            "the {what} is {len} bytes, over the limit of {max} bytes"
        )));
    }
    FileBytes::read(path, len).map_err(io)
}

/// Reads and validates the found submission against `reference`.
pub fn read_submission(
    found: &Found,
    reference: &Reference,
    limits: &Limits,
) -> Result<Predictions> {
    let (bytes, limits) = read_upload(found, limits)?;
    submission::validate_upload(&bytes, &reference.task, Some(reference), &limits)
}

/// Reads the found submission's bytes (size-checked) and the limits that apply to them.
fn read_upload(found: &Found, limits: &Limits) -> Result<(FileBytes, Limits)> {
    Ok(match found {
        // The platform already unpacked this CSV: only the CSV size limit applies to it.
        Found::Csv(p) => (
            read_limited(p, limits.max_csv_bytes, "CSV")?,
            Limits {
                max_upload_bytes: limits.max_csv_bytes,
                ..limits.clone()
            },
        ),
        Found::Zip(p) => (
            read_limited(p, limits.max_upload_bytes, "upload")?,
            limits.clone(),
        ),
    })
}

/// Reads the `dicom_id` column of a CSV (a reference, a sample submission...), ignoring
/// every other column. Duplicated or empty ids are refused.
pub fn read_ids(csv: &[u8]) -> Result<Vec<String>> {
    let csv = csv.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(csv);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(csv);
    let headers = rdr
        .headers()
        .map_err(|e| ScoringError::refused(format!("ids file: {e}")))?
        .clone();
    let col = headers
        .iter()
        .position(|h| h.trim().trim_matches('"').trim() == "dicom_id")
        .ok_or_else(|| ScoringError::refused("ids file: no \"dicom_id\" column"))?;
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let row = i + 2; // 1-based, the header is row 1
        let rec = rec.map_err(|e| ScoringError::refused(format!("ids file, row {row}: {e}")))?;
        let id = rec.get(col).unwrap_or("").trim();
        if id.is_empty() {
            return Err(ScoringError::refused(format!(
                "ids file, row {row}, column \"dicom_id\": empty id"
            )));
        }
        if !seen.insert(id.to_string()) {
            return Err(ScoringError::refused(format!(
                "ids file, row {row}, column \"dicom_id\": id \"{id}\" appears twice"
            )));
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// A reference that knows only the expected ids: enough to validate a submission's id set
/// (its labels are all 0 and never scored).
pub fn ids_reference(task: Task, ids: Vec<String>) -> Reference {
    let labels = vec![vec![0u8; ids.len()]; task.labels.len()];
    Reference::new(task, ids, labels, None)
}

/// `tailboard check`: validates a submission file for `task`, against `ids` when given.
pub fn check(
    upload: &[u8],
    task: &Task,
    ids: Option<Vec<String>>,
    limits: &Limits,
) -> Result<Predictions> {
    let reference = ids.map(|ids| ids_reference(task.clone(), ids));
    submission::validate_upload(upload, task, reference.as_ref(), limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn finds_csv_at_root_or_one_folder_down_ignoring_platform_files() {
        let t = tempfile::tempdir().unwrap();
        let res = t.path();
        touch(&res.join("metadata"));
        touch(&res.join(".hidden.csv"));
        touch(&res.join("__MACOSX/wrap/._preds.csv"));
        touch(&res.join("code/train.csv"));
        touch(&res.join("wrap/preds.csv"));
        touch(&res.join("wrap/README.txt"));
        assert_eq!(
            find_submission(res).unwrap(),
            Found::Csv(res.join("wrap/preds.csv"))
        );
        touch(&res.join("top.csv"));
        assert_eq!(
            find_submission(res).unwrap(),
            Found::Csv(res.join("top.csv"))
        );
    }

    #[test]
    fn refuses_several_csvs_and_falls_back_to_a_zip() {
        let t = tempfile::tempdir().unwrap();
        let res = t.path();
        touch(&res.join("a/x.csv"));
        touch(&res.join("b/y.csv"));
        let err = find_submission(res).unwrap_err().to_string();
        assert_eq!(
            err,
            "the submission holds 2 CSV files (a/x.csv, b/y.csv); it must hold exactly one"
        );
        let t2 = tempfile::tempdir().unwrap();
        touch(&t2.path().join("sub.ZIP"));
        touch(&t2.path().join("metadata"));
        assert_eq!(
            find_submission(t2.path()).unwrap(),
            Found::Zip(t2.path().join("sub.ZIP"))
        );
        let t3 = tempfile::tempdir().unwrap();
        touch(&t3.path().join("notes.txt"));
        let err = find_submission(t3.path()).unwrap_err().to_string();
        assert!(
            err.starts_with("no CSV file found in the submission"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_never_followed() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("ref/labels.csv"));
        std::fs::create_dir(t.path().join("res")).unwrap();
        std::os::unix::fs::symlink(
            t.path().join("ref/labels.csv"),
            t.path().join("res/preds.csv"),
        )
        .unwrap();
        assert!(find_submission(&t.path().join("res")).is_err());
    }

    #[test]
    fn ids_file_reads_only_the_dicom_id_column() {
        let ids = read_ids(b"\xEF\xBB\xBFa, \"dicom_id\" ,b\n1,x,2\n3,y,4\n").unwrap();
        assert_eq!(ids, ["x", "y"]);
        let err = read_ids(b"dicom_id\nx\nx\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "ids file, row 3, column \"dicom_id\": id \"x\" appears twice"
        );
        assert!(read_ids(b"id\nx\n").is_err());
    }
}
