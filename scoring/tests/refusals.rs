//! Every refusal rule of spec section 4, one malformed upload each, with its exact one-line
//! message; and the unusual-but-valid uploads that must be accepted. The table of uploads
//! lives in `scoring::testcases` so that the scoring program and the server test the same
//! inputs.

use scoring::submission::{parse_predictions, validate_upload, Limits};
use scoring::testcases::{self, Expect};
use scoring::ScoringError;

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
