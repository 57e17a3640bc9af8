//! Parity with scikit-learn, torchmetrics and numpy.
//!
//! The expected values come from `fixtures/parity.json`, written by `fixtures/gen_fixtures.py`
//! with scikit-learn 1.9 and torchmetrics 1.9 (regenerate with
//! `/opt/torchenv/bin/python scoring/tests/fixtures/gen_fixtures.py`). Every per-class and
//! macro value must agree to 1e-9.

use std::sync::OnceLock;

use serde_json::Value;

use scoring::bootstrap::{self, BootstrapOptions, Interval, Sampler};
use scoring::metrics::{self, RankedClass, Scores};
use scoring::reference::Reference;
use scoring::rng::Rng;
use scoring::submission::Predictions;
use scoring::task::{Group, ResampleUnit, Task};
use scoring::ScoringError;

const TOLERANCE: f64 = 1e-9;

fn fixtures() -> &'static Value {
    static FIXTURES: OnceLock<Value> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parity.json");
        let text = std::fs::read_to_string(path).expect("parity.json is committed");
        serde_json::from_str(&text).expect("parity.json is valid JSON")
    })
}

fn case(name: &str) -> &'static Value {
    fixtures()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("fixture case {name}"))
}

/// One test case: reference labels and predictions, both per class in task label order.
struct Data {
    task: Task,
    truth: Vec<Vec<u8>>,
    scores: Vec<Vec<f64>>,
}

impl Data {
    fn rows(&self) -> usize {
        self.truth[0].len()
    }

    fn reference(&self) -> Reference {
        let ids: Vec<String> = (0..self.rows()).map(|r| format!("img{r:06}")).collect();
        Reference::new(self.task.clone(), ids, self.truth.clone(), None)
    }

    fn predictions(&self) -> Predictions {
        Predictions {
            ids: (0..self.rows()).map(|r| format!("img{r:06}")).collect(),
            scores: self.scores.clone(),
            warnings: vec![],
        }
    }

    fn score(&self) -> Result<Scores, ScoringError> {
        metrics::score(&self.reference(), &self.predictions())
    }

    /// The same data with rows reordered by `rows` and labels by `labels`.
    fn permuted(&self, rows: &[usize], labels: &[usize]) -> Data {
        let mut task = self.task.clone();
        task.labels = labels
            .iter()
            .map(|&c| self.task.labels[c].clone())
            .collect();
        task.groups = labels.iter().map(|&c| self.task.groups[c]).collect();
        task.train_counts = self
            .task
            .train_counts
            .as_ref()
            .map(|t| labels.iter().map(|&c| t[c]).collect());
        Data {
            task,
            truth: labels
                .iter()
                .map(|&c| rows.iter().map(|&r| self.truth[c][r]).collect())
                .collect(),
            scores: labels
                .iter()
                .map(|&c| rows.iter().map(|&r| self.scores[c][r]).collect())
                .collect(),
        }
    }
}

fn group(v: &Value) -> Option<Group> {
    match v.as_str()? {
        "head" => Some(Group::Head),
        "medium" => Some(Group::Medium),
        "tail" => Some(Group::Tail),
        other => panic!("group {other}"),
    }
}

/// Exact floats, stored as IEEE bit patterns (see `bits` in gen_fixtures.py).
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| f64::from_bits(b.as_u64().unwrap()))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn custom_task(case: &Value) -> Task {
    let labels = strings(&case["labels"]);
    let groups = match case["groups"].as_array() {
        Some(g) => g.iter().map(group).collect(),
        None => vec![None; labels.len()],
    };
    Task {
        name: case["name"].as_str().unwrap().to_string(),
        labels,
        groups,
        train_counts: None,
        critical: strings(&case["critical"]),
        resample: ResampleUnit::Image,
        tolerated_extra: vec![],
    }
}

/// A case whose inputs are stored in the fixture.
fn explicit(name: &str) -> Data {
    let case = case(name);
    let column = |v: &Value| -> Vec<u8> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|y| y.as_u64().unwrap() as u8)
            .collect()
    };
    Data {
        task: custom_task(case),
        truth: case["truth"]
            .as_array()
            .unwrap()
            .iter()
            .map(column)
            .collect(),
        scores: case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect(),
    }
}

