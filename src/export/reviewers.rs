//! Exports for reviewers: final rankings (CSV, JSON), per-class results of the ranked
//! submissions, every submission of a phase, and a LaTeX table shaped like Tables 4-7 of
//! the CXR-LT 2024 overview paper. Text cells go through [`csv_cell`] (formula injection);
//! numbers are written as plain numbers with full precision (JSON numbers in JSON), so a
//! negative or tiny value is never turned into text.

use std::collections::HashSet;
use std::fmt::Write;

use crate::db::leaderboard::{Leaderboard, LeaderboardRow};
use crate::db::submissions::{ClassRow, SubmissionView};
use crate::domain::Phase;

use super::{csv_cell, csv_number};

/// The final rankings as JSON: phase facts, then every row (baselines with `rank: null`),
/// metrics as numbers (`null` when undefined).
pub fn rankings_json(phase: &Phase, board: &Leaderboard) -> serde_json::Value {
    serde_json::json!({
        "phase": phase.id,
        "phase_name": phase.name,
        "task": phase.task_id,
        "task_name": phase.task_name,
        "visibility": board.visibility,
        "rule": board.rule,
        "reference_version": board.reference_version,
        "demo_reference": board.demo_reference,
        "ranking": "mAP descending, then mAUROC descending, then the earlier submission",
        "generated_at": crate::domain::ts(chrono::Utc::now()),
        "rows": board.rows,
    })
}

/// Per-class results of the ranked submissions, one line per (submission, label), in rank
/// order.
pub fn per_class_csv(rows: &[(&LeaderboardRow, Vec<ClassRow>)]) -> String {
    let mut out = String::from(
        "rank,team,submission,label,group,critical,positives,negatives,AP,AP_ci_low,\
         AP_ci_high,AUROC,F1,ECE,FNR\n",
    );
    for (row, classes) in rows {
        for c in classes {
            let numbers = [c.ap, c.ap_ci_low, c.ap_ci_high, c.auroc, c.f1, c.ece, c.fnr]
                .map(csv_number)
                .join(",");
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                row.rank.map(|r| r.to_string()).unwrap_or_default(),
                csv_cell(&row.team),
                csv_cell(&row.submission),
                csv_cell(&c.label),
                csv_cell(c.group.as_deref().unwrap_or("")),
                c.critical,
                c.positives,
                c.negatives,
                numbers,
            );
        }
    }
    out
}

/// Every submission of a phase, oldest first, with its status, error and scores against the
/// active reference version.
pub fn submissions_csv(subs: &[SubmissionView], refunded: &HashSet<String>) -> String {
    let mut out = String::from(
        "submission,team,created_at,status,baseline,refunded,selected,file_name,file_sha256,\
         description,error,mAP,mAP_ci_low,mAP_ci_high,mAUROC,mAUROC_ci_low,mAUROC_ci_high,mF1,\
         microF1,mECE,mAP_head,mAP_medium,mAP_tail\n",
    );
    for s in subs {
        let numbers = match &s.scores {
            Some(x) => [
                x.map,
                x.map_ci_low,
                x.map_ci_high,
                x.mauroc,
                x.mauroc_ci_low,
                x.mauroc_ci_high,
                x.mf1,
                x.micro_f1,
                x.mece,
                x.map_head,
                x.map_medium,
                x.map_tail,
            ]
            .map(csv_number)
            .join(","),
            None => ",".repeat(11),
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_cell(&s.id),
            csv_cell(&s.team),
            csv_cell(&s.created_at),
            csv_cell(&s.status),
            s.baseline,
            refunded.contains(&s.id),
            s.selected,
            csv_cell(&s.file_name),
            csv_cell(&s.file_sha256),
            csv_cell(&s.description),
            csv_cell(s.error.as_deref().unwrap_or("")),
            numbers,
        );
    }
    out
}

