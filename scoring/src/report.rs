//! The result files of a scored submission.
//!
//! A [`Report`] becomes one ordered, flat list of `key -> number` pairs ([`summary`]), written
//! as `scores.txt` (CodaLab v1.5) and `scores.json` (Codabench), plus `per_class.csv` and a
//! self-contained `detailed_results.html`. Choices made here:
//!
//! - **Keys**: `mAP`, `mAUROC`, `mF1`, `microF1`, `mECE`; `mAP_head`, `mAP_medium`,
//!   `mAP_tail`, `mAP_group_avg` only when the task has prevalence groups (and the group holds
//!   a defined label); `mAP_ci_low`, `mAP_ci_high`, `mAUROC_ci_low`, `mAUROC_ci_high` only
//!   when the bootstrap ran; then `FNR_<label>` for every critical finding whose FNR is
//!   defined (the label has positives).
//! - **FNR keys** are made safe for CodaLab's `key: value` parsing and for YAML: every run of
//!   characters other than ASCII letters, digits and `_` becomes one `_`, leading and trailing
//!   `_` are dropped (`Pulmonary Embolism` -> `FNR_Pulmonary_Embolism`, `Round(ed) Atelectasis`
//!   -> `FNR_Round_ed_Atelectasis`). Two labels that collapse to the same key get `_2`, `_3`,
//!   ... in label order.
//! - **Numbers** keep full f64 round-trip precision. `scores.txt` uses Rust's shortest
//!   round-trip decimal form without exponent (`0.8125`, `1`, `0.000001`), which Python's
//!   `float()` and YAML both read as a number; `scores.json` uses JSON numbers. A value that is
//!   not finite is never written: its key is left out (the macro means are always finite
//!   because a reference whose every label is undefined is refused).
//! - **Undefined labels** (no positives or no negatives in the reference) have empty metric
//!   cells in `per_class.csv`, are marked "undefined" in the HTML, and are listed by name.
//! - **Files** are written atomically (a hidden temporary file in the output folder, then a
//!   rename), and a file named `metadata` is never written: Codabench's worker owns it.
//!   They are not flushed to disk (no fsync): the platform reads them right after the
//!   program exits, from the same machine, and a machine that crashes reruns the job; an
//!   fsync per file cost up to 15 ms each on a virtual disk, a tenth of a plain scoring run.

use std::fmt::Write as _;
use std::path::Path;

use crate::bootstrap::{Interval, Intervals};
use crate::error::{Result, ScoringError};
use crate::metrics::{ClassMetrics, Scores};

/// Everything reported about one scored submission.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Point estimates.
    pub scores: Scores,
    /// Bootstrap intervals, when computed.
    pub intervals: Option<Intervals>,
    /// Non-fatal notes from validation.
    pub warnings: Vec<String>,
}

/// Names of the files [`write_all`] writes, in writing order.
pub const OUTPUT_FILES: [&str; 4] = [
    "scores.txt",
    "scores.json",
    "per_class.csv",
    "detailed_results.html",
];

/// The ordered, flat `key -> value` list shared by `scores.txt` and `scores.json`.
pub fn summary(report: &Report) -> Vec<(String, f64)> {
    let s = &report.scores;
    let mut out: Vec<(String, Option<f64>)> = vec![
        ("mAP".into(), Some(s.map)),
        ("mAUROC".into(), Some(s.mauroc)),
        ("mF1".into(), Some(s.mf1)),
        ("microF1".into(), Some(s.micro_f1)),
        ("mECE".into(), Some(s.mece)),
    ];
    // A task without groups has no group keys at all (Task 3, most custom tasks).
    if s.classes.iter().any(|c| c.group.is_some()) {
        out.push(("mAP_head".into(), s.map_head));
        out.push(("mAP_medium".into(), s.map_medium));
        out.push(("mAP_tail".into(), s.map_tail));
        out.push(("mAP_group_avg".into(), s.map_group_avg));
    }
    if let Some(iv) = &report.intervals {
        out.push(("mAP_ci_low".into(), Some(iv.map.low)));
        out.push(("mAP_ci_high".into(), Some(iv.map.high)));
        out.push(("mAUROC_ci_low".into(), Some(iv.mauroc.low)));
        out.push(("mAUROC_ci_high".into(), Some(iv.mauroc.high)));
    }
    for (key, class) in fnr_keys(&s.classes) {
        out.push((key, class.fnr));
    }
    out.into_iter()
        .filter_map(|(k, v)| v.filter(|x| x.is_finite()).map(|x| (k, x)))
        .collect()
}

