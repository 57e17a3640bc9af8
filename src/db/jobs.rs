//! The durable scoring queue. A job is one stage of scoring one submission against one
//! reference version: stage 1 = point scores, stage 2 = bootstrap intervals. Workers claim
//! the oldest stage-1 job first (first come, first served), stage-2 jobs when no stage-1 job
//! waits, so slow intervals never hold up anyone's point score.
//!
//! Exactly once: a claim writes a random claim token; results are written in one
//! transaction that also moves the job from `running` with that token to `done`. A second
//! writer (a worker that lost its claim after a restart) finds no such row and rolls back.

use chrono::Utc;
use scoring::bootstrap::Intervals;
use scoring::metrics::Scores;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::DbResult;
use crate::auth::new_secret;
use crate::domain::ts;

/// A job is given up after this many starts (a submission that crashes the scorer must not
/// crash it forever).
pub const MAX_ATTEMPTS: i64 = 3;

/// Queues a job (a no-op when the same stage for the same reference is already queued).
pub async fn enqueue(
    conn: &mut SqliteConnection,
    submission_seq: i64,
    reference_id: i64,
    stage: i64,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO jobs (submission_seq, reference_id, stage, status, created_at)
         VALUES (?, ?, ?, 'queued', ?)
         ON CONFLICT (submission_seq, reference_id, stage) DO UPDATE
             SET status = 'queued', attempts = 0, claim = NULL, error = NULL
             WHERE jobs.status IN ('done', 'failed')",
    )
    .bind(submission_seq)
    .bind(reference_id)
    .bind(stage)
    .bind(ts(Utc::now()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// At start: jobs left `running` by a crash or a stop go back to the queue (at their old
/// place, since the order is by job id); ones that already crashed the scorer too often fail.
pub async fn requeue_running(pool: &SqlitePool) -> DbResult<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let failed = sqlx::query(
        "UPDATE jobs SET status = 'failed', claim = NULL, finished_at = ?,
             error = 'scoring stopped unexpectedly several times; an organizer will look at it'
         WHERE status = 'running' AND attempts >= ?
         RETURNING submission_seq, stage",
    )
    .bind(ts(Utc::now()))
    .bind(MAX_ATTEMPTS)
    .fetch_all(&mut *tx)
    .await?;
    for r in &failed {
        if r.get::<i64, _>("stage") == 1 {
            set_submission_status(
                &mut tx,
                r.get("submission_seq"),
                Some("scoring stopped unexpectedly several times; an organizer will look at it"),
            )
            .await?;
        }
    }
    let requeued =
        sqlx::query("UPDATE jobs SET status = 'queued', claim = NULL WHERE status = 'running'")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query(
        "UPDATE submissions SET status = 'queued' WHERE status = 'running' AND seq IN
             (SELECT submission_seq FROM jobs WHERE status = 'queued' AND stage = 1)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(requeued)
}

/// A claimed job with what the worker needs to run it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Job id.
    pub id: i64,
    /// The claim token that proves ownership when writing results.
    pub claim: String,
    /// 1 = point scores, 2 = intervals.
    pub stage: i64,
    /// Submission.
    pub submission_seq: i64,
    /// Reference version.
    pub reference_id: i64,
    /// SHA-256 of the submitted file.
    pub file_sha256: String,
    /// Phase of the submission.
    pub phase_id: String,
    /// Bootstrap replicates configured for the phase.
    pub bootstrap_replicates: i64,
}

/// Takes the next job off the queue, if any.
pub async fn claim(pool: &SqlitePool) -> DbResult<Option<ClaimedJob>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let claim = new_secret();
    let row = sqlx::query(
        "UPDATE jobs SET status = 'running', claim = ?, attempts = attempts + 1, started_at = ?
         WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY stage, id LIMIT 1)
         RETURNING id, stage, submission_seq, reference_id",
    )
    .bind(&claim)
    .bind(ts(Utc::now()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let seq: i64 = row.get("submission_seq");
    let stage: i64 = row.get("stage");
    if stage == 1 {
        sqlx::query("UPDATE submissions SET status = 'running' WHERE seq = ?")
            .bind(seq)
            .execute(&mut *tx)
            .await?;
    }
    let info = sqlx::query(
        "SELECT b.file_sha256, b.phase_id, p.bootstrap_replicates FROM submissions b
         JOIN phases p ON p.id = b.phase_id WHERE b.seq = ?",
    )
    .bind(seq)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(ClaimedJob {
        id: row.get("id"),
        claim,
        stage,
        submission_seq: seq,
        reference_id: row.get("reference_id"),
        file_sha256: info.get("file_sha256"),
        phase_id: info.get("phase_id"),
        bootstrap_replicates: info.get("bootstrap_replicates"),
    }))
}

