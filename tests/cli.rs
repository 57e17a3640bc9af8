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

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_first_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines().next().unwrap_or("").to_string()
}

#[test]
fn check_accepts_a_valid_submission_with_and_without_ids() {
    let t = tempfile::tempdir().unwrap();
    demo(t.path(), "2", "406", "2");
    let sub = t.path().join("submission.csv");
    let labels = t.path().join("labels.csv");
    let out = tailboard(&["check", sub.to_str().unwrap(), "--task", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "OK: 406 rows, 26 labels\n");
    let out = tailboard(&[
        "check",
        sub.to_str().unwrap(),
        "--task",
        "2",
        "--ids",
        labels.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "OK: 406 rows, 26 labels\n");
}

#[test]
fn check_reports_warnings_for_labels_of_another_task() {
    let t = tempfile::tempdir().unwrap();
    demo(t.path(), "2", "50", "2");
    // A Task 1 label in a Task 2 submission is ignored with a warning.
    let text = std::fs::read_to_string(t.path().join("submission.csv")).unwrap();
    let with_extra: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "Azygos Lobe" } else { "0.1" }))
        .collect();
    let sub = t.path().join("extra.csv");
    std::fs::write(&sub, with_extra).unwrap();
    let out = tailboard(&["check", sub.to_str().unwrap(), "--task", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("OK: 50 rows, 26 labels"));
    let warning = lines.next().unwrap_or("");
    assert!(
        warning.starts_with("warning: ") && warning.contains("Azygos Lobe"),
        "{text}"
    );
}

#[test]
fn check_refuses_with_the_engines_one_line_reason() {
    let t = tempfile::tempdir().unwrap();
    demo(t.path(), "3", "200", "2");
    let task = scoring::Task::builtin(3).unwrap();
    let good = std::fs::read_to_string(t.path().join("submission.csv")).unwrap();

    // A value outside [0, 1]; the message names row, column and value.
    let bad = good.replacen(",0.", ",-0.", 1);
    let path = t.path().join("bad.csv");
    std::fs::write(&path, &bad).unwrap();
    let want = scoring::submission::parse_predictions(bad.as_bytes(), &task, None)
        .unwrap_err()
        .to_string();
    assert!(want.contains("row 2") && want.contains("-0."), "{want}");
    let out = tailboard(&["check", path.to_str().unwrap(), "--task", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_first_line(&out), want);
    assert!(stdout(&out).is_empty());

    // A valid file for the wrong task: the missing label columns are named.
    let sub = t.path().join("submission.csv");
    let out = tailboard(&["check", sub.to_str().unwrap(), "--task", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_first_line(&out).contains("Atelectasis"),
        "{}",
        stderr_first_line(&out)
    );

    // The ids must equal the ids file's: one image left out is refused.
    let short: String = good.lines().take(150).map(|l| format!("{l}\n")).collect();
    let path = t.path().join("short.csv");
    std::fs::write(&path, &short).unwrap();
    let labels = t.path().join("labels.csv");
    let out = tailboard(&[
        "check",
        path.to_str().unwrap(),
        "--task",
        "3",
        "--ids",
        labels.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr_first_line(&out);
    assert!(msg.contains("missing") && msg.contains("51"), "{msg}");
    // Without --ids the same file is fine: only columns and values are checked.
    let out = tailboard(&["check", path.to_str().unwrap(), "--task", "3"]);
    assert_eq!(stdout(&out), "OK: 149 rows, 5 labels\n");
}

#[test]
fn check_reads_a_zip_holding_one_csv() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    demo(t.path(), "3", "100", "9");
    let csv = std::fs::read(t.path().join("submission.csv")).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("team/preds.csv", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(&csv).unwrap();
    let zip_path = t.path().join("upload.zip");
    std::fs::write(&zip_path, w.finish().unwrap().into_inner()).unwrap();
    let out = tailboard(&["check", zip_path.to_str().unwrap(), "--task", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "OK: 100 rows, 5 labels\n");
}
