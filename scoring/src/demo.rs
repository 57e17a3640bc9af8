//! Synthetic CXR-LT-like reference labels and submissions, for demos, tests and benchmarks.
//!
//! Everything is drawn from [`crate::rng::Rng`] streams of one seed, so the same task, row
//! count and seed give byte-identical files on every machine and crate version.
//!
//! - **Ids**: `dicom_id`s in MIMIC-CXR form (five groups of 8 lowercase hex digits joined by
//!   `-`), unique. Optionally `subject_id` (8 digits, 1-4 studies each) and `study_id`
//!   (8 digits, 1-3 images each) columns, for cluster resampling.
//! - **Labels**: independent Bernoulli draws at a CXR-LT-like prevalence: the Task 1 training
//!   share `count / 248,137` for the 40 Task 1 labels, fixed low rates (0.6-2.8 %) for the
//!   five zero-shot Task 3 labels, `count / sum(counts)` (clamped to 0.2-50 %) for other
//!   labels with training counts, and 5 % otherwise. When there are at least two rows every
//!   label gets at least one positive and one negative, so no label is undefined.
//! - **Submissions**: for each label, a score `x = d·y + N(0, 1)` turned into the calibrated
//!   probability `sigmoid(logit(prevalence) + d·x − d²/2)`; the separation `d` varies by label
//!   (1.2 to 2.8, times a `signal` factor, so AP differs across labels). Probabilities are
//!   rounded to 3 decimals by default, which makes ties and exact `0` and `1` common for rare
//!   labels (unrounded, a Task-1-size file weighs ~65 MB like a real one: see
//!   [`submission_csv_with_decimals`]), and about 0.3 % of cells are replaced by exactly `0`,
//!   `0.5` or `1`.

use std::fmt::Write as _;
use std::path::Path;

use crate::rng::Rng;
use crate::task::{Task, TASK1_LABELS, TASK1_TRAIN_COUNTS, TRAIN_IMAGES};

/// Fixed prevalences of the zero-shot Task 3 labels (no training counts exist).
const TASK3_PREVALENCE: [(&str, f64); 5] = [
    ("Bulla", 0.006),
    ("Cardiomyopathy", 0.012),
    ("Hilum", 0.028),
    ("Osteopenia", 0.009),
    ("Scoliosis", 0.021),
];

// Independent streams of one seed: changing how one part is drawn never changes the others.
const STREAM_IDS: u64 = 1;
const STREAM_LABELS: u64 = 2;
const STREAM_CLUSTERS: u64 = 3;
const STREAM_SCORES: u64 = 4;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Number of images.
    pub rows: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Also write `subject_id` and `study_id` columns (reference and submission).
    pub id_columns: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            rows: 1000,
            seed: 1,
            id_columns: false,
        }
    }
}

/// Generated demo data, held in memory.
#[derive(Debug, Clone)]
pub struct DemoData {
    /// The task's label names, in task order (the CSV column order).
    pub labels: Vec<String>,
    /// Image ids, in file order.
    pub ids: Vec<String>,
    /// `(subject_id, study_id)` per image, when requested.
    pub clusters: Option<Vec<(u32, u32)>>,
    /// Reference labels per class (task order), each a 0/1 vector over `ids`.
    pub truth: Vec<Vec<u8>>,
    /// The reference `labels.csv` text.
    pub reference_csv: String,
    /// A plausible submission CSV text for the same ids.
    pub submission_csv: String,
}

/// The prevalence used for each label of `task` (see module docs).
pub fn prevalences(task: &Task) -> Vec<f64> {
    let count_sum: u64 = task.train_counts.iter().flatten().sum();
    task.labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            if let Some(k) = TASK1_LABELS.iter().position(|l| l == label) {
                TASK1_TRAIN_COUNTS[k] as f64 / TRAIN_IMAGES as f64
            } else if let Some((_, p)) = TASK3_PREVALENCE.iter().find(|(l, _)| l == label) {
                *p
            } else if let (Some(c), true) = (&task.train_counts, count_sum > 0) {
                (c[i] as f64 / count_sum as f64).clamp(0.002, 0.5)
            } else {
                0.05
            }
        })
        .collect()
}

/// Generates reference labels and a submission for `task`.
pub fn generate(task: &Task, options: &DemoOptions) -> DemoData {
    let mut data = generate_reference(task, options);
    data.submission_csv = submission_csv(task, &data, 1.0, options.seed);
    data
}