/// The SplitMix64 finalizer, as `mix` in gen_fixtures.py.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn hash(seed: u64, label: usize, row: usize, stream: u64) -> u64 {
    let counter = ((label as u64) << 20) + row as u64;
    mix(seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(counter.wrapping_mul(4))
        .wrapping_add(stream))
}

/// A case built from its recipe exactly as `generated_column` in gen_fixtures.py does.
fn generated(name: &str, builtin: u8) -> Data {
    let case = case(name);
    let task = Task::builtin(builtin).unwrap();
    assert_eq!(task.labels, strings(&case["labels"]), "label order");
    let groups: Vec<Option<Group>> = case["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(group)
        .collect();
    assert_eq!(task.groups, groups, "groups from training counts");
    assert_eq!(
        task.critical.len(),
        case["critical"].as_array().unwrap().len()
    );
    let rows = case["rows"].as_u64().unwrap() as usize;
    let seed = case["seed"].as_u64().unwrap();
    let (mut truth, mut scores) = (vec![], vec![]);
    for c in 0..task.labels.len() {
        let threshold = case["thresholds"][c].as_u64().unwrap();
        let mode = case["modes"][c].as_u64().unwrap();
        let (mut y, mut s) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for r in 0..rows {
            let positive = hash(seed, c, r, 0) >> 40 < threshold;
            let a = hash(seed, c, r, 1);
            let p = if mode == 2 {
                let u = (a >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                if positive {
                    u * 0.75 + 0.25
                } else {
                    u * 0.75
                }
            } else {
                let n = (a >> 54) as i64;
                let mut k = if positive {
                    (250 + n * 3 / 4).min(1000)
                } else {
                    n * 3 / 4
                };
                if mode == 1 {
                    k = k / 10 * 10;
                }
                k as f64 / 1000.0
            };
            y.push(u8::from(positive));
            s.push(p);
        }
        let checksum = &case["checksum"];
        assert_eq!(
            y.iter().map(|&v| v as u64).sum::<u64>(),
            checksum["positives"][c].as_u64().unwrap(),
            "positives of generated label {c}"
        );
        let sum: f64 = s.iter().sum();
        let expected = checksum["score_sums"][c].as_f64().unwrap();
        assert!((sum - expected).abs() < 1e-6, "score sum of label {c}");
        truth.push(y);
        scores.push(s);
    }
    Data {
        task,
        truth,
        scores,
    }
}

/// Largest difference seen, so a test can report how close the agreement is.
#[derive(Default)]
struct Compare {
    worst: f64,
}

impl Compare {
    fn value(&mut self, what: &str, got: Option<f64>, expected: &Value) {
        match (got, expected.as_f64()) {
            (None, None) => {}
            (Some(g), Some(e)) => {
                let d = (g - e).abs();
                self.worst = self.worst.max(d);
                assert!(d <= TOLERANCE, "{what}: got {g}, expected {e} (diff {d:e})");
            }
            _ => panic!("{what}: got {got:?}, expected {expected}"),
        }
    }

    fn scores(&mut self, name: &str, scores: &Scores, expected: &Value) {
        let classes = expected["classes"].as_array().unwrap();
        assert_eq!(scores.classes.len(), classes.len());
        for (c, e) in scores.classes.iter().zip(classes) {
            let what = |m: &str| format!("{name} / {} / {m}", c.label);
            for (m, got) in [
                ("ap", c.ap),
                ("auroc", c.auroc),
                ("f1", c.f1),
                ("ece", c.ece),
                ("fnr", c.fnr),
            ] {
                self.value(&what(m), got, &e[m]);
            }
            for (m, got) in [
                ("positives", c.positives),
                ("negatives", c.negatives),
                ("tp", c.tp),
                ("fp", c.fp),
                ("fn", c.fn_),
                ("tn", c.tn),
            ] {
                assert_eq!(Some(got), e[m].as_u64(), "{}", what(m));
            }
        }
        let macros = &expected["macro"];
        let what = |m: &str| format!("{name} / {m}");
        for (m, got) in [
            ("mAP", Some(scores.map)),
            ("mAUROC", Some(scores.mauroc)),
            ("mF1", Some(scores.mf1)),
            ("microF1", Some(scores.micro_f1)),
            ("mECE", Some(scores.mece)),
        ] {
            self.value(&what(m), got, &macros[m]);
        }
        if macros.get("mAP_head").is_some() {
            for (m, got) in [
                ("mAP_head", scores.map_head),
                ("mAP_medium", scores.map_medium),
                ("mAP_tail", scores.map_tail),
                ("mAP_group_avg", scores.map_group_avg),
            ] {
                self.value(&what(m), got, &macros[m]);
            }
        } else {
            assert_eq!(scores.map_group_avg, None, "{name}: task without groups");
            assert_eq!(scores.map_head, None);
        }
        assert_eq!(scores.undefined, strings(&expected["undefined"]), "{name}");
    }
}

fn check_case(data: &Data, name: &str) -> f64 {
    let scores = data.score().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(scores.images, data.rows());
    let mut compare = Compare::default();
    compare.scores(name, &scores, &case(name)["expected"]);
    compare.worst
}

#[test]
fn tied_scores_match_sklearn_and_the_textbook_example() {
    let data = explicit("ties");
    let scores = data.score().unwrap();
    let a = &scores.classes[0];
    assert!((a.ap.unwrap() - 2.0 / 3.0).abs() < 1e-12, "AP {:?}", a.ap);
    assert!(
        (a.auroc.unwrap() - 0.75).abs() < 1e-12,
        "AUROC {:?}",
        a.auroc
    );
    // A constant prediction ranks nothing: AUROC one half, AP the prevalence.
    assert_eq!(scores.classes[1].auroc, Some(0.5));
    assert_eq!(scores.classes[1].ap, Some(0.5));
    check_case(&data, "ties");
}

#[test]
fn exact_half_zero_and_one_match() {
    let data = explicit("exact_values");
    check_case(&data, "exact_values");
    // 0.5 itself is a negative prediction, the next float above it a positive one.
    let rows = data.rows();
    let scores = data.score().unwrap();
    let predicted_positive = data.scores[0].iter().filter(|&&p| p > 0.5).count() as u64;
    let a = &scores.classes[0];
    assert_eq!(a.tp + a.fp, predicted_positive);
    assert_eq!(a.tp + a.fp + a.fn_ + a.tn, rows as u64);
}

#[test]
fn constant_predictions_match() {
    check_case(&explicit("constant"), "constant");
}

#[test]
fn ece_bin_boundaries_match_torchmetrics() {
    let boundaries = floats(&fixtures()["ece_boundaries"]);
    assert_eq!(boundaries, metrics::ECE_BOUNDARIES.to_vec());
    assert_eq!(boundaries[11], 0.7333333333333334);
    assert_ne!(boundaries[11], 11.0 / 15.0);
    check_case(&explicit("ece_edges"), "ece_edges");
}

#[test]
fn undefined_labels_are_named_and_left_out_of_every_mean() {
    let data = explicit("undefined");
    check_case(&data, "undefined");
    let scores = data.score().unwrap();
    assert_eq!(scores.undefined, ["no_positives", "no_negatives"]);
    for c in &scores.classes[1..3] {
        assert!(!c.defined());
        assert_eq!(
            (c.ap, c.auroc, c.f1, c.ece, c.fnr),
            (None, None, None, None, None)
        );
    }
    // Both tail labels are undefined: no tail mean, and the group average uses the others.
    assert_eq!(scores.map_tail, None);
    let (h, m) = (scores.map_head.unwrap(), scores.map_medium.unwrap());
    assert!((scores.map_group_avg.unwrap() - (h + m) / 2.0).abs() < 1e-15);
    check_case(&explicit("empty_group"), "empty_group");
}

#[test]
fn a_reference_with_every_label_undefined_is_refused() {
    let mut data = explicit("undefined");
    data.truth = vec![vec![0; 30], vec![0; 30], vec![1; 30], vec![0; 30]];
    match data.score() {
        Err(ScoringError::Reference(msg)) => assert!(msg.contains("undefined"), "{msg}"),
        other => panic!("expected a reference error, got {other:?}"),
    }
}

#[test]
fn predictions_outside_zero_one_or_misaligned_are_refused() {
    let mut data = explicit("random_small");
    data.scores[2][7] = f64::NAN;
    let err = data.score().unwrap_err().to_string();
    assert!(
        err.contains("\"img000007\"") && err.contains("\"L2\""),
        "{err}"
    );
    let data = explicit("random_small");
    let mut predictions = data.predictions();
    predictions.ids.swap(0, 1);
    let err = metrics::score(&data.reference(), &predictions).unwrap_err();
    assert!(err.to_string().contains("not aligned"), "{err}");
}

#[test]
fn small_random_case_with_groups_and_critical_labels_matches() {
    check_case(&explicit("random_small"), "random_small");
}

#[test]
fn task2_size_matches() {
    let worst = check_case(&generated("task2_size", 2), "task2_size");
    eprintln!("task2_size: largest difference {worst:e}");
}

#[test]
fn task1_size_matches() {
    let data = generated("task1_size", 1);
    assert_eq!((data.rows(), data.task.labels.len()), (78_946, 40));
    let worst = check_case(&data, "task1_size");
    eprintln!("task1_size: largest difference {worst:e}");
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed);
    for i in (1..n).rev() {
        v.swap(i, rng.below(i as u32 + 1) as usize);
    }
    v
}

#[test]
fn shuffled_rows_and_columns_give_the_same_results() {
    for (data, name) in [
        (explicit("random_small"), "random_small"),
        (explicit("ties"), "ties"),
        (generated("task2_size", 2), "task2_size"),
    ] {
        let rows = shuffled(data.rows(), 1);
        let labels = shuffled(data.task.labels.len(), 2);
        let moved = data.permuted(&rows, &labels);
        let (a, b) = (data.score().unwrap(), moved.score().unwrap());
        for (i, &c) in labels.iter().enumerate() {
            let (x, y) = (&a.classes[c], &b.classes[i]);
            assert_eq!(x.label, y.label);
            // Ranking metrics do not depend on row order at all, bit for bit.
            assert_eq!(
                (x.ap, x.auroc, x.f1, x.fnr),
                (y.ap, y.auroc, y.f1, y.fnr),
                "{name}"
            );
            assert_eq!((x.tp, x.fp, x.fn_, x.tn), (y.tp, y.fp, y.fn_, y.tn));
            let (e1, e2) = (x.ece.unwrap_or(0.0), y.ece.unwrap_or(0.0));
            assert!((e1 - e2).abs() < 1e-12, "{name} ECE {e1} vs {e2}");
        }
        assert!((a.map - b.map).abs() < 1e-12 && (a.mauroc - b.mauroc).abs() < 1e-12);
        assert!((a.mece - b.mece).abs() < 1e-12 && a.micro_f1 == b.micro_f1);
        let mut undefined = b.undefined.clone();
        undefined.sort();
        let mut expected = a.undefined.clone();
        expected.sort();
        assert_eq!(undefined, expected);
        // And both still match the Python values (which were computed in the original order).
        let mut compare = Compare::default();
        compare.scores(name, &a, &case(name)["expected"]);
    }
}

#[test]
fn weighted_pass_matches_sklearn_sample_weight() {
    let cases = fixtures()["weighted"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let mut compare = Compare::default();
    for (i, case) in cases.iter().enumerate() {
        let ints = |key: &str| -> Vec<u8> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u8)
                .collect()
        };
        let (truth, weights) = (ints("truth"), ints("weights"));
        let scores = floats(&case["scores"]);
        let total = weights.iter().map(|&w| w as u64).sum();
        let ranking = RankedClass::new(&truth, &scores)
            .weighted(&weights, total)
            .expect("both classes have weight");
        compare.value(&format!("weighted {i} AP"), Some(ranking.ap), &case["ap"]);
        compare.value(
            &format!("weighted {i} AUROC"),
            Some(ranking.auroc),
            &case["auroc"],
        );
    }
}

