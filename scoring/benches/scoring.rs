//! Task-1-size scoring (78,946 images x 40 labels) with and without 1000 bootstrap replicates.
//!
//! `cargo bench -p scoring --bench scoring` (add `-- --sample-size 10` on a busy machine).
//! The data is built in memory: CXR-LT training prevalences, scores from a logistic model with
//! real signal, a third of the labels rounded to 3 decimals and a third passed through `f32`
//! (as a model exporting float32 would), so there are many ties.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use scoring::bootstrap::{self, BootstrapOptions, Sampler};
use scoring::metrics;
use scoring::reference::Reference;
use scoring::rng::Rng;
use scoring::submission::Predictions;
use scoring::task::{Task, TASK1_TRAIN_COUNTS, TRAIN_IMAGES};

const ROWS: usize = 78_946;

fn normal(rng: &mut Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let (u, v) = (1.0 - rng.unit_f64(), rng.unit_f64());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn task1_data() -> (Reference, Predictions) {
    let task = Task::builtin(1).unwrap();
    let mut rng = Rng::new(2024);
    let ids: Vec<String> = (0..ROWS)
        .map(|r| {
            let h = rng.next_u64();
            format!(
                "{:08x}-{:08x}-{:08x}-{:08x}-{:08x}",
                h >> 32,
                h as u32,
                r,
                r ^ 0x5a5a,
                h >> 16 & 0xffff_ffff
            )
        })
        .collect();
    let (mut labels, mut scores) = (vec![], vec![]);
    for (c, &count) in TASK1_TRAIN_COUNTS.iter().enumerate() {
        let prevalence = count as f64 / TRAIN_IMAGES as f64;
        let base = (prevalence / (1.0 - prevalence)).ln();
        let (mut y, mut s) = (Vec::with_capacity(ROWS), Vec::with_capacity(ROWS));
        for _ in 0..ROWS {
            let positive = rng.unit_f64() < prevalence;
            let logit = base - 1.0 + if positive { 2.5 } else { 0.0 } + 1.2 * normal(&mut rng);
            let p = 1.0 / (1.0 + (-logit).exp());
            let p = match c % 3 {
                0 => (p * 1000.0).round() / 1000.0,
                1 => p as f32 as f64,
                _ => p,
            };
            y.push(u8::from(positive));
            s.push(p);
        }
        labels.push(y);
        scores.push(s);
    }
    let predictions = Predictions {
        ids: ids.clone(),
        scores,
        warnings: vec![],
    };
    let reference = Reference::new(task, ids, labels, None);
    (reference, predictions)
}

fn benches(c: &mut Criterion) {
    let (reference, predictions) = task1_data();
    let scores = metrics::score(&reference, &predictions).unwrap();
    eprintln!(
        "task-1-size data: mAP {:.4}, mAUROC {:.4}, {} undefined labels",
        scores.map,
        scores.mauroc,
        scores.undefined.len()
    );

    let mut group = c.benchmark_group("task1");
    group.sample_size(10);
    group.bench_function("score", |b| {
        b.iter(|| metrics::score(black_box(&reference), black_box(&predictions)).unwrap())
    });
    group.bench_function("rank_classes", |b| {
        b.iter(|| metrics::rank_classes(black_box(&reference), black_box(&predictions)).unwrap())
    });
    let sampler = Sampler::for_reference(&reference, BootstrapOptions::default());
    group.bench_function("score_and_bootstrap_1000", |b| {
        b.iter(|| {
            let ranked = metrics::rank_classes(&reference, &predictions).unwrap();
            let scores = metrics::score_ranked(&reference, &ranked).unwrap();
            let intervals = bootstrap::intervals_ranked(&sampler, &ranked);
            black_box((scores, intervals))
        })
    });
    group.finish();
}

criterion_group!(task1, benches);
criterion_main!(task1);