/// The reference part of [`generate`] (`submission_csv` left empty).
fn generate_reference(task: &Task, options: &DemoOptions) -> DemoData {
    let n = options.rows;
    let ids = dicom_ids(n, options.seed);
    let clusters = options.id_columns.then(|| clusters(n, options.seed));
    let prevalence = prevalences(task);
    let truth = labels(&prevalence, n, options.seed);
    let reference_csv = write_csv(task, &ids, clusters.as_deref(), |row, out| {
        for class in &truth {
            out.push(',');
            out.push(if class[row] == 1 { '1' } else { '0' });
        }
    });
    DemoData {
        labels: task.labels.clone(),
        ids,
        clusters,
        truth,
        reference_csv,
        submission_csv: String::new(),
    }
}

/// Another submission for the same images: `signal` scales how well the scores separate
/// positives from negatives (1 = the default demo model, 0 = no signal at all), `seed`
/// draws the noise. Servers use it for baseline entries of different strength.
pub fn submission_csv(task: &Task, data: &DemoData, signal: f64, seed: u64) -> String {
    submission_csv_with_decimals(task, data, signal, seed, DEFAULT_DECIMALS)
}

/// Decimals of the demo probabilities: few enough to make ties common.
pub const DEFAULT_DECIMALS: u32 = 3;

/// Decimals from which probabilities are written unrounded (shortest round-trip form).
pub const FULL_PRECISION: u32 = 17;

/// [`submission_csv`] with probabilities rounded to `decimals` places; `decimals >=`
/// [`FULL_PRECISION`] writes them unrounded, as a real model's output (a Task 1 file then
/// weighs about 65 MB, the size benchmarks need). The draws do not depend on `decimals`.
pub fn submission_csv_with_decimals(
    task: &Task,
    data: &DemoData,
    signal: f64,
    seed: u64,
    decimals: u32,
) -> String {
    let prevalence = prevalences(task);
    let mut rng = Rng::for_stream(seed, STREAM_SCORES);
    let mut cells: Vec<Vec<f64>> = Vec::with_capacity(data.truth.len());
    for (c, class) in data.truth.iter().enumerate() {
        let d = signal * (1.2 + 1.6 * ((c * 7) % 10) as f64 / 9.0);
        let p = prevalence[c].clamp(1e-4, 1.0 - 1e-4);
        let base = (p / (1.0 - p)).ln() - d * d / 2.0;
        let col = class
            .iter()
            .map(|&y| {
                let x = d * y as f64 + normal(&mut rng);
                let prob = 1.0 / (1.0 + (-(base + d * x)).exp());
                // Exact 0, 0.5 and 1 are the edge cases scorers most often get wrong.
                if rng.below(1000) < 3 {
                    [0.0, 0.5, 1.0][rng.below(3) as usize]
                } else {
                    prob
                }
            })
            .collect();
        cells.push(col);
    }
    let text = Formatter::new(decimals);
    write_csv(task, &data.ids, data.clusters.as_deref(), |row, out| {
        for col in &cells {
            out.push(',');
            text.push(col[row], out);
        }
    })
}

/// Writes probabilities rounded to a number of decimals.
struct Formatter {
    decimals: u32,
    scale: f64,
    /// Every rounded value as text when there are few (3 million cells for Task 1).
    table: Vec<String>,
}

impl Formatter {
    fn new(decimals: u32) -> Formatter {
        let scale = 10f64.powi(decimals.min(FULL_PRECISION) as i32);
        let table = if decimals <= 4 {
            (0..=scale as u32)
                .map(|k| format!("{}", k as f64 / scale))
                .collect()
        } else {
            Vec::new()
        };
        Formatter {
            decimals,
            scale,
            table,
        }
    }

    fn push(&self, p: f64, out: &mut String) {
        if self.decimals >= FULL_PRECISION {
            let _ = write!(out, "{p}");
            return;
        }
        let k = (p * self.scale).round();
        match self.table.get(k as usize) {
            Some(t) => out.push_str(t),
            // k / scale is correctly rounded, so its shortest form has at most `decimals` places.
            None => {
                let _ = write!(out, "{}", k / self.scale);
            }
        }
    }
}