// ---- bootstrap ------------------------------------------------------------------------------

#[test]
fn percentiles_match_numpy_linear_method() {
    for case in fixtures()["percentiles"].as_array().unwrap() {
        let mut values = floats(&case["values"]);
        values.sort_unstable_by(f64::total_cmp);
        for (q, expected) in case["q"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["expected"].as_array().unwrap())
        {
            let got = bootstrap::percentile(&values, q.as_f64().unwrap());
            let expected = expected.as_f64().unwrap();
            assert!(
                (got - expected).abs() <= 1e-15,
                "n={} q={q}: {got} vs {expected}",
                values.len()
            );
        }
    }
}

fn options(replicates: usize, seed: u64) -> BootstrapOptions {
    BootstrapOptions {
        replicates,
        seed,
        ..BootstrapOptions::default()
    }
}

fn intervals_of(data: &Data, opts: BootstrapOptions) -> bootstrap::Intervals {
    let reference = data.reference();
    let sampler = Sampler::for_reference(&reference, opts);
    bootstrap::intervals(&sampler, &reference, &data.predictions())
}

#[test]
fn same_seed_same_intervals_and_another_seed_other_intervals() {
    let data = generated("task2_size", 2);
    let a = intervals_of(&data, options(200, 7));
    let b = intervals_of(&data, options(200, 7));
    let c = intervals_of(&data, options(200, 8));
    assert_eq!(a, b);
    assert_ne!(a.map, c.map);
    assert_ne!(a.mauroc, c.mauroc);
    assert_eq!((a.replicates, a.seed), (200, 7));
}

