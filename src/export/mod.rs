//! Files for download: leaderboard CSV and the sample submission. Every CSV cell that a
//! spreadsheet could execute is neutralised; numbers are written as plain numbers with full
//! precision so reviewers can compute with them.

pub mod reviewers;

use std::fmt::Write;

use crate::db::leaderboard::LeaderboardRow;

/// One CSV cell from untrusted text: quoted when needed, and prefixed with `'` when it
/// starts with a character that spreadsheets treat as a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return).
pub fn csv_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        quoted_cell(&format!("'{text}"))
    } else {
        quoted_cell(text)
    }
}

/// One CSV cell holding `text` exactly: quoted when it holds a separator, quote or line
/// break, never altered otherwise.
fn quoted_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A number cell: shortest round-trip decimal, empty when absent.
pub fn csv_number(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{v}"))
        .unwrap_or_default()
}

/// The leaderboard as CSV (same rows and order as the JSON).
pub fn leaderboard_csv(rows: &[LeaderboardRow]) -> String {
    let mut out = String::from(
        "rank,team,submission,created_at,baseline,entries,mAP,mAP_ci_low,mAP_ci_high,mAUROC,\
         mAUROC_ci_low,mAUROC_ci_high,mF1,microF1,mECE,mAP_head,mAP_medium,mAP_tail,\
         mAP_group_avg,file_sha256\n",
    );
    for r in rows {
        let s = &r.scores;
        let numbers = [
            s.map,
            s.map_ci_low,
            s.map_ci_high,
            s.mauroc,
            s.mauroc_ci_low,
            s.mauroc_ci_high,
            s.mf1,
            s.micro_f1,
            s.mece,
            s.map_head,
            s.map_medium,
            s.map_tail,
            s.map_group_avg,
        ]
        .map(csv_number)
        .join(",");
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            r.rank.map(|x| x.to_string()).unwrap_or_default(),
            csv_cell(&r.team),
            csv_cell(&r.submission),
            csv_cell(&r.created_at),
            r.baseline,
            r.entries,
            numbers,
            csv_cell(&r.file_sha256),
        );
    }
    out
}

/// A valid submission for a reference: header, then every id with 0.5 for every label. The
/// ids are written exactly (quoted when needed, never given the formula guard's `'`), since
/// the file must validate against the very reference they come from; they are the
/// organizer's, not a team's, text.
pub fn sample_submission(reference: &scoring::reference::Reference) -> String {
    let labels = &reference.task.labels;
    let mut out = String::with_capacity(reference.len() * (40 + 4 * labels.len()));
    out.push_str("dicom_id");
    for label in labels {
        out.push(',');
        out.push_str(&csv_cell(label));
    }
    out.push('\n');
    let row_tail = ",0.5".repeat(labels.len());
    for id in &reference.ids {
        out.push_str(&quoted_cell(id));
        out.push_str(&row_tail);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("+x"), "'+x");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("MedAI"), "MedAI");
    }

    #[test]
    fn the_sample_submission_validates_even_with_odd_ids() {
        let task = scoring::Task::builtin(3).unwrap();
        let ids: Vec<String> = ["-neg", "=1+1", "@x", "a,b", "say \"hi\"", "plain"]
            .map(String::from)
            .to_vec();
        let labels = vec![vec![0, 1, 0, 1, 0, 1]; task.labels.len()];
        let reference = scoring::reference::Reference::new(task.clone(), ids, labels, None);
        let sample = sample_submission(&reference);
        let predictions = scoring::submission::validate_upload(
            sample.as_bytes(),
            &task,
            Some(&reference),
            &scoring::submission::Limits::default(),
        )
        .unwrap();
        assert_eq!(predictions.ids, reference.ids);
        assert!(sample.contains("\n-neg,0.5"), "{sample}");
    }

    #[test]
    fn numbers_keep_full_precision() {
        assert_eq!(csv_number(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(csv_number(None), "");
        assert_eq!(csv_number(Some(f64::NAN)), "");
    }
}