/// The FNR key of each critical finding, in label order, unique within the task.
fn fnr_keys(classes: &[ClassMetrics]) -> Vec<(String, &ClassMetrics)> {
    let mut used: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for class in classes.iter().filter(|c| c.critical) {
        let base = format!("FNR_{}", safe_key(&class.label));
        let mut key = base.clone();
        let mut n = 2;
        while used.contains(&key) {
            key = format!("{base}_{n}");
            n += 1;
        }
        used.push(key.clone());
        out.push((key, class));
    }
    out
}

/// `label` reduced to ASCII letters, digits and single `_` separators (see module docs).
pub fn safe_key(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for ch in label.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("label");
    }
    out
}

/// A number in shortest round-trip decimal form, never with an exponent.
fn num(x: f64) -> String {
    format!("{x}")
}

/// `scores.txt`: one `key: value` line per summary entry (CodaLab v1.5 format).
pub fn scores_txt(report: &Report) -> String {
    let mut out = String::new();
    for (k, v) in summary(report) {
        let _ = writeln!(out, "{k}: {}", num(v));
    }
    out
}

/// `scores.json`: one flat object `key -> number` in summary order (Codabench format).
pub fn scores_json(report: &Report) -> String {
    let mut out = String::from("{\n");
    let entries = summary(report);
    for (i, (k, v)) in entries.iter().enumerate() {
        let number = serde_json::Number::from_f64(*v).expect("summary values are finite");
        let sep = if i + 1 < entries.len() { "," } else { "" };
        let key = serde_json::to_string(k).expect("a string always serializes");
        let _ = writeln!(out, "  {key}: {number}{sep}");
    }
    out.push_str("}\n");
    out
}

/// A cell that a spreadsheet will show as text, never run as a formula.
pub fn csv_safe(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn opt_num(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite()).map(num).unwrap_or_default()
}

fn interval_cells(iv: Option<&Option<Interval>>) -> [String; 2] {
    match iv.copied().flatten() {
        Some(i) => [opt_num(Some(i.low)), opt_num(Some(i.high))],
        None => [String::new(), String::new()],
    }
}

