//! Scoring workers: a fixed number of loops (default one per core) that take jobs off the
//! durable queue in `db::jobs` and run the engine on lower-priority threads ([`priority`]),
//! so scoring never stalls the web server. A worker wakes when an upload is queued, and polls once a
//! second for jobs added by another process (the admin command `load-reference`). A result
//! the database refuses is not the submission's fault: the job goes back to the queue; if
//! even that write is refused, it is tried again (1 s, 2 s, ... at most 30 s apart) until the
//! fault goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scoring::bootstrap::{BootstrapOptions, Sampler};
use scoring::reference::Reference;
use tokio::sync::watch;

use crate::db;
use crate::db::jobs::ClaimedJob;
use crate::AppState;

pub mod priority;

/// Parsed reference versions, shared by upload validation and the workers (parsing a
/// Task-1-size reference once per job would dominate scoring time). Versions never change
/// once stored, so entries never go stale. Each version is parsed once even when a burst of
/// uploads asks for it at the same moment (after a start, 50 uploads would otherwise parse
/// the same labels 50 times over).
#[derive(Default)]
pub struct References {
    cache: Mutex<HashMap<i64, Arc<tokio::sync::OnceCell<Arc<Reference>>>>>,
}

impl References {
    /// The parsed reference version `id`.
    pub async fn get(&self, state: &AppState, id: i64) -> anyhow::Result<Arc<Reference>> {
        let cell = self
            .cache
            .lock()
            .expect("not poisoned")
            .entry(id)
            .or_default()
            .clone();
        // A failed load leaves the cell empty: the next caller tries again.
        let reference = cell.get_or_try_init(|| load(state, id)).await?;
        Ok(reference.clone())
    }
}

/// Reads and parses reference version `id`.
async fn load(state: &AppState, id: i64) -> anyhow::Result<Arc<Reference>> {
    let version = db::references::get(&state.pool, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("reference version {id} does not exist"))?;
    let phase_id = crate::domain::PhaseId::parse(&version.phase_id).expect("valid id");
    let phase = db::phases::get(&state.pool, &phase_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("phase {phase_id} does not exist"))?;
    let store = state.store.clone();
    let reference = priority::run(move || -> anyhow::Result<Reference> {
        let bytes = store.get(&version.file_sha256)?;
        Ok(Reference::parse(&bytes, Some(phase.task.task()))?)
    })
    .await??;
    Ok(Arc::new(reference))
}

