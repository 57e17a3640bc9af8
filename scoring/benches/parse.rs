//! Parsing speed on a Task-1-size submission: 78,946 rows x 40 full-precision probabilities
//! (about 65 MB), with and without the reference, plus the reference labels themselves and
//! the same submission uploaded as a zip.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scoring::submission::{parse_predictions, validate_upload, Limits};
use scoring::testcases::{image_id, zip_of};
use scoring::{reference::Reference, Task};

const ROWS: usize = 78_946;

/// A deterministic stream of f64 in [0, 1) printed at full precision, like pandas writes them.
fn probabilities() -> impl FnMut() -> f64 {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn files(task: &Task) -> (Vec<u8>, Vec<u8>) {
    let header = format!("dicom_id,{}\n", task.labels.join(","));
    let mut sub = header.clone();
    let mut refr = header;
    let mut next = probabilities();
    for i in 0..ROWS {
        let id = image_id(i);
        sub.push_str(&id);
        refr.push_str(&id);
        for _ in 0..task.labels.len() {
            let p = next();
            sub.push(',');
            sub.push_str(&p.to_string());
            refr.push_str(if p < 0.05 { ",1" } else { ",0" });
        }
        sub.push('\n');
        refr.push('\n');
    }
    (sub.into_bytes(), refr.into_bytes())
}

fn bench(c: &mut Criterion) {
    let task = Task::builtin(1).unwrap();
    let (sub, refr) = files(&task);
    let reference = Reference::parse(&refr, None).unwrap();
    let zipped = zip_of(&[("predictions.csv", &sub)]);
    eprintln!(
        "submission {} bytes, zipped {} bytes, reference {} bytes",
        sub.len(),
        zipped.len(),
        refr.len()
    );
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    g.warm_up_time(std::time::Duration::from_secs(1));
    g.measurement_time(std::time::Duration::from_secs(4));
    g.throughput(Throughput::Bytes(sub.len() as u64));
    // Results are dropped outside the timing: `tailboard score` never frees them (it exits),
    // and freeing 79,000 ids would otherwise be a third of the reference figure.
    g.bench_function("task1_with_reference", |b| {
        b.iter_with_large_drop(|| parse_predictions(&sub, &task, Some(&reference)).unwrap())
    });
    g.bench_function("task1_without_reference", |b| {
        b.iter_with_large_drop(|| parse_predictions(&sub, &task, None).unwrap())
    });
    // One quoted id in the body sends the whole file through the csv crate.
    let first_id = image_id(0);
    let quoted = String::from_utf8(sub.clone())
        .unwrap()
        .replacen(&first_id, &format!("\"{first_id}\""), 1)
        .into_bytes();
    g.bench_function("task1_quoted_fallback", |b| {
        b.iter_with_large_drop(|| parse_predictions(&quoted, &task, Some(&reference)).unwrap())
    });
    g.bench_function("task1_zip_upload", |b| {
        b.iter_with_large_drop(|| {
            validate_upload(&zipped, &task, Some(&reference), &Limits::default()).unwrap()
        })
    });
    g.throughput(Throughput::Bytes(refr.len() as u64));
    g.bench_function("task1_reference", |b| {
        b.iter_with_large_drop(|| Reference::parse(&refr, None).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
