//! The embedded demo: synthetic reference labels (made by the engine's demo generator) for
//! every phase that has none, a few baseline entries of different strength, and the first
//! organizer account. Demo labels are flagged `is_demo` everywhere they are shown; loading
//! real labels with `admin load-reference` replaces them as a new reference version.

use scoring::demo::{generate, submission_csv, DemoOptions};
use sqlx::SqlitePool;

use crate::db;
use crate::db::submissions::{Accepted, NewSubmission};
use crate::domain::{Login, Password, SubmissionId, TaskDef};
use crate::store::DataDir;

/// Demo sizes: small enough that the first start takes seconds.
#[derive(Debug, Clone)]
pub struct DemoSizes {
    /// Rows of the Task 1 and Task 3 style phases (the real test sets have 78,946).
    pub large: usize,
    /// Rows of the Task 2 phases (the real gold-standard set has 406).
    pub task2: usize,
}

impl Default for DemoSizes {
    fn default() -> Self {
        DemoSizes {
            large: 3000,
            task2: 406,
        }
    }
}

/// Baselines installed per phase: (description, signal strength, seed).
const BASELINES: [(&str, f64, u64); 3] = [
    ("Demo baseline: strong synthetic model", 1.0, 11),
    ("Demo baseline: weak synthetic model", 0.4, 12),
    ("Demo baseline: random scores", 0.0, 13),
];

/// Creates the organizer account `organizer` with a random password when no organizer
/// exists yet; returns the credentials so they can be printed this once.
pub async fn ensure_organizer(pool: &SqlitePool) -> anyhow::Result<Option<(String, String)>> {
    if db::people::has_organizer(pool).await? {
        return Ok(None);
    }
    let login = Login::parse("organizer").expect("valid login");
    let password = crate::auth::new_secret()[..20].to_string();
    let parsed = Password::parse(&password).expect("20 characters");
    db::people::create_organizer(pool, &login, Some(&parsed))
        .await?
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some((login.to_string(), password)))
}

/// Installs demo labels and baselines in every phase that has no reference labels yet.
pub async fn install(pool: &SqlitePool, store: &DataDir, sizes: &DemoSizes) -> anyhow::Result<()> {
    let baseline_team = db::people::baseline_team(pool).await?;
    for (n, phase) in db::phases::list(pool).await?.into_iter().enumerate() {
        if db::references::latest(pool, phase.id.as_str())
            .await?
            .is_some()
        {
            continue;
        }
        let task = phase.task.task();
        let rows = match phase.task {
            TaskDef::Builtin(2) => sizes.task2,
            _ => sizes.large,
        };
        let seed = 1000 + n as u64;
        let (data, baselines) = tokio::task::spawn_blocking(move || {
            let data = generate(
                &task,
                &DemoOptions {
                    rows,
                    seed,
                    id_columns: false,
                },
            );
            let baselines: Vec<String> = BASELINES
                .iter()
                .map(|(_, signal, s)| submission_csv(&task, &data, *signal, seed * 100 + s))
                .collect();
            (data, baselines)
        })
        .await?;
        let version =
            crate::admin::add_reference(pool, store, &phase, data.reference_csv.into_bytes(), true)
                .await?;
        for ((description, _, _), csv) in BASELINES.iter().zip(baselines) {
            let sha = store.put(csv.as_bytes())?;
            let new = NewSubmission {
                id: SubmissionId::random(),
                phase_id: phase.id.to_string(),
                team_id: baseline_team,
                user_id: None,
                description: description.to_string(),
                file_name: "baseline.csv".into(),
                file_sha256: sha,
                file_bytes: csv.len() as u64,
                reference_id: version.id,
                is_baseline: true,
                is_demo: true,
                warnings: Vec::new(),
            };
            match db::submissions::accept(pool, &phase, &new).await? {
                Accepted::Queued { .. } => {}
                Accepted::OverQuota(why) => anyhow::bail!("demo baseline refused: {why}"),
            }
        }
        tracing::info!(
            "phase {}: demo labels ({rows} images) and baselines installed",
            phase.id
        );
    }
    Ok(())
}