#[test]
fn intervals_contain_the_point_estimate_and_skip_undefined_labels() {
    let data = generated("task2_size", 2);
    let scores = data.score().unwrap();
    let ci = intervals_of(&data, BootstrapOptions::default());
    assert_eq!(ci.replicates, 1000);
    assert!(
        ci.map.contains(scores.map),
        "{:?} vs {}",
        ci.map,
        scores.map
    );
    assert!(ci.mauroc.contains(scores.mauroc));
    assert!(
        ci.map.high - ci.map.low > 0.01,
        "406 images leave real uncertainty"
    );
    assert!(ci.map.high - ci.map.low < 0.2);
    for (c, class) in scores.classes.iter().enumerate() {
        if !class.defined() {
            assert_eq!((ci.class_ap[c], ci.class_auroc[c]), (None, None));
            continue;
        }
        let (ap, auroc) = (ci.class_ap[c].unwrap(), ci.class_auroc[c].unwrap());
        assert!(ap.low <= ap.high && auroc.low <= auroc.high);
        if class.positives >= 30 {
            assert!(ap.contains(class.ap.unwrap()), "{}: {ap:?}", class.label);
            assert!(auroc.contains(class.auroc.unwrap()), "{}", class.label);
        }
    }
}

#[test]
fn replicates_do_not_depend_on_the_thread_count() {
    let data = generated("task2_size", 2);
    let (reference, predictions) = (data.reference(), data.predictions());
    let sampler = Sampler::for_reference(&reference, options(64, 3));
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| bootstrap::replicates(&sampler, &reference, &predictions).unwrap())
    };
    let one = on(1);
    assert_eq!(one.map.len(), 64);
    assert!(
        one == on(2) && one == on(3),
        "replicates changed with the thread count"
    );
}

