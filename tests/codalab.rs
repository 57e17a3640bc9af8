//! `tailboard score` end to end, as CodaLab v1.5 and Codabench run it: the built binary on an
//! `INPUT/ref` + `INPUT/res` layout like the platforms make (wrapper folder, `metadata` file,
//! `code/` folder, a zip left in `res`), checked through the four files it writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scoring::bootstrap::{self, BootstrapOptions, Sampler};
use scoring::demo::{self, DemoOptions};
use scoring::reference::Reference;
use scoring::report::{self, Report};
use scoring::submission::{self, Limits};
use scoring::testcases::{self, Expect};
use scoring::{metrics, Task};

const SCORE_FILES: [&str; 4] = [
    "scores.txt",
    "scores.json",
    "per_class.csv",
    "detailed_results.html",
];

/// The keys every report has, then the keys a bootstrap adds.
const POINT_KEYS: [&str; 5] = ["mAP", "mAUROC", "mF1", "microF1", "mECE"];
const CI_KEYS: [&str; 4] = [
    "mAP_ci_low",
    "mAP_ci_high",
    "mAUROC_ci_low",
    "mAUROC_ci_high",
];

fn score(input: &Path, output: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailboard"))
        .arg("score")
        .arg(input)
        .arg(output)
        .args(extra)
        .output()
        .expect("run tailboard")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `INPUT/ref/labels.csv` (+ `task.toml`) of a fresh `INPUT` folder.
fn input_with_reference(root: &Path, labels_csv: &[u8], task_toml: Option<&str>) -> PathBuf {
    let input = root.join("input");
    write(&input.join("ref/labels.csv"), labels_csv);
    if let Some(t) = task_toml {
        write(&input.join("ref/task.toml"), t.as_bytes());
    }
    std::fs::create_dir_all(input.join("res")).unwrap();
    input
}

fn stderr_first_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// What the library computes for the same inputs (the binary must write exactly this).
fn library_report(labels_csv: &[u8], task: Option<Task>, sub_csv: &[u8], b: usize) -> Report {
    let reference = Reference::parse(labels_csv, task).unwrap();
    let p = submission::parse_predictions(sub_csv, &reference.task, Some(&reference)).unwrap();
    let scores = metrics::score(&reference, &p).unwrap();
    let intervals = (b > 0).then(|| {
        let options = BootstrapOptions {
            replicates: b,
            ..BootstrapOptions::default()
        };
        bootstrap::intervals(&Sampler::for_reference(&reference, options), &reference, &p)
    });
    Report {
        scores,
        intervals,
        warnings: p.warnings,
    }
}

/// `scores.txt` read the way CodaLab v1.5 reads it: split each line on `:`, exactly two
/// parts, `float()` of the value.
fn codalab_scores_txt(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .map(|line| {
            let parts: Vec<&str> = line.split(':').collect();
            assert_eq!(parts.len(), 2, "line {line:?} does not split in two on ':'");
            let value: f64 = parts[1]
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("line {line:?}: {e}"));
            (parts[0].trim().to_string(), value)
        })
        .collect()
}

/// `scores.json` as (key, value) pairs, numbers parsed from their own text (serde_json's
/// default float parser may be one ulp off, which would hide a precision loss).
fn scores_json(text: &str) -> Vec<(String, f64)> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let object = value.as_object().expect("scores.json is one object");
    object
        .iter()
        .map(|(k, v)| {
            assert!(v.is_number(), "{k} is {v}, not a number");
            let at = text.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
            let token: String = text[at..]
                .chars()
                .take_while(|c| !matches!(c, ',' | '}' | '\n'))
                .collect();
            (k.clone(), token.trim().parse::<f64>().unwrap())
        })
        .collect()
}

/// Key/value pairs of a scores file.
type Scores = Vec<(String, f64)>;

/// `scores.txt` and `scores.json` read by Python itself, as the platforms do (`float()` of each
/// `key: value` line; `json.load`), each value sent back as its `repr` (shortest round-trip).
/// `None` when there is no python3 on the machine.
fn python_reads(output: &Path) -> Option<(Scores, Scores)> {
    const READER: &str = r#"
import json, sys
out = sys.argv[1]
for line in open(out + "/scores.txt"):
    key, value = line.split(":")
    print("txt", key.strip(), repr(float(value)))
for key, value in json.load(open(out + "/scores.json")).items():
    assert isinstance(value, float) or isinstance(value, int), key
    print("json", key, repr(float(value)))
"#;
    let run = Command::new("python3")
        .arg("-c")
        .arg(READER)
        .arg(output)
        .output()
        .ok()?;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (mut txt, mut json) = (Vec::new(), Vec::new());
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let entry = (parts[1].to_string(), parts[2].parse::<f64>().unwrap());
        if parts[0] == "txt" {
            &mut txt
        } else {
            &mut json
        }
        .push(entry);
    }
    Some((txt, json))
}