/// How a claimed job ends.
#[derive(Clone, Copy)]
enum End<'a> {
    /// Its results are stored.
    Done,
    /// It failed, with the one-line reason.
    Failed(&'a str),
    /// Back to the queue after a storage fault, the attempt not counted, the reason kept.
    Released(&'a str),
}

/// Ends the claimed job's row as `end` says; false (and nothing written) when the claim was
/// lost. Every way a job ends goes through this one claim check.
async fn settle(conn: &mut SqliteConnection, job: &ClaimedJob, end: End<'_>) -> DbResult<bool> {
    // ?1 finished_at, ?2 error, ?3 id, ?4 claim (a statement may leave a number unused).
    let (set, error) = match end {
        End::Done => ("status = 'done', finished_at = ?1, error = ?2", None),
        End::Failed(reason) => (
            "status = 'failed', finished_at = ?1, error = ?2",
            Some(reason),
        ),
        End::Released(reason) => (
            "status = 'queued', claim = NULL, attempts = MAX(attempts - 1, 0), error = ?2",
            Some(reason),
        ),
    };
    let sql = format!("UPDATE jobs SET {set} WHERE id = ?3 AND status = 'running' AND claim = ?4");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ts(Utc::now()))
        .bind(error)
        .bind(job.id)
        .bind(&job.claim)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a submission's status from its stage-1 jobs: still `queued`/`running` while another
/// stage-1 job waits, else `finished` or `failed` with `error`.
async fn set_submission_status(
    conn: &mut SqliteConnection,
    seq: i64,
    error: Option<&str>,
) -> DbResult<()> {
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE submission_seq = ? AND stage = 1
             AND status IN ('queued', 'running')",
    )
    .bind(seq)
    .fetch_one(&mut *conn)
    .await?;
    if pending > 0 {
        return Ok(());
    }
    let status = if error.is_some() {
        "failed"
    } else {
        "finished"
    };
    sqlx::query("UPDATE submissions SET status = ?, error = ? WHERE seq = ?")
        .bind(status)
        .bind(error)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A metric as stored: NaN and infinities become NULL (never ranked).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn finite_opt(x: Option<f64>) -> Option<f64> {
    x.and_then(finite)
}

/// Stores the point scores of a stage-1 job and queues its stage 2. Returns false when the
/// claim was lost (nothing written).
pub async fn complete_scores(
    pool: &SqlitePool,
    job: &ClaimedJob,
    scores: &Scores,
) -> DbResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if !settle(&mut tx, job, End::Done).await? {
        return Ok(false);
    }
    let now = ts(Utc::now());
    sqlx::query(
        "INSERT INTO scores (submission_seq, reference_id, map, mauroc, mf1, micro_f1, mece,
             map_head, map_medium, map_tail, map_group_avg, undefined, scored_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (submission_seq, reference_id) DO UPDATE SET map = excluded.map,
             mauroc = excluded.mauroc, mf1 = excluded.mf1, micro_f1 = excluded.micro_f1,
             mece = excluded.mece, map_head = excluded.map_head,
             map_medium = excluded.map_medium, map_tail = excluded.map_tail,
             map_group_avg = excluded.map_group_avg, undefined = excluded.undefined,
             scored_at = excluded.scored_at, writes = scores.writes + 1",
    )
    .bind(job.submission_seq)
    .bind(job.reference_id)
    .bind(finite(scores.map))
    .bind(finite(scores.mauroc))
    .bind(finite(scores.mf1))
    .bind(finite(scores.micro_f1))
    .bind(finite(scores.mece))
    .bind(finite_opt(scores.map_head))
    .bind(finite_opt(scores.map_medium))
    .bind(finite_opt(scores.map_tail))
    .bind(finite_opt(scores.map_group_avg))
    .bind(serde_json::to_string(&scores.undefined).expect("strings serialize"))
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM class_results WHERE submission_seq = ? AND reference_id = ?")
        .bind(job.submission_seq)
        .bind(job.reference_id)
        .execute(&mut *tx)
        .await?;
    for (i, c) in scores.classes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO class_results (submission_seq, reference_id, position, label, grp,
                 positives, negatives, ap, auroc, f1, ece, fnr, critical)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(job.submission_seq)
        .bind(job.reference_id)
        .bind(i as i64)
        .bind(&c.label)
        .bind(c.group.map(|g| g.name()))
        .bind(c.positives as i64)
        .bind(c.negatives as i64)
        .bind(finite_opt(c.ap))
        .bind(finite_opt(c.auroc))
        .bind(finite_opt(c.f1))
        .bind(finite_opt(c.ece))
        .bind(finite_opt(c.fnr))
        .bind(c.critical)
        .execute(&mut *tx)
        .await?;
    }
    set_submission_status(&mut tx, job.submission_seq, None).await?;
    if job.bootstrap_replicates > 0 && scores.map.is_finite() {
        enqueue(&mut tx, job.submission_seq, job.reference_id, 2).await?;
    }
    tx.commit().await?;
    super::references::maybe_activate(pool, job.reference_id).await?;
    Ok(true)
}