/// A second submission for the same reference: the first one's scores, perturbed.
fn other_submission(data: &Data, seed: u64) -> Predictions {
    let mut rng = Rng::new(seed);
    let mut p = data.predictions();
    for col in &mut p.scores {
        for v in col.iter_mut() {
            *v = (*v * 0.8 + 0.2 * rng.unit_f64()).clamp(0.0, 1.0);
        }
    }
    p
}

#[test]
fn the_paired_sampler_resamples_the_same_rows_for_every_submission() {
    let data = generated("task2_size", 2);
    let reference = data.reference();
    let sampler = Sampler::for_reference(&reference, options(100, 11));
    // The weights are a function of (seed, replicate) alone.
    let (mut w1, mut w2) = (Vec::new(), Vec::new());
    for b in [0, 1, 99] {
        let t1 = sampler.replicate_weights(b, &mut w1);
        let t2 = sampler.clone().replicate_weights(b, &mut w2);
        assert_eq!((t1, &w1), (t2, &w2));
        assert_eq!(t1, reference.len() as u64);
    }
    sampler.replicate_weights(1, &mut w2);
    assert_ne!(w1, w2, "replicates differ from each other");

    let (a, b) = (data.predictions(), other_submission(&data, 5));
    let paired = bootstrap::paired_replicates(&sampler, &reference, &[&a, &b]).unwrap();
    assert!(paired[0] == bootstrap::replicates(&sampler, &reference, &a).unwrap());
    assert!(paired[1] == bootstrap::replicates(&sampler, &reference, &b).unwrap());
    assert_eq!(paired[0].replicate, paired[1].replicate);
    assert_ne!(paired[0].map, paired[1].map);

    // Replicate j of a submission is exactly its score on the resampled rows: check one
    // against the point-estimate path on a data set that repeats each row `weight` times.
    let j = 17;
    let b_number = paired[1].replicate[j] as usize;
    let mut weights = Vec::new();
    sampler.replicate_weights(b_number, &mut weights);
    let rows: Vec<usize> = (0..data.rows())
        .flat_map(|r| std::iter::repeat_n(r, weights[r] as usize))
        .collect();
    let labels: Vec<usize> = (0..data.task.labels.len()).collect();
    let second = Data {
        task: data.task.clone(),
        truth: data.truth.clone(),
        scores: b.scores.clone(),
    };
    let expanded = second.permuted(&rows, &labels);
    let ranked: Vec<RankedClass> = expanded
        .truth
        .iter()
        .zip(&expanded.scores)
        .map(|(y, s)| RankedClass::new(y, s))
        .collect();
    let unit = vec![1u8; rows.len()];
    let present: Vec<metrics::Ranking> = ranked
        .iter()
        .filter_map(|c| c.weighted(&unit, rows.len() as u64))
        .collect();
    let map = present.iter().map(|r| r.ap).sum::<f64>() / present.len() as f64;
    assert!((paired[1].map[j] - map).abs() < 1e-12);
}

