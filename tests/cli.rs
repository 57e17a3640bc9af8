//! The `tailboard check` and `tailboard demo-data` commands, run as a user runs them: the
//! built binary in a fresh folder.

use std::path::Path;
use std::process::{Command, Output};

fn tailboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailboard"))
        .args(args)
        .output()
        .expect("run tailboard")
}

fn demo(dir: &Path, task: &str, rows: &str, seed: &str) {
    let out = tailboard(&[
        "demo-data",
        "--task",
        task,
        "--rows",
        rows,
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        seed,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn demo_data_is_reproducible_by_seed() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    demo(&a, "2", "406", "7");
    demo(&b, "2", "406", "7");
    demo(&c, "2", "406", "8");
    for f in ["labels.csv", "submission.csv"] {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs for the same seed"
        );
        assert_ne!(
            read(&a.join(f)),
            read(&c.join(f)),
            "{f} equal for another seed"
        );
    }
}

#[test]
fn demo_labels_have_cxr_lt_like_prevalences() {
    let t = tempfile::tempdir().unwrap();
    let rows = 20_000;
    demo(t.path(), "1", &rows.to_string(), "3");
    let mut rdr = csv::Reader::from_path(t.path().join("labels.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[0], "dicom_id");
    assert_eq!(&header[1..], &scoring::task::TASK1_LABELS[..]);
    let mut positives = vec![0usize; 40];
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        n += 1;
        for (k, v) in rec.iter().skip(1).enumerate() {
            assert!(v == "0" || v == "1", "label cell {v:?}");
            positives[k] += usize::from(v == "1");
        }
    }
    assert_eq!(n, rows);
    for (k, &count) in scoring::task::TASK1_TRAIN_COUNTS.iter().enumerate() {
        let p = count as f64 / 248_137.0;
        let observed = positives[k] as f64 / rows as f64;
        // Five binomial standard deviations, plus one row for the "at least one positive" rule.
        let tolerance = 5.0 * (p * (1.0 - p) / rows as f64).sqrt() + 1.0 / rows as f64;
        assert!(
            (observed - p).abs() <= tolerance,
            "{}: prevalence {observed}, expected about {p}",
            header[k + 1]
        );
        assert!(positives[k] > 0, "{} has no positive", header[k + 1]);
    }
}

#[test]
fn demo_submission_matches_reference_ids_and_columns() {
    let t = tempfile::tempdir().unwrap();
    demo(t.path(), "3", "1000", "1");
    let ids = |f: &str| -> Vec<String> {
        let mut r = csv::Reader::from_path(t.path().join(f)).unwrap();
        r.records().map(|x| x.unwrap()[0].to_string()).collect()
    };
    assert_eq!(ids("labels.csv"), ids("submission.csv"));
    let text = String::from_utf8(read(&t.path().join("submission.csv"))).unwrap();
    assert!(text.starts_with("dicom_id,Bulla,Cardiomyopathy,Hilum,Osteopenia,Scoliosis\n"));
}

#[test]
fn demo_data_refuses_an_unknown_task_with_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let out = tailboard(&[
        "demo-data",
        "--task",
        "4",
        "--rows",
        "10",
        "--out",
        t.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--task"));
    assert!(!t.path().join("labels.csv").exists());
}