/// Escapes text for a LaTeX document body (team names are free text).
pub fn latex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Competition ranks ("1224") of `values` where larger is better (or smaller, when
/// `lower_is_better`); `None` values get no rank.
pub fn metric_ranks(values: &[Option<f64>], lower_is_better: bool) -> Vec<Option<usize>> {
    values
        .iter()
        .map(|v| {
            let v = (*v)?;
            let better = values
                .iter()
                .flatten()
                .filter(|w| if lower_is_better { **w < v } else { **w > v })
                .count();
            Some(better + 1)
        })
        .collect()
}

fn fixed4(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "--".into())
}

/// A LaTeX table shaped like Tables 4-7 of the CXR-LT 2024 paper: Ranking, Team, mAP (the
/// ranking metric), then mAUROC, mF1 and mECE each with its own rank among the ranked teams
/// in brackets (`0.8421 [2]`; lower is better for mECE). Baselines are left out. Needs
/// `\usepackage{booktabs}`.
pub fn rankings_latex(phase: &Phase, board: &Leaderboard) -> String {
    let ranked: Vec<&LeaderboardRow> = board.rows.iter().filter(|r| r.rank.is_some()).collect();
    let column = |f: fn(&LeaderboardRow) -> Option<f64>| -> Vec<Option<f64>> {
        ranked.iter().map(|r| f(r)).collect()
    };
    let aux = [
        (column(|r| r.scores.mauroc), false),
        (column(|r| r.scores.mf1), false),
        (column(|r| r.scores.mece), true),
    ]
    .map(|(values, lower)| {
        let ranks = metric_ranks(&values, lower);
        values
            .into_iter()
            .zip(ranks)
            .map(|(v, rank)| match rank {
                Some(rank) => format!("{} [{rank}]", fixed4(v)),
                None => "--".into(),
            })
            .collect::<Vec<_>>()
    });
    let title = latex_escape(&format!("{} -- {}", phase.task_name, phase.name));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "% Tailboard export of phase {} (reference version {}{}); needs \\usepackage{{booktabs}}",
        phase.id,
        board
            .reference_version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into()),
        if board.demo_reference {
            ", SYNTHETIC DEMO LABELS"
        } else {
            ""
        },
    );
    out.push_str("\\begin{table}[t]\n\\centering\n");
    let _ = writeln!(
        out,
        "\\caption{{Final ranking, {title}. Teams are ranked by mAP; the rank of each \
         auxiliary metric is given in brackets.}}"
    );
    let _ = writeln!(out, "\\label{{tab:{}}}", phase.id);
    out.push_str("\\begin{tabular}{clcccc}\n\\toprule\n");
    out.push_str("Ranking & Team & mAP & mAUROC & mF1 & mECE \\\\\n\\midrule\n");
    for (i, row) in ranked.iter().enumerate() {
        let _ = writeln!(
            out,
            "{} & {} & {} & {} & {} & {} \\\\",
            row.rank.expect("ranked rows only"),
            latex_escape(&row.team),
            fixed4(row.scores.map),
            aux[0][i],
            aux[1][i],
            aux[2][i],
        );
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latex_special_characters_are_escaped() {
        assert_eq!(
            latex_escape(r"A&B_50% {x} #1 $y ~z ^w \end"),
            r"A\&B\_50\% \{x\} \#1 \$y \textasciitilde{}z \textasciicircum{}w \textbackslash{}end"
        );
        assert_eq!(
            latex_escape("<b>|"),
            r"\textless{}b\textgreater{}\textbar{}"
        );
    }

    #[test]
    fn metric_ranks_share_ties_and_skip_undefined() {
        let r = metric_ranks(&[Some(0.9), Some(0.7), Some(0.9), None, Some(0.8)], false);
        assert_eq!(r, vec![Some(1), Some(4), Some(1), None, Some(3)]);
        let r = metric_ranks(&[Some(0.2), Some(0.1), Some(0.3)], true);
        assert_eq!(r, vec![Some(2), Some(1), Some(3)]);
    }
}