#[test]
fn rank_intervals_order_a_clearly_better_submission_first() {
    let data = generated("task2_size", 2);
    let reference = data.reference();
    let sampler = Sampler::for_reference(&reference, options(200, 1));
    let mut perfect = data.predictions();
    for (col, truth) in perfect.scores.iter_mut().zip(&data.truth) {
        for (v, &y) in col.iter_mut().zip(truth) {
            *v = if y == 1 { 0.9 } else { 0.1 };
        }
    }
    let noisy = other_submission(&data, 9);
    let paired = bootstrap::paired_replicates(&sampler, &reference, &[&noisy, &perfect]).unwrap();
    let ranks = bootstrap::rank_intervals(&paired, 0.95);
    assert_eq!(
        ranks,
        [
            Interval {
                low: 2.0,
                high: 2.0
            },
            Interval {
                low: 1.0,
                high: 1.0
            }
        ]
    );
}

#[test]
fn cluster_resampling_keeps_clusters_together() {
    // Every image twice, both copies in one cluster: resampling clusters must give exactly the
    // replicates of resampling images of the original (each weight doubled, which changes no
    // ratio), while resampling the copies independently would not.
    let data = generated("task2_size", 2);
    let n = data.rows();
    let rows: Vec<usize> = (0..n).flat_map(|r| [r, r]).collect();
    let labels: Vec<usize> = (0..data.task.labels.len()).collect();
    let doubled = data.permuted(&rows, &labels);
    let mut reference = doubled.reference();
    reference.clusters = Some(rows.iter().map(|&r| 1000 + 3 * r as u32).collect());
    let opts = options(300, 4);
    let clustered = Sampler::for_reference(&reference, opts.clone());
    let mut weights = Vec::new();
    clustered.replicate_weights(5, &mut weights);
    assert!(weights.chunks(2).all(|pair| pair[0] == pair[1]));

    let original = data.reference();
    let by_image = Sampler::for_reference(&original, opts.clone());
    let expected = bootstrap::replicates(&by_image, &original, &data.predictions()).unwrap();
    let got = bootstrap::replicates(&clustered, &reference, &doubled.predictions()).unwrap();
    assert!(
        got == expected,
        "cluster replicates differ from image replicates"
    );

    reference.clusters = None;
    let unclustered = Sampler::for_reference(&reference, opts);
    let independent = bootstrap::intervals(&unclustered, &reference, &doubled.predictions());
    let together = bootstrap::intervals(&clustered, &reference, &doubled.predictions());
    let width = |i: Interval| i.high - i.low;
    assert!(width(independent.map) < width(together.map) * 0.85);
}

