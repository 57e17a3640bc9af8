//! Every refusal rule of spec section 4, one malformed upload each, with its exact one-line
//! message; and the unusual-but-valid uploads that must be accepted. The table of uploads
//! lives in `scoring::testcases` so that the scoring program and the server test the same
//! inputs.

use scoring::reference::Reference;
use scoring::submission::{extract_csv, parse_predictions, validate_upload, Limits};
use scoring::testcases::{self, Expect};
use scoring::{ScoringError, Task};

#[test]
fn every_case_gets_its_exact_outcome() {
    let task = testcases::task();
    let reference = testcases::reference();
    let good = parse_predictions(&testcases::good_csv(), &task, Some(&reference)).unwrap();
    let cases = testcases::cases();
    let mut failures = Vec::new();
    for case in &cases {
        let got = validate_upload(&case.upload, &task, Some(&reference), &Limits::default());
        match (&case.expect, got) {
            (Expect::Refused(want), Err(ScoringError::Refused(msg))) => {
                if &msg != want {
                    failures.push(format!(
                        "{}: got  {msg}\n{:>width$}  want {want}",
                        case.name,
                        "",
                        width = case.name.len() + 1
                    ));
                }
                assert!(!msg.contains('\n'), "{}: message spans lines", case.name);
            }
            (Expect::Accepted(warnings), Ok(p)) => {
                if &p.warnings != warnings {
                    failures.push(format!(
                        "{}: warnings {:?}, want {warnings:?}",
                        case.name, p.warnings
                    ));
                }
                if p.ids != good.ids || p.scores != good.scores {
                    failures.push(format!(
                        "{}: predictions differ from the plain CSV",
                        case.name
                    ));
                }
            }
            (want, got) => failures.push(format!("{}: got {got:?}, want {want:?}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let refusals = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Refused(_)))
        .count();
    assert!(refusals >= 30, "only {refusals} refusal cases");
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
}

/// Predictions parsed from `csv` for the synthetic reference.
fn parse_with_reference(csv: &[u8]) -> Result<scoring::submission::Predictions, ScoringError> {
    parse_predictions(csv, &testcases::task(), Some(&testcases::reference()))
}

fn refusal(r: Result<impl std::fmt::Debug, ScoringError>) -> String {
    match r {
        Err(ScoringError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn reference_error(csv: &str, task: Option<Task>) -> String {
    match Reference::parse(csv.as_bytes(), task) {
        Err(ScoringError::Reference(m)) => m,
        other => panic!("expected a reference error, got {other:?}"),
    }
}

/// A Task-1-size-like file big enough to be split into several parallel chunks.
fn big_task3_csv(rows: usize) -> (Vec<String>, String) {
    let task = Task::builtin(3).unwrap();
    let ids: Vec<String> = (0..rows).map(testcases::image_id).collect();
    let mut csv = format!("dicom_id,{}\n", task.labels.join(","));
    for (i, id) in ids.iter().enumerate() {
        csv.push_str(id);
        for j in 0..task.labels.len() {
            csv.push_str(&format!(",{:.15}", testcases::probability(i, j)));
        }
        csv.push('\n');
    }
    (ids, csv)
}

#[test]
fn rows_come_back_in_reference_order() {
    let task = testcases::task();
    let reference = testcases::reference();
    let good = String::from_utf8(testcases::good_csv()).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[1..].reverse();
    let p = parse_with_reference(lines.join("\n").as_bytes()).unwrap();
    assert_eq!(p.ids, reference.ids);
    let edema = task.label_index("Edema").unwrap();
    assert_eq!(p.scores[edema][7], testcases::probability(7, edema));
    assert_eq!(p.scores.len(), 26);
    assert!(p
        .scores
        .iter()
        .all(|c| c.len() == testcases::REFERENCE_ROWS));
}

#[test]
fn without_reference_ids_keep_file_order_and_only_duplicates_are_refused() {
    let task = Task::builtin(3).unwrap();
    let csv =
        "dicom_id,Bulla,Cardiomyopathy,Hilum,Osteopenia,Scoliosis\nb,0,0,0,0,0.25\na,1,1,1,1,0.5\n";
    let p = parse_predictions(csv.as_bytes(), &task, None).unwrap();
    assert_eq!(p.ids, ["b", "a"]);
    assert_eq!(p.scores[4], [0.25, 0.5]);
    let dup = format!("{csv}b,0,0,0,0,0\nb,0,0,0,0,0\n");
    assert_eq!(
        refusal(parse_predictions(dup.as_bytes(), &task, None)),
        "1 id appears more than once, e.g. \"b\" (rows 2 and 4)"
    );
}

#[test]
fn the_first_bad_row_in_file_order_is_reported_across_parallel_chunks() {
    let task = Task::builtin(3).unwrap();
    let (ids, csv) = big_task3_csv(30_000);
    assert!(csv.len() > 2_000_000, "the file must span several chunks");
    let p = parse_predictions(csv.as_bytes(), &task, None).unwrap();
    assert_eq!(p.ids, ids);
    assert_eq!(
        p.scores[2][29_999],
        format!("{:.15}", testcases::probability(29_999, 2))
            .parse::<f64>()
            .unwrap()
    );
    // Break a late row, then an earlier one too: the earlier one is reported.
    let late = ids[28_000].clone();
    let early = ids[40].clone();
    let late_value = format!("{:.15}", testcases::probability(28_000, 0));
    let broken = csv.replacen(&format!("{late},{late_value}"), &format!("{late},1.5"), 1);
    assert_eq!(
        refusal(parse_predictions(broken.as_bytes(), &task, None)),
        "row 28002, column \"Bulla\": value \"1.5\" is outside [0, 1]"
    );
    let broken = broken.replacen(&format!("{early},"), &format!("{early},x"), 1);
    assert!(refusal(parse_predictions(broken.as_bytes(), &task, None))
        .starts_with("row 42, column \"Bulla\": value \"x"));
    // The same file through the quoted (sequential csv crate) path gives the same answer.
    let quoted = broken.replacen(&ids[0], &format!("\"{}\"", ids[0]), 1);
    assert!(refusal(parse_predictions(quoted.as_bytes(), &task, None))
        .starts_with("row 42, column \"Bulla\": value \"x"));
}

#[test]
fn limits_are_configurable() {
    let good = testcases::good_csv();
    let task = testcases::task();
    let small = Limits {
        max_upload_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(
        refusal(validate_upload(&good, &task, None, &small)),
        format!(
            "the upload is {} bytes, over the limit of 1000 bytes",
            good.len()
        )
    );
    let zip = testcases::zip_of(&[("a.csv", &good)]);
    let small_csv = Limits {
        max_csv_bytes: 10_000,
        ..Limits::default()
    };
    assert_eq!(
        refusal(validate_upload(&zip, &task, None, &small_csv)),
        "the CSV in the zip is more than 10000 bytes uncompressed, over the limit"
    );
    let few = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let three = testcases::zip_of(&[("a.csv", &good), ("b.txt", b"x"), ("c.txt", b"y")]);
    assert_eq!(
        refusal(validate_upload(&three, &task, None, &few)),
        "the zip holds 3 entries, more than the limit of 2"
    );
    let strict = Limits {
        max_ratio: 2,
        ..Limits::default()
    };
    assert_eq!(
        refusal(validate_upload(&zip, &task, None, &strict)),
        "the CSV in the zip expands more than 2:1; refused as a possible zip bomb"
    );
    assert_eq!(extract_csv(&zip, &Limits::default()).unwrap(), good);
}

#[test]
fn reference_labels_are_checked() {
    let t3 = "dicom_id,Bulla,Cardiomyopathy,Hilum,Osteopenia,Scoliosis\n";
    let ok = format!("{t3}a,1,0,0.0,1.0,0\nb,0,1,1,0,1\n");
    let r = Reference::parse(ok.as_bytes(), None).unwrap();
    assert_eq!(r.task.name, "CXR-LT 2024 Task 3");
    assert_eq!(r.labels[2], [0, 1]);
    assert_eq!(r.row_of("b"), Some(1));
    assert_eq!(r.row_of("B"), None);
    assert!(r.clusters.is_none());
    assert_eq!(
        reference_error(&format!("{t3}a,1,0,0,2,0\n"), None),
        "row 2, column \"Osteopenia\": value \"2\" is not 0 or 1"
    );
    assert_eq!(
        reference_error(&format!("{t3}a,1,0,0,,0\n"), None),
        "row 2, column \"Osteopenia\": value \"\" is not 0 or 1"
    );
    assert_eq!(
        reference_error(
            &format!("{t3}a,1,0,0,1,0\nb,0,1,1,0,1\na,0,0,0,0,0\n"),
            None
        ),
        "1 id appears more than once, e.g. \"a\" (rows 2 and 4)"
    );
    assert_eq!(
        reference_error("dicom_id,Bulla,Hilum,Osteopenia,Scoliosis,Foo\na,1,0,0,1,0\n", None),
        "the 5 label columns match no CXR-LT 2024 task and there is no task.toml; nearest is CXR-LT 2024 Task 3 (missing \"Cardiomyopathy\"; unknown \"Foo\")"
    );
    assert_eq!(
        reference_error("id,Bulla\n", None),
        "the header has no \"dicom_id\" column"
    );
    assert_eq!(
        reference_error(t3, None),
        "the file has a header but no data rows"
    );
    assert_eq!(
        reference_error(&format!("{t3}a,1,1,1,1,1\n"), None),
        "no label of CXR-LT 2024 Task 3 has both a positive and a negative image, so nothing can be scored"
    );
    let custom =
        Task::from_toml_str("name = \"X\"\nlabels = [\"A\", \"B\"]\nresample = \"study_id\"\n")
            .unwrap();
    assert_eq!(
        reference_error("dicom_id,A,B\na,1,0\n", Some(custom.clone())),
        "the task resamples by study_id but the header has no \"study_id\" column"
    );
    assert_eq!(
        reference_error("dicom_id,A,C\na,1,0\n", Some(custom.clone())),
        "column \"C\" is not a label of X"
    );
    let r = Reference::parse(
        b"dicom_id,study_id,A,B\na,s9,1,0\nb,s2,0,1\nc,s9,0,0\nd,s5,1,1\n",
        Some(custom),
    )
    .unwrap();
    assert_eq!(r.clusters.unwrap(), [0, 1, 0, 2]);
}

#[test]
fn reference_from_dir_reads_task_toml_and_one_wrapper_folder() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("reference_data");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(inner.join("labels.csv"), "dicom_id,A,B\na,1,0\nb,0,1\n").unwrap();
    std::fs::write(
        inner.join("task.toml"),
        "name = \"Custom\"\nlabels = [\"B\", \"A\"]\n",
    )
    .unwrap();
    let r = Reference::from_dir(dir.path()).unwrap();
    assert_eq!(r.task.name, "Custom");
    assert_eq!(r.labels, [vec![0, 1], vec![1, 0]]);
    let empty = tempfile::tempdir().unwrap();
    let err = Reference::from_dir(empty.path()).unwrap_err();
    assert!(matches!(err, ScoringError::Io(_)), "{err:?}");
    assert!(err
        .to_string()
        .ends_with("has no labels.csv (the reference labels)"));
}

#[test]
fn damaged_uploads_never_panic_and_always_get_one_line() {
    let task = testcases::task();
    let reference = testcases::reference();
    let good = testcases::good_csv();
    let zip = testcases::zip_of(&[("team/predictions.csv", &good[..20_000])]);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for round in 0..300 {
        let base = if round % 2 == 0 { &zip } else { &good };
        let mut bytes = base.clone();
        match round % 3 {
            0 => bytes.truncate(next(bytes.len())),
            _ => {
                for _ in 0..1 + next(8) {
                    let at = next(bytes.len());
                    bytes[at] = next(256) as u8;
                }
            }
        }
        let result = validate_upload(&bytes, &task, Some(&reference), &Limits::default());
        if let Err(e) = result {
            let msg = e.to_string();
            assert!(
                !msg.is_empty() && !msg.contains(['\n', '\r']),
                "round {round}: {msg:?}"
            );
        }
    }
}