/// Stores the intervals of a stage-2 job. Returns false when the claim was lost.
pub async fn complete_intervals(
    pool: &SqlitePool,
    job: &ClaimedJob,
    intervals: &Intervals,
) -> DbResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if !settle(&mut tx, job, End::Done).await? {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE scores SET map_ci_low = ?, map_ci_high = ?, mauroc_ci_low = ?,
             mauroc_ci_high = ?, intervals_at = ?
         WHERE submission_seq = ? AND reference_id = ?",
    )
    .bind(finite(intervals.map.low))
    .bind(finite(intervals.map.high))
    .bind(finite(intervals.mauroc.low))
    .bind(finite(intervals.mauroc.high))
    .bind(ts(Utc::now()))
    .bind(job.submission_seq)
    .bind(job.reference_id)
    .execute(&mut *tx)
    .await?;
    for (i, ci) in intervals.class_ap.iter().enumerate() {
        sqlx::query(
            "UPDATE class_results SET ap_ci_low = ?, ap_ci_high = ?
             WHERE submission_seq = ? AND reference_id = ? AND position = ?",
        )
        .bind(ci.and_then(|c| finite(c.low)))
        .bind(ci.and_then(|c| finite(c.high)))
        .bind(job.submission_seq)
        .bind(job.reference_id)
        .bind(i as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Records a failed job with its one-line reason; a stage-1 failure fails the submission.
pub async fn fail(pool: &SqlitePool, job: &ClaimedJob, reason: &str) -> DbResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if !settle(&mut tx, job, End::Failed(reason)).await? {
        return Ok(false);
    }
    if job.stage == 1 {
        set_submission_status(&mut tx, job.submission_seq, Some(reason)).await?;
    }
    tx.commit().await?;
    if job.stage == 1 {
        super::references::maybe_activate(pool, job.reference_id).await?;
    }
    Ok(true)
}

/// Puts a claimed job back in the queue after its result could not be stored (a database
/// fault, not the submission's): the attempt is not counted and `error` keeps the reason for
/// the organizers. False when the claim was lost (nothing written).
pub async fn release(pool: &SqlitePool, job: &ClaimedJob, reason: &str) -> DbResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if !settle(&mut tx, job, End::Released(reason)).await? {
        return Ok(false);
    }
    if job.stage == 1 {
        sqlx::query(
            "UPDATE submissions SET status = 'queued' WHERE seq = ? AND status = 'running'",
        )
        .bind(job.submission_seq)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Place of a queued submission in the point-score queue (1 = next), if queued.
pub async fn queue_position(pool: &SqlitePool, seq: i64) -> DbResult<Option<i64>> {
    sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM jobs q WHERE q.status = 'queued' AND q.stage = 1
                     AND q.id <= j.id)
         FROM jobs j WHERE j.submission_seq = ? AND j.stage = 1 AND j.status = 'queued'
         ORDER BY j.id LIMIT 1",
    )
    .bind(seq)
    .fetch_optional(pool)
    .await
}

/// A job as listed on the organizer's queue page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueRow {
    /// Job id.
    pub job: i64,
    /// Submission public id.
    pub submission: String,
    /// Phase.
    pub phase: String,
    /// Team name.
    pub team: String,
    /// 1 = point scores, 2 = intervals.
    pub stage: i64,
    /// `queued` or `running`.
    pub status: String,
    /// Starts so far.
    pub attempts: i64,
    /// Queued at.
    pub created_at: String,
    /// Started at (running jobs).
    pub started_at: Option<String>,
}

/// Every waiting or running job in the order they will run.
pub async fn pending(pool: &SqlitePool) -> DbResult<Vec<QueueRow>> {
    let rows = sqlx::query(
        "SELECT j.id, b.id AS submission, b.phase_id, t.name, j.stage, j.status, j.attempts,
             j.created_at, j.started_at
         FROM jobs j JOIN submissions b ON b.seq = j.submission_seq JOIN teams t ON t.id = b.team_id
         WHERE j.status IN ('queued', 'running')
         ORDER BY j.status = 'queued', j.stage, j.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| QueueRow {
            job: r.get("id"),
            submission: r.get("submission"),
            phase: r.get("phase_id"),
            team: r.get("name"),
            stage: r.get("stage"),
            status: r.get("status"),
            attempts: r.get("attempts"),
            created_at: r.get("created_at"),
            started_at: r.get("started_at"),
        })
        .collect())
}