fn bits(entries: &[(String, f64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = entries
        .iter()
        .map(|(k, x)| (k.clone(), x.to_bits()))
        .collect();
    v.sort();
    v
}

fn task2_demo(rows: usize) -> demo::DemoData {
    let options = DemoOptions {
        rows,
        seed: 11,
        id_columns: false,
    };
    demo::generate(&Task::builtin(2).unwrap(), &options)
}

#[test]
fn codabench_layout_scores_like_the_library_and_writes_the_four_files() {
    let t = tempfile::tempdir().unwrap();
    let d = task2_demo(406);
    let input = input_with_reference(t.path(), d.reference_csv.as_bytes(), None);
    let res = input.join("res");
    // Codabench adds `metadata`; participants zip a folder with their code and a README.
    write(&res.join("metadata"), b"submitted-by: team\n");
    write(
        &res.join("team_submission/predictions.csv"),
        d.submission_csv.as_bytes(),
    );
    write(&res.join("team_submission/README.txt"), b"our model");
    write(&res.join("code/train.py"), b"print(1)\n");
    write(&res.join("code/old_predictions.csv"), b"not,a,submission\n");
    write(
        &res.join("__MACOSX/team_submission/._predictions.csv"),
        b"\0\0",
    );
    let output = t.path().join("output");
    let out = score(&input, &output, &["--bootstrap", "200"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(names_in(&output), {
        let mut n = SCORE_FILES.map(String::from).to_vec();
        n.sort();
        n
    });
    assert!(!output.join("metadata").exists());

    let want = library_report(
        d.reference_csv.as_bytes(),
        None,
        d.submission_csv.as_bytes(),
        200,
    );
    let want_summary = report::summary(&want);
    let keys: Vec<&str> = want_summary.iter().map(|(k, _)| k.as_str()).collect();
    let groups = ["mAP_head", "mAP_medium", "mAP_tail", "mAP_group_avg"];
    let critical = [
        "FNR_Pneumomediastinum",
        "FNR_Pneumoperitoneum",
        "FNR_Pneumothorax",
    ];
    assert_eq!(
        keys,
        [&POINT_KEYS[..], &groups, &CI_KEYS, &critical].concat()
    );
    let txt = std::fs::read_to_string(output.join("scores.txt")).unwrap();
    let json = std::fs::read_to_string(output.join("scores.json")).unwrap();
    assert_eq!(codalab_scores_txt(&txt), want_summary, "scores.txt");
    assert_eq!(
        bits(&scores_json(&json)),
        bits(&want_summary),
        "scores.json bit for bit"
    );
    match python_reads(&output) {
        Some((txt, json)) => {
            assert_eq!(
                bits(&txt),
                bits(&want_summary),
                "scores.txt through Python float()"
            );
            assert_eq!(
                bits(&json),
                bits(&want_summary),
                "scores.json through json.load"
            );
        }
        None => eprintln!("python3 not found: skipped reading the scores with Python"),
    }
    assert!(
        want.scores.map > 0.2 && want.scores.map < 0.95,
        "{}",
        want.scores.map
    );
    let ci = want.intervals.as_ref().unwrap();
    assert!(ci.map.low <= want.scores.map && want.scores.map <= ci.map.high);

    let mut per_class = csv::Reader::from_path(output.join("per_class.csv")).unwrap();
    let header: Vec<String> = per_class
        .headers()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        &header[..9],
        [
            "label",
            "group",
            "positives",
            "negatives",
            "AP",
            "AUROC",
            "F1",
            "ECE",
            "FNR"
        ]
    );
    assert_eq!(
        &header[9..],
        ["AP_ci_low", "AP_ci_high", "AUROC_ci_low", "AUROC_ci_high"]
    );
    let rows: Vec<csv::StringRecord> = per_class.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 26);
    for (row, class) in rows.iter().zip(&want.scores.classes) {
        assert_eq!(&row[0], class.label);
        assert_eq!(row[4].parse::<f64>().unwrap(), class.ap.unwrap());
        assert_eq!(row[5].parse::<f64>().unwrap(), class.auroc.unwrap());
    }

    let html = std::fs::read_to_string(output.join("detailed_results.html")).unwrap();
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(html.contains("Pleural Effusion") && html.contains("mAP_group_avg"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn a_zip_left_in_res_and_a_v15_wrapper_give_the_same_scores_as_the_bare_csv() {
    let t = tempfile::tempdir().unwrap();
    let d = task2_demo(406);
    let run = |name: &str, layout: &dyn Fn(&Path)| -> String {
        let input = input_with_reference(&t.path().join(name), d.reference_csv.as_bytes(), None);
        layout(&input.join("res"));
        let output = t.path().join(name).join("output");
        let out = score(&input, &output, &["--bootstrap", "0"]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(output.join("scores.json")).unwrap()
    };
    let sub = d.submission_csv.as_bytes();
    let bare = run("bare", &|res| write(&res.join("predictions.csv"), sub));
    let zipped = run("zip", &|res| {
        let zip = zip_of(&[("wrap/predictions.csv", sub), ("code/model.py", b"pass")]);
        write(&res.join("submission.zip"), &zip);
        write(&res.join("metadata"), b"x");
    });
    // CodaLab v1.5 unpacks a zip inside the submission into a folder named after it.
    let v15 = run("v15", &|res| {
        write(&res.join("inner.zip"), &zip_of(&[("predictions.csv", sub)]));
        write(&res.join("inner/predictions.csv"), sub);
    });
    assert_eq!(bare, zipped);
    assert_eq!(bare, v15);
    assert!(!bare.contains("_ci_"), "--bootstrap 0 writes no CI keys");
}

#[test]
fn custom_task_labels_are_escaped_in_html_and_made_safe_as_keys() {
    let t = tempfile::tempdir().unwrap();
    let toml = "name = \"Custom <task>\"\n\
                labels = [\"<script>alert(1)</script>\", \"Pulmonary Embolism\", \"Round(ed) Atelectasis\"]\n\
                critical = [\"<script>alert(1)</script>\", \"Pulmonary Embolism\"]\n";
    let task = Task::from_toml_str(toml).unwrap();
    let options = DemoOptions {
        rows: 300,
        seed: 4,
        id_columns: true,
    };
    let d = demo::generate(&task, &options);
    let input = input_with_reference(t.path(), d.reference_csv.as_bytes(), Some(toml));
    write(
        &input.join("res/sub/preds.csv"),
        d.submission_csv.as_bytes(),
    );
    let output = t.path().join("output");
    let out = score(&input, &output, &["--bootstrap", "50"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let txt = std::fs::read_to_string(output.join("scores.txt")).unwrap();
    let keys: Vec<String> = codalab_scores_txt(&txt)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let critical = ["FNR_script_alert_1_script", "FNR_Pulmonary_Embolism"];
    assert_eq!(
        keys,
        [&POINT_KEYS[..], &CI_KEYS, &critical].concat(),
        "no group keys without training counts"
    );
    let html = std::fs::read_to_string(output.join("detailed_results.html")).unwrap();
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "label reached the page raw"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Custom &lt;task&gt;"));
    assert!(html.contains("Round(ed) Atelectasis"));
    let per_class = std::fs::read_to_string(output.join("per_class.csv")).unwrap();
    assert!(per_class.contains("\r\n<script>alert(1)</script>,,"));
}

#[test]
fn undefined_labels_are_named_and_left_empty_not_zero() {
    let t = tempfile::tempdir().unwrap();
    let d = task2_demo(406);
    // Make Hernia all-negative in the reference: it becomes undefined.
    let hernia = 1 + d.labels.iter().position(|l| l == "Hernia").unwrap();
    let labels: String = d
        .reference_csv
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells: Vec<&str> = line.split(',').collect();
            if i > 0 {
                cells[hernia] = "0";
            }
            cells.join(",") + "\n"
        })
        .collect();
    let input = input_with_reference(t.path(), labels.as_bytes(), None);
    write(&input.join("res/preds.csv"), d.submission_csv.as_bytes());
    let output = t.path().join("output");
    let out = score(&input, &output, &["--bootstrap", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_path(output.join("per_class.csv")).unwrap();
    let row = rdr
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "Hernia")
        .unwrap();
    assert_eq!((&row[2], &row[4], &row[5]), ("0", "", ""));
    let html = std::fs::read_to_string(output.join("detailed_results.html")).unwrap();
    assert!(html.contains("<li>Hernia</li>"));
    let want = library_report(labels.as_bytes(), None, d.submission_csv.as_bytes(), 0);
    assert_eq!(want.scores.undefined, ["Hernia"]);
    let json = std::fs::read_to_string(output.join("scores.json")).unwrap();
    assert_eq!(bits(&scores_json(&json)), bits(&report::summary(&want)));
}

/// Runs a refused layout and checks the contract: exit 1, the reason first on stderr, no
/// score file written.
fn assert_refused(input: &Path, output: &Path, want: &str) {
    let out = score(input, output, &["--bootstrap", "10"]);
    assert_eq!(out.status.code(), Some(1), "{want}");
    assert_eq!(stderr_first_line(&out), want);
    let written: Vec<String> = names_in(output)
        .into_iter()
        .filter(|n| n.starts_with("scores.") || SCORE_FILES.contains(&n.as_str()))
        .collect();
    assert!(written.is_empty(), "{want}: wrote {written:?}");
}

#[test]
fn refusals_exit_non_zero_with_the_reason_first_and_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    let d = task2_demo(406);
    let task = Task::builtin(2).unwrap();

    // A value out of range, in a CodaLab wrapper folder.
    let bad = d.submission_csv.replacen(",0.", ",1.2", 1);
    let root = t.path().join("range");
    let input = input_with_reference(&root, d.reference_csv.as_bytes(), None);
    write(&input.join("res/wrap/preds.csv"), bad.as_bytes());
    let reference = Reference::parse(d.reference_csv.as_bytes(), None).unwrap();
    let msg =
        submission::validate_upload(bad.as_bytes(), &task, Some(&reference), &Limits::default())
            .unwrap_err()
            .to_string();
    assert!(msg.contains("1.2"), "{msg}");
    assert_refused(&input, &root.join("output"), &msg);

    // Two candidate CSVs: never guessed.
    let root = t.path().join("two");
    let input = input_with_reference(&root, d.reference_csv.as_bytes(), None);
    write(&input.join("res/a.csv"), d.submission_csv.as_bytes());
    write(&input.join("res/b.csv"), d.submission_csv.as_bytes());
    assert_refused(
        &input,
        &root.join("output"),
        "the submission holds 2 CSV files (a.csv, b.csv); it must hold exactly one",
    );

    // Nothing to score.
    let root = t.path().join("empty");
    let input = input_with_reference(&root, d.reference_csv.as_bytes(), None);
    write(&input.join("res/metadata"), b"x");
    let out = score(&input, &root.join("output"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_first_line(&out).starts_with("no CSV file found in the submission"));
    assert!(names_in(&root.join("output")).is_empty());

    // A reference that matches no CXR-LT task and carries no task.toml.
    let root = t.path().join("badref");
    let labels = "dicom_id,Foo\na,1\nb,0\n";
    let input = input_with_reference(&root, labels.as_bytes(), None);
    write(
        &input.join("res/preds.csv"),
        b"dicom_id,Foo\na,0.5\nb,0.1\n",
    );
    let want = Reference::parse(labels.as_bytes(), None)
        .unwrap_err()
        .to_string();
    assert_refused(&input, &root.join("output"), &want);

    // A refusal never touches the files of an earlier run in the same folder.
    let root = t.path().join("keep");
    let input = input_with_reference(&root, d.reference_csv.as_bytes(), None);
    write(&input.join("res/preds.csv"), d.submission_csv.as_bytes());
    let output = root.join("output");
    assert!(score(&input, &output, &["--bootstrap", "0"])
        .status
        .success());
    let before = std::fs::read(output.join("scores.json")).unwrap();
    write(&input.join("res/preds.csv"), bad.as_bytes());
    assert_eq!(score(&input, &output, &[]).status.code(), Some(1));
    assert_eq!(std::fs::read(output.join("scores.json")).unwrap(), before);
}

#[test]
fn every_malformed_upload_of_the_shared_table_is_refused_by_the_scoring_program() {
    let t = tempfile::tempdir().unwrap();
    let reference_csv = testcases::reference_csv();
    let mut good_json: Option<String> = None;
    let mut refused = 0;
    for case in testcases::cases() {
        let root = t.path().join(case.name);
        let input = input_with_reference(&root, &reference_csv, None);
        write(&input.join("res").join(case.file_name), &case.upload);
        write(&input.join("res/metadata"), b"platform: codabench\n");
        let output = root.join("output");
        match &case.expect {
            Expect::Refused(msg) => {
                assert_refused(&input, &output, msg);
                refused += 1;
            }
            Expect::Accepted(_) => {
                let out = score(&input, &output, &["--bootstrap", "0"]);
                assert!(
                    out.status.success(),
                    "{}: {}",
                    case.name,
                    String::from_utf8_lossy(&out.stderr)
                );
                // Every accepted variant scores exactly like the plain CSV.
                let json = std::fs::read_to_string(output.join("scores.json")).unwrap();
                match &good_json {
                    None => good_json = Some(json),
                    Some(g) => assert_eq!(&json, g, "{}", case.name),
                }
            }
        }
    }
    assert!(refused >= 25, "only {refused} refusal cases");
}

#[test]
fn default_bootstrap_is_1000_replicates_and_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let d = demo::generate(
        &Task::builtin(3).unwrap(),
        &DemoOptions {
            rows: 400,
            seed: 3,
            id_columns: false,
        },
    );
    let input = input_with_reference(t.path(), d.reference_csv.as_bytes(), None);
    write(&input.join("res/preds.csv"), d.submission_csv.as_bytes());
    let run = |name: &str, extra: &[&str]| -> (String, String) {
        let output = t.path().join(name);
        let out = score(&input, &output, extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |f: &str| std::fs::read_to_string(output.join(f)).unwrap();
        (read("scores.json"), read("detailed_results.html"))
    };
    let (first, html) = run("a", &[]);
    let (again, _) = run("b", &[]);
    let (other_seed, _) = run("c", &["--seed", "5"]);
    assert!(first.contains("\"mAUROC_ci_high\""));
    assert!(
        html.contains("from 1000 replicates (seed 20240826)"),
        "{html}"
    );
    assert_eq!(first, again, "the same inputs must give the same intervals");
    assert_ne!(first, other_seed, "another seed draws other replicates");
    let point_scores = |json: &str| -> Vec<(String, u64)> {
        bits(&scores_json(json))
            .into_iter()
            .filter(|(k, _)| !k.contains("_ci_"))
            .collect()
    };
    assert_eq!(
        point_scores(&first),
        point_scores(&other_seed),
        "point scores do not depend on the seed"
    );
}

/// The bundle of `codalab/` (run.sh + metadata) with the built binary, run the way CodaLab
/// v1.5 runs it: the `command:` of `metadata` with `$program`, `$input` and `$output`
/// substituted, split on single spaces, no shell; the binary without its executable bit, as
/// Python's `extractall` leaves it.
#[cfg(unix)]
#[test]
fn the_codalab_bundle_runs_without_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let program = t.path().join("program");
    std::fs::create_dir_all(&program).unwrap();
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("codalab");
    for f in ["run.sh", "metadata"] {
        std::fs::copy(bundle.join(f), program.join(f)).unwrap();
    }
    std::fs::copy(env!("CARGO_BIN_EXE_tailboard"), program.join("tailboard")).unwrap();
    std::fs::set_permissions(
        program.join("tailboard"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let d = task2_demo(406);
    let input = input_with_reference(t.path(), d.reference_csv.as_bytes(), None);
    write(
        &input.join("res/wrap/preds.csv"),
        d.submission_csv.as_bytes(),
    );
    write(&input.join("res/metadata"), b"x");
    let output = t.path().join("output");
    std::fs::create_dir_all(&output).unwrap();

    let metadata = std::fs::read_to_string(program.join("metadata")).unwrap();
    let command = metadata
        .lines()
        .find_map(|l| l.strip_prefix("command: "))
        .expect("metadata has a command line")
        .replace("$program", program.to_str().unwrap())
        .replace("$input", input.to_str().unwrap())
        .replace("$output", output.to_str().unwrap());
    let argv: Vec<&str> = command.split(' ').collect();
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(names_in(&output).len(), SCORE_FILES.len());
    let txt = std::fs::read_to_string(output.join("scores.txt")).unwrap();
    assert!(codalab_scores_txt(&txt)
        .iter()
        .any(|(k, _)| k == "mAP_ci_low"));
}