/// Starts `count` worker loops; they stop when `shutdown` turns true.
pub fn spawn(
    state: Arc<AppState>,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|n| {
            let state = state.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                tracing::debug!("scoring worker {n} started");
                loop {
                    if *shutdown.borrow() {
                        break;
                    }
                    match db::jobs::claim(&state.pool).await {
                        Ok(Some(job)) => run(&state, job, &mut shutdown).await,
                        Ok(None) => {
                            tokio::select! {
                                _ = state.queue.notified() => {}
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                        Err(e) => {
                            tracing::error!("worker {n}: cannot read the queue: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Why a job did not complete.
enum JobError {
    /// The submission could not be scored: the one-line reason the team sees.
    Failed(String),
    /// The result was computed but the database refused it: the server's fault, so the job
    /// goes back to the queue instead of failing the submission.
    Storing(sqlx::Error),
}

impl From<String> for JobError {
    fn from(reason: String) -> Self {
        JobError::Failed(reason)
    }
}

/// What the database must be told once a job has run.
enum Outcome {
    /// Nothing more: the stage wrote its results itself.
    Stored,
    /// The submission failed, with the one-line reason the team sees.
    Failed(String),
    /// The result could not be stored: back to the queue, with this reason.
    Release(String),
}

/// Longest wait between two attempts to record an outcome.
const MAX_RECORD_DELAY: Duration = Duration::from_secs(30);

/// Runs one job and records its outcome (results, the one-line reason, or a retry).
///
/// When even that record is refused (a disk or database fault), it is tried again with a
/// growing delay until it is written, so the job never stays `running` behind a fault that
/// went away; only a shutdown stops the attempts, and the next start queues the job again.
async fn run(state: &AppState, job: ClaimedJob, shutdown: &mut watch::Receiver<bool>) {
    let outcome = match job.stage {
        1 => stage_scores(state, &job).await,
        _ => stage_intervals(state, &job).await,
    };
    let outcome = match outcome {
        Ok(()) => Outcome::Stored,
        Err(JobError::Failed(reason)) => {
            tracing::warn!("job {} (stage {}) failed: {reason}", job.id, job.stage);
            Outcome::Failed(reason)
        }
        Err(JobError::Storing(e)) => {
            let reason = format!("could not store the result, queued again: {e}");
            tracing::error!("job {} (stage {}): {reason}", job.id, job.stage);
            Outcome::Release(reason)
        }
    };
    let mut delay = Duration::from_secs(1);
    loop {
        let recorded = match &outcome {
            Outcome::Stored => return,
            Outcome::Failed(reason) => db::jobs::fail(&state.pool, &job, reason).await,
            Outcome::Release(reason) => db::jobs::release(&state.pool, &job, reason).await,
        };
        let e = match recorded {
            // Give the database a moment before a released job is claimed again.
            Ok(_) if matches!(outcome, Outcome::Release(_)) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
            Ok(_) => return,
            Err(e) => e,
        };
        tracing::error!(
            "job {}: cannot record the outcome, trying again in {} s: {e}",
            job.id,
            delay.as_secs()
        );
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
        delay = (delay * 2).min(MAX_RECORD_DELAY);
    }
    tracing::warn!(
        "job {} stays running until the next start, which queues it again",
        job.id
    );
}

/// Reads the stored submission and validates it against the reference (on a blocking
/// thread), then runs `compute` there too.
async fn with_predictions<T: Send + 'static>(
    state: &AppState,
    job: &ClaimedJob,
    compute: impl FnOnce(&Reference, &scoring::submission::Predictions) -> Result<T, String>
        + Send
        + 'static,
) -> Result<T, String> {
    let reference = state
        .references
        .get(state, job.reference_id)
        .await
        .map_err(|e| format!("reference labels unavailable: {e}"))?;
    let store = state.store.clone();
    let limits = state.limits.clone();
    let sha = job.file_sha256.clone();
    let work = priority::run(move || {
        let bytes = store
            .get(&sha)
            .map_err(|e| format!("stored submission file unreadable: {e}"))?;
        let predictions = scoring::submission::validate_upload(
            &bytes,
            &reference.task,
            Some(&reference),
            &limits,
        )
        .map_err(|e| e.to_string())?;
        compute(&reference, &predictions)
    });
    let timeout = state.job_timeout;
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| {
            // The blocking thread finishes on its own; its result is dropped.
            format!(
                "scoring took longer than {} s and was stopped",
                timeout.as_secs()
            )
        })?
        .map_err(|e| {
            tracing::error!("scoring panicked: {e}");
            "internal error while scoring; an organizer will look at it".to_string()
        })?
}

async fn stage_scores(state: &AppState, job: &ClaimedJob) -> Result<(), JobError> {
    let scores = with_predictions(state, job, |reference, predictions| {
        scoring::metrics::score(reference, predictions).map_err(|e| e.to_string())
    })
    .await?;
    db::jobs::complete_scores(&state.pool, job, &scores)
        .await
        .map_err(JobError::Storing)?;
    // Stage 2 was queued by the same transaction; wake a worker for it.
    state.queue.notify_one();
    Ok(())
}

async fn stage_intervals(state: &AppState, job: &ClaimedJob) -> Result<(), JobError> {
    let replicates = job.bootstrap_replicates.max(0) as usize;
    let intervals = with_predictions(state, job, move |reference, predictions| {
        let options = BootstrapOptions {
            replicates,
            ..BootstrapOptions::default()
        };
        let sampler = Sampler::for_reference(reference, options);
        Ok(scoring::bootstrap::intervals(
            &sampler,
            reference,
            predictions,
        ))
    })
    .await?;
    db::jobs::complete_intervals(&state.pool, job, &intervals)
        .await
        .map_err(JobError::Storing)?;
    Ok(())
}