/// Writes `DIR/labels.csv` (the reference) and `DIR/submission.csv` with probabilities
/// rounded to `decimals` places, creating `DIR`.
pub fn write_dir(
    task: &Task,
    options: &DemoOptions,
    decimals: u32,
    dir: &Path,
) -> std::io::Result<DemoData> {
    let mut data = generate_reference(task, options);
    data.submission_csv = submission_csv_with_decimals(task, &data, 1.0, options.seed, decimals);
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("labels.csv"), &data.reference_csv)?;
    std::fs::write(dir.join("submission.csv"), &data.submission_csv)?;
    Ok(data)
}

/// A standard normal draw (Box-Muller; one of the pair is enough here).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit_f64(); // (0, 1]: ln stays finite
    let u2 = rng.unit_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn dicom_ids(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::for_stream(seed, STREAM_IDS);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let (a, b, c) = (rng.next_u64(), rng.next_u64(), rng.next_u64() as u32);
        let id = format!(
            "{:08x}-{:08x}-{:08x}-{:08x}-{:08x}",
            a >> 32,
            a & 0xffff_ffff,
            b >> 32,
            b & 0xffff_ffff,
            c
        );
        if seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    ids
}

/// `(subject_id, study_id)` per row: consecutive rows share studies, studies share subjects.
fn clusters(n: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = Rng::for_stream(seed, STREAM_CLUSTERS);
    let (mut subject, mut study) = (10_000_000 + rng.below(1000), 50_000_000 + rng.below(1000));
    let (mut studies_left, mut images_left) = (0u32, 0u32);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if images_left == 0 {
            if studies_left == 0 {
                subject += 1 + rng.below(50);
                studies_left = 1 + rng.below(4);
            }
            study += 1 + rng.below(200);
            studies_left -= 1;
            images_left = 1 + rng.below(3);
        }
        images_left -= 1;
        out.push((subject, study));
    }
    out
}

fn labels(prevalence: &[f64], n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::for_stream(seed, STREAM_LABELS);
    prevalence
        .iter()
        .map(|&p| {
            let mut col: Vec<u8> = (0..n).map(|_| u8::from(rng.unit_f64() < p)).collect();
            if n >= 2 {
                // Keep every label defined: a demo without positives for a rare label would
                // only show the undefined-label path, which tests exercise on purpose instead.
                let positives = col.iter().filter(|&&y| y == 1).count();
                if positives == 0 || positives == n {
                    let flip = u8::from(positives == 0);
                    let row = rng.below(n as u32) as usize;
                    col[row] = flip;
                }
            }
            col
        })
        .collect()
}