/// `per_class.csv`: one row per label, empty cells where a value is undefined.
pub fn per_class_csv(report: &Report) -> String {
    let mut header = vec![
        "label",
        "group",
        "positives",
        "negatives",
        "AP",
        "AUROC",
        "F1",
        "ECE",
        "FNR",
    ];
    if report.intervals.is_some() {
        header.extend(["AP_ci_low", "AP_ci_high", "AUROC_ci_low", "AUROC_ci_high"]);
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(&header).expect("writing to memory");
    for (i, c) in report.scores.classes.iter().enumerate() {
        let mut row = vec![
            csv_safe(&c.label),
            c.group.map(|g| g.name().to_string()).unwrap_or_default(),
            c.positives.to_string(),
            c.negatives.to_string(),
            opt_num(c.ap),
            opt_num(c.auroc),
            opt_num(c.f1),
            opt_num(c.ece),
            opt_num(c.fnr),
        ];
        if let Some(iv) = &report.intervals {
            row.extend(interval_cells(iv.class_ap.get(i)));
            row.extend(interval_cells(iv.class_auroc.get(i)));
        }
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 strings")
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A number rounded for people (4 decimals); the files above carry the full precision.
fn show(x: Option<f64>) -> String {
    match x.filter(|v| v.is_finite()) {
        Some(v) => format!("{v:.4}"),
        None => "&ndash;".to_string(),
    }
}

fn show_interval(iv: Option<Interval>) -> String {
    match iv {
        Some(i) => format!("{} &ndash; {}", show(Some(i.low)), show(Some(i.high))),
        None => String::new(),
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:1.5rem;color:#1b1f24;background:#fff}h1{font-size:1.4rem}h2{font-size:1.1rem;\
margin-top:1.6rem}table{border-collapse:collapse;font-size:.9rem}th,td{border:1px solid #d0d7de;\
padding:.25rem .5rem;text-align:right}th{background:#f6f8fa}td.l,th.l{text-align:left}\
tr.undefined td{color:#8c959f}.crit{color:#b42318;font-weight:600}.warn{color:#9a6700}\
.note{color:#57606a;font-size:.85rem}";

/// `detailed_results.html`: summary, per-class table, undefined labels and warnings in one
/// page with inline CSS only (no scripts, no external assets; every string escaped).
pub fn detailed_html(report: &Report) -> String {
    let s = &report.scores;
    let title = html_escape(&s.task);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Detailed results: {title}</title><style>{STYLE}</style></head><body>\n\
         <h1>Detailed results: {title}</h1>\n<p>{} images, {} labels ({} undefined).",
        s.images,
        s.classes.len(),
        s.undefined.len()
    );
    if let Some(iv) = &report.intervals {
        let _ = write!(
            h,
            " 95&nbsp;% percentile bootstrap intervals from {} replicates (seed {}).",
            iv.replicates, iv.seed
        );
    }
    h.push_str(
        "</p>\n<h2>Summary</h2>\n<table><tr><th class=\"l\">metric</th><th>value</th></tr>\n",
    );
    for (k, v) in summary(report) {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
            html_escape(&k),
            show(Some(v))
        );
    }
    h.push_str(
        "</table>\n<h2>Per class</h2>\n<table><tr><th class=\"l\">label</th>\
        <th class=\"l\">group</th><th>positives</th><th>negatives</th><th>AP</th>",
    );
    if report.intervals.is_some() {
        h.push_str("<th>AP 95&nbsp;% CI</th>");
    }
    h.push_str("<th>AUROC</th>");
    if report.intervals.is_some() {
        h.push_str("<th>AUROC 95&nbsp;% CI</th>");
    }
    h.push_str("<th>F1</th><th>ECE</th><th>FNR</th></tr>\n");
    for (i, c) in s.classes.iter().enumerate() {
        let class_attr = if c.defined() {
            ""
        } else {
            " class=\"undefined\""
        };
        let mark = if c.critical {
            " <span class=\"crit\" title=\"critical finding\">(critical)</span>"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<tr{class_attr}><td class=\"l\">{}{mark}</td><td class=\"l\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td>",
            html_escape(&c.label),
            c.group.map(|g| g.name()).unwrap_or(""),
            c.positives,
            c.negatives,
            show(c.ap)
        );
        let ci = |v: Option<&Option<Interval>>| show_interval(v.copied().flatten());
        if let Some(iv) = &report.intervals {
            let _ = write!(h, "<td>{}</td>", ci(iv.class_ap.get(i)));
        }
        let _ = write!(h, "<td>{}</td>", show(c.auroc));
        if let Some(iv) = &report.intervals {
            let _ = write!(h, "<td>{}</td>", ci(iv.class_auroc.get(i)));
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            show(c.f1),
            show(c.ece),
            show(c.fnr)
        );
    }
    h.push_str("</table>\n");
    h.push_str("<h2>Undefined labels</h2>\n");
    if s.undefined.is_empty() {
        h.push_str("<p>None: every label has positives and negatives in the reference.</p>\n");
    } else {
        h.push_str(
            "<p>These labels have no positives or no negatives in the reference; they are left \
             out of every mean and reported as undefined, never as 0.</p>\n<ul>\n",
        );
        for l in &s.undefined {
            let _ = writeln!(h, "<li>{}</li>", html_escape(l));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Warnings</h2>\n");
    if report.warnings.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<ul>\n");
        for w in &report.warnings {
            let _ = writeln!(h, "<li class=\"warn\">{}</li>", html_escape(w));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(
        "<p class=\"note\">Values are rounded to 4 decimals here; scores.json, scores.txt and \
         per_class.csv carry full precision. A prediction counts as positive when p &gt; 0.5.\
         </p>\n</body></html>\n",
    );
    h
}

/// The hidden temporary name `name` is staged under before its rename.
fn staging_path(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to the staging file of `dir/name` (not flushed: see the module docs).
fn stage(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    // Codabench's worker writes OUTPUT/metadata itself and fails the run if we did.
    assert_ne!(name, "metadata", "never write OUTPUT/metadata");
    let tmp = staging_path(dir, name);
    let result = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ScoringError::Io(format!("cannot write {}: {e}", dir.join(name).display()))
    })
}

/// Moves the staged file of `dir/name` into place.
fn commit(dir: &Path, name: &str) -> Result<()> {
    std::fs::rename(staging_path(dir, name), dir.join(name))
        .map_err(|e| ScoringError::Io(format!("cannot write {}: {e}", dir.join(name).display())))
}

/// Writes `bytes` to `dir/name` atomically: a hidden temporary file, then a rename.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    stage(dir, name, bytes)?;
    commit(dir, name)
}

/// Renders every file, stages them all in `dir` (created if missing), then renames them into
/// place: a failed write (a full disk, say) leaves no partial set of result files behind.
pub fn write_all(report: &Report, dir: &Path) -> Result<()> {
    let files = [
        scores_txt(report),
        scores_json(report),
        per_class_csv(report),
        detailed_html(report),
    ];
    std::fs::create_dir_all(dir)
        .map_err(|e| ScoringError::Io(format!("cannot create {}: {e}", dir.display())))?;
    for (i, (name, text)) in OUTPUT_FILES.iter().zip(files.iter()).enumerate() {
        if let Err(e) = stage(dir, name, text.as_bytes()) {
            for staged in &OUTPUT_FILES[..i] {
                let _ = std::fs::remove_file(staging_path(dir, staged));
            }
            return Err(e);
        }
    }
    for name in OUTPUT_FILES {
        commit(dir, name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Group;

    fn class(
        label: &str,
        group: Option<Group>,
        pos: u64,
        neg: u64,
        critical: bool,
    ) -> ClassMetrics {
        let defined = pos > 0 && neg > 0;
        let v = |x: f64| if defined { Some(x) } else { None };
        ClassMetrics {
            label: label.into(),
            group,
            positives: pos,
            negatives: neg,
            ap: v(0.1 + 0.2),
            auroc: v(2.0 / 3.0),
            f1: v(0.5),
            ece: v(1e-20),
            tp: 1,
            fp: 2,
            fn_: 3,
            tn: 4,
            critical,
            fnr: if pos > 0 { Some(0.75) } else { None },
        }
    }

    fn report(groups: bool, intervals: bool) -> Report {
        let g = |x: Group| groups.then_some(x);
        let m = |x: f64| groups.then_some(x);
        let classes = vec![
            class("Edema", g(Group::Head), 10, 90, false),
            class("Pulmonary Embolism", g(Group::Medium), 3, 97, true),
            class("<b>Round(ed)</b> & \"x\"", g(Group::Tail), 0, 100, true),
            class("=HYPERLINK(\"x\")", g(Group::Tail), 5, 95, true),
        ];
        let n = classes.len();
        Report {
            scores: Scores {
                task: "T <1>".into(),
                images: 100,
                classes,
                map: 0.1 + 0.2,
                mauroc: 2.0 / 3.0,
                mf1: 0.5,
                micro_f1: 1.0,
                mece: 1e-20,
                map_head: m(0.3),
                map_medium: m(0.2),
                map_tail: m(0.1),
                map_group_avg: m(0.2),
                undefined: vec!["<b>Round(ed)</b> & \"x\"".into()],
            },
            intervals: intervals.then(|| Intervals {
                replicates: 1000,
                seed: 7,
                map: Interval {
                    low: 0.25,
                    high: 0.35,
                },
                mauroc: Interval {
                    low: 0.6,
                    high: 0.7,
                },
                class_ap: vec![
                    Some(Interval {
                        low: 0.1,
                        high: 0.2
                    });
                    n
                ],
                class_auroc: vec![None; n],
            }),
            warnings: vec!["column \"<Bulla>\" ignored".into()],
        }
    }

    #[test]
    fn summary_keys_follow_the_contract_in_order() {
        let keys: Vec<String> = summary(&report(true, true))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            keys,
            [
                "mAP",
                "mAUROC",
                "mF1",
                "microF1",
                "mECE",
                "mAP_head",
                "mAP_medium",
                "mAP_tail",
                "mAP_group_avg",
                "mAP_ci_low",
                "mAP_ci_high",
                "mAUROC_ci_low",
                "mAUROC_ci_high",
                "FNR_Pulmonary_Embolism",
                "FNR_HYPERLINK_x"
            ]
        );
        let plain: Vec<String> = summary(&report(false, false))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            plain,
            [
                "mAP",
                "mAUROC",
                "mF1",
                "microF1",
                "mECE",
                "FNR_Pulmonary_Embolism",
                "FNR_HYPERLINK_x"
            ]
        );
    }

    #[test]
    fn safe_keys_and_collisions() {
        assert_eq!(safe_key("Round(ed) Atelectasis"), "Round_ed_Atelectasis");
        assert_eq!(safe_key("a: b"), "a_b");
        assert_eq!(safe_key("::"), "label");
        let classes = vec![
            class("A b", None, 1, 1, true),
            class("A-b", None, 1, 1, true),
            class("A:b", None, 1, 1, true),
        ];
        let keys: Vec<String> = fnr_keys(&classes).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["FNR_A_b", "FNR_A_b_2", "FNR_A_b_3"]);
    }

    #[test]
    fn scores_txt_lines_split_in_two_and_round_trip() {
        let r = report(true, true);
        let txt = scores_txt(&r);
        for (line, (k, v)) in txt.lines().zip(summary(&r)) {
            let parts: Vec<&str> = line.split(':').collect();
            assert_eq!(parts.len(), 2, "{line}");
            assert_eq!(parts[0], k);
            let parsed: f64 = parts[1].trim().parse().unwrap();
            assert_eq!(parsed.to_bits(), v.to_bits(), "{line}");
            assert!(
                !parts[1].contains('e'),
                "no exponent for YAML readers: {line}"
            );
        }
        assert!(txt.contains("mAP: 0.30000000000000004\n"));
    }

    /// The number text after `"key": ` in `json`, parsed by Rust (correctly rounded; serde_json's
    /// default float parser may be one ulp off, which would hide or fake a precision loss).
    fn raw_number(json: &str, key: &str) -> f64 {
        let start = json.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4;
        let token: String = json[start..]
            .chars()
            .take_while(|c| !matches!(c, ',' | '\n' | '}'))
            .collect();
        token.trim().parse().unwrap()
    }

    #[test]
    fn scores_json_is_flat_and_exact() {
        let r = report(true, true);
        let json = scores_json(&r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), summary(&r).len());
        assert!(obj.values().all(serde_json::Value::is_number));
        for (k, x) in summary(&r) {
            assert_eq!(raw_number(&json, &k).to_bits(), x.to_bits(), "{k}");
        }
        assert_eq!(raw_number(&json, "mECE"), 1e-20);
    }

    #[test]
    fn per_class_csv_has_empty_cells_for_undefined_and_defuses_formulas() {
        let csv = per_class_csv(&report(true, true));
        let mut rdr = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            header,
            [
                "label",
                "group",
                "positives",
                "negatives",
                "AP",
                "AUROC",
                "F1",
                "ECE",
                "FNR",
                "AP_ci_low",
                "AP_ci_high",
                "AUROC_ci_low",
                "AUROC_ci_high"
            ]
        );
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(&rows[0][4], "0.30000000000000004");
        assert_eq!(&rows[2][0], "<b>Round(ed)</b> & \"x\"");
        assert_eq!(&rows[2][1], "tail");
        assert_eq!(&rows[2][4], "", "undefined AP is empty, not 0");
        assert_eq!(&rows[2][8], "", "FNR without positives is empty");
        assert_eq!(&rows[3][0], "'=HYPERLINK(\"x\")");
        assert_eq!(&rows[1][11], "");
        let plain = per_class_csv(&report(false, false));
        assert!(plain.starts_with("label,group,positives,negatives,AP,AUROC,F1,ECE,FNR\r\n"));
    }

    #[test]
    fn html_is_escaped_and_script_free() {
        let html = detailed_html(&report(true, true));
        assert!(!html.to_lowercase().contains("<script"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;b&gt;Round(ed)&lt;/b&gt; &amp; &quot;x&quot;"));
        assert!(html.contains("T &lt;1&gt;"));
        assert!(html.contains("column &quot;&lt;Bulla&gt;&quot; ignored"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("1000 replicates"));
    }

    #[test]
    fn a_failed_write_leaves_no_result_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the third file would be staged makes that write fail.
        let blocker = staging_path(dir.path(), "per_class.csv");
        std::fs::create_dir(&blocker).unwrap();
        let err = write_all(&report(true, false), dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("cannot write "), "{err}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [blocker.file_name().unwrap().to_str().unwrap()]);
    }

    #[test]
    fn write_all_writes_four_files_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_all(&report(true, false), &out).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "detailed_results.html",
                "per_class.csv",
                "scores.json",
                "scores.txt"
            ]
        );
    }
}