/// Unweighted AP and AUROC straight from their definitions: one threshold per distinct score,
/// and AUROC by counting every (positive, negative) pair.
fn naive(truth: &[u8], scores: &[f64]) -> (f64, f64) {
    let mut thresholds = scores.to_vec();
    thresholds.sort_unstable_by(|a, b| b.total_cmp(a));
    thresholds.dedup();
    let positives = truth.iter().filter(|&&y| y == 1).count() as f64;
    let (mut ap, mut previous_recall) = (0.0, 0.0);
    for t in thresholds {
        let at = |label: u8| {
            truth
                .iter()
                .zip(scores)
                .filter(|&(&y, &s)| y == label && s >= t)
                .count() as f64
        };
        let (tp, fp) = (at(1), at(0));
        let recall = tp / positives;
        ap += (recall - previous_recall) * tp / (tp + fp);
        previous_recall = recall;
    }
    let (mut good, mut pairs) = (0.0, 0.0);
    for (i, &yi) in truth.iter().enumerate() {
        for (j, &yj) in truth.iter().enumerate() {
            if yi == 1 && yj == 0 {
                pairs += 1.0;
                good += match scores[i].total_cmp(&scores[j]) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
    }
    (ap, good / pairs)
}

#[test]
fn the_weighted_pass_equals_expanding_rows_on_random_replicates() {
    let mut rng = Rng::new(42);
    let mut checked = 0;
    for trial in 0..60 {
        let n = 5 + rng.below(80) as usize;
        let prevalence = 0.05 + 0.5 * rng.unit_f64();
        let decimals = [1.0, 10.0, 100.0][trial % 3];
        let truth: Vec<u8> = (0..n)
            .map(|_| u8::from(rng.unit_f64() < prevalence))
            .collect();
        let scores: Vec<f64> = truth
            .iter()
            .map(|&y| ((0.3 * y as f64 + 0.7 * rng.unit_f64()) * decimals).floor() / decimals)
            .collect();
        let ranked = RankedClass::new(&truth, &scores);
        let sampler = Sampler {
            rows: n,
            options: options(1, trial as u64),
            clusters: None,
        };
        let mut weights = Vec::new();
        for b in 0..5 {
            let total = sampler.replicate_weights(b, &mut weights);
            let (mut y, mut s) = (vec![], vec![]);
            for r in 0..n {
                for _ in 0..weights[r] {
                    y.push(truth[r]);
                    s.push(scores[r]);
                }
            }
            let fast = ranked.weighted(&weights, total);
            let has_both = y.contains(&1) && y.contains(&0);
            assert_eq!(fast.is_some(), has_both, "trial {trial} replicate {b}");
            if let Some(fast) = fast {
                let (ap, auroc) = naive(&y, &s);
                assert!((fast.ap - ap).abs() < 1e-12, "AP {} vs {ap}", fast.ap);
                assert!(
                    (fast.auroc - auroc).abs() < 1e-12,
                    "AUROC {} vs {auroc}",
                    fast.auroc
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn a_replicate_without_a_class_leaves_it_out_of_that_mean() {
    // Label A has a single positive: replicates that miss it average over B alone.
    let task = custom_task(&serde_json::json!({
        "name": "tiny", "labels": ["A", "B"], "groups": null, "critical": []
    }));
    let n = 40;
    let data = Data {
        task,
        truth: vec![
            (0..n).map(|r| u8::from(r == 0)).collect(),
            (0..n).map(|r| u8::from(r % 2 == 0)).collect(),
        ],
        scores: vec![
            (0..n).map(|r| 1.0 - r as f64 / n as f64).collect(),
            (0..n).map(|r| ((r * 7) % 10) as f64 / 10.0).collect(),
        ],
    };
    let reference = data.reference();
    let sampler = Sampler::for_reference(&reference, options(200, 2));
    let reps = bootstrap::replicates(&sampler, &reference, &data.predictions()).unwrap();
    assert_eq!(reps.map.len(), 200);
    let missing = reps.class_ap[0].iter().filter(|a| a.is_none()).count();
    // The single positive is missed with probability (1 - 1/40)^40, about 36 %.
    assert!(missing > 40 && missing < 110, "{missing}");
    for j in 0..200 {
        let b = reps.class_ap[1][j].unwrap();
        match reps.class_ap[0][j] {
            None => assert_eq!(reps.map[j], b),
            Some(a) => {
                assert_eq!(a, 1.0, "the single positive is ranked first");
                assert_eq!(reps.map[j], (a + b) / 2.0);
            }
        }
    }
}