/// A CSV header or cell, quoted when it holds a separator, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_csv(
    task: &Task,
    ids: &[String],
    clusters: Option<&[(u32, u32)]>,
    mut cells: impl FnMut(usize, &mut String),
) -> String {
    let width = 48 + task.labels.len() * 6;
    let mut out = String::with_capacity(ids.len() * width + 1024);
    out.push_str("dicom_id");
    if clusters.is_some() {
        out.push_str(",subject_id,study_id");
    }
    for l in &task.labels {
        out.push(',');
        out.push_str(&csv_field(l));
    }
    out.push('\n');
    for (row, id) in ids.iter().enumerate() {
        out.push_str(id);
        if let Some(c) = clusters {
            let _ = write!(out, ",{},{}", c[row].0, c[row].1);
        }
        cells(row, &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: u8) -> Task {
        Task::builtin(n).unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let o = DemoOptions {
            rows: 300,
            seed: 5,
            id_columns: true,
        };
        let a = generate(&task(2), &o);
        let b = generate(&task(2), &o);
        assert_eq!(a.reference_csv, b.reference_csv);
        assert_eq!(a.submission_csv, b.submission_csv);
        let c = generate(&task(2), &DemoOptions { seed: 6, ..o });
        assert_ne!(a.reference_csv, c.reference_csv);
        assert_ne!(a.submission_csv, c.submission_csv);
    }

    #[test]
    fn ids_have_the_mimic_form_and_are_unique() {
        let d = generate(
            &task(3),
            &DemoOptions {
                rows: 2000,
                ..Default::default()
            },
        );
        let unique: std::collections::HashSet<_> = d.ids.iter().collect();
        assert_eq!(unique.len(), 2000);
        for id in &d.ids {
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(groups.len(), 5, "{id}");
            assert!(groups.iter().all(|g| g.len() == 8
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
        }
    }

    #[test]
    fn every_label_is_defined_even_when_rows_are_few() {
        let d = generate(
            &task(1),
            &DemoOptions {
                rows: 20,
                ..Default::default()
            },
        );
        for (label, col) in d.labels.iter().zip(&d.truth) {
            let pos = col.iter().filter(|&&y| y == 1).count();
            assert!(pos > 0 && pos < col.len(), "{label}: {pos} positives");
        }
    }

    #[test]
    fn submission_scores_carry_signal_ties_and_edge_values() {
        let d = generate(
            &task(1),
            &DemoOptions {
                rows: 5000,
                ..Default::default()
            },
        );
        let mut rdr = csv::Reader::from_reader(d.submission_csv.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header[0], "dicom_id");
        assert_eq!(&header[1..], &d.labels[..]);
        let rows: Vec<Vec<f64>> = rdr
            .records()
            .map(|r| {
                r.unwrap()
                    .iter()
                    .skip(1)
                    .map(|v| v.parse().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), 5000);
        let edge = |v: f64| rows.iter().flatten().filter(|&&x| x == v).count();
        assert!(edge(0.0) > 0 && edge(0.5) > 0 && edge(1.0) > 0);
        assert!(rows.iter().flatten().all(|&x| (0.0..=1.0).contains(&x)));
        for c in 0..d.labels.len() {
            let (mut sp, mut np, mut sn, mut nn) = (0.0, 0, 0.0, 0);
            for (r, row) in rows.iter().enumerate() {
                if d.truth[c][r] == 1 {
                    sp += row[c];
                    np += 1;
                } else {
                    sn += row[c];
                    nn += 1;
                }
            }
            assert!(
                sp / np as f64 > sn / nn as f64,
                "{}: no signal",
                d.labels[c]
            );
        }
    }

    #[test]
    fn decimals_change_only_the_rounding() {
        let t = task(3);
        let d = generate(
            &t,
            &DemoOptions {
                rows: 400,
                ..Default::default()
            },
        );
        let parse = |csv: &str| -> Vec<f64> {
            csv.lines()
                .skip(1)
                .flat_map(|l| {
                    l.split(',')
                        .skip(1)
                        .map(|v| v.parse::<f64>().unwrap())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let three = parse(&d.submission_csv);
        let full_csv = submission_csv_with_decimals(&t, &d, 1.0, 1, FULL_PRECISION);
        let full = parse(&full_csv);
        assert!(full_csv.len() > 2 * d.submission_csv.len());
        for (a, b) in three.iter().zip(&full) {
            assert_eq!(*a, (b * 1000.0).round() / 1000.0);
        }
        let one = parse(&submission_csv_with_decimals(&t, &d, 1.0, 1, 1));
        assert!(one.iter().all(|v| (v * 10.0).fract() == 0.0));
    }

    #[test]
    fn prevalences_follow_training_counts() {
        let p = prevalences(&task(1));
        assert!((p[1] - 63471.0 / 248137.0).abs() < 1e-15);
        let p3 = prevalences(&task(3));
        assert!(p3.iter().all(|&x| (0.005..=0.03).contains(&x)));
        let custom = Task::from_toml_str("name = \"x\"\nlabels = [\"a,b\", \"c\"]\n").unwrap();
        assert_eq!(prevalences(&custom), [0.05, 0.05]);
        let d = generate(
            &custom,
            &DemoOptions {
                rows: 3,
                ..Default::default()
            },
        );
        assert!(d.reference_csv.starts_with("dicom_id,\"a,b\",c\n"));
    }

    #[test]
    fn id_columns_group_images_into_studies_and_subjects() {
        let d = generate(
            &task(3),
            &DemoOptions {
                rows: 500,
                seed: 2,
                id_columns: true,
            },
        );
        let c = d.clusters.as_ref().unwrap();
        let studies: std::collections::HashSet<_> = c.iter().map(|x| x.1).collect();
        let subjects: std::collections::HashSet<_> = c.iter().map(|x| x.0).collect();
        assert!(studies.len() < 500 && subjects.len() < studies.len());
        assert!(d
            .reference_csv
            .starts_with("dicom_id,subject_id,study_id,Bulla,"));
    }
}
