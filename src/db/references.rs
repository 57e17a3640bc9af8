//! Versioned reference labels. Loading a version queues a re-score of every submission of
//! the phase; the leaderboard keeps showing the previous version until every point score
//! against the new one is in, then switches at once and records which ranks moved.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::DbResult;
use crate::domain::{ts, PhaseId};

/// One version of a phase's reference labels.
#[derive(Debug, Clone, Serialize)]
pub struct RefVersion {
    /// Row id (what scores and jobs refer to).
    pub id: i64,
    /// Phase.
    pub phase_id: String,
    /// 1, 2, ... per phase.
    pub version: i64,
    /// SHA-256 of the labels CSV in the file store.
    pub file_sha256: String,
    /// Number of images.
    pub rows: i64,
    /// Synthetic demo labels.
    pub is_demo: bool,
    /// Loaded at.
    pub created_at: String,
    /// When the leaderboard switched to it.
    pub activated_at: Option<String>,
    /// Rank movements recorded at the switch.
    pub rank_changes: Option<Vec<RankChange>>,
}

/// How one team's rank moved when a reference version became active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankChange {
    /// Team name.
    pub team: String,
    /// Rank before (None = not ranked).
    pub before: Option<u32>,
    /// Rank after (None = not ranked).
    pub after: Option<u32>,
}

const COLUMNS: &str = "id, phase_id, version, file_sha256, rows, is_demo, created_at,
    activated_at, rank_changes";

fn from_row(r: &SqliteRow) -> RefVersion {
    RefVersion {
        id: r.get("id"),
        phase_id: r.get("phase_id"),
        version: r.get("version"),
        file_sha256: r.get("file_sha256"),
        rows: r.get("rows"),
        is_demo: r.get("is_demo"),
        created_at: r.get("created_at"),
        activated_at: r.get("activated_at"),
        rank_changes: r
            .get::<Option<String>, _>("rank_changes")
            .and_then(|j| serde_json::from_str(&j).ok()),
    }
}

/// The newest version of a phase (what new uploads are validated against).
pub async fn latest(pool: &SqlitePool, phase_id: &str) -> DbResult<Option<RefVersion>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reference_versions WHERE phase_id = ? ORDER BY version DESC LIMIT 1"
    )))
    .bind(phase_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// A version by row id.
pub async fn get(pool: &SqlitePool, id: i64) -> DbResult<Option<RefVersion>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reference_versions WHERE id = ?"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row))
}

/// Every version of a phase, newest first.
pub async fn list(pool: &SqlitePool, phase_id: &str) -> DbResult<Vec<RefVersion>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reference_versions WHERE phase_id = ? ORDER BY version DESC"
    )))
    .bind(phase_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Adds a version (the CSV is already in the file store) and queues a re-score of every
/// submission of the phase against it; queued jobs for older versions are dropped.
pub async fn add_version(
    pool: &SqlitePool,
    phase_id: &PhaseId,
    file_sha256: &str,
    rows: usize,
    is_demo: bool,
) -> DbResult<RefVersion> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM reference_versions WHERE phase_id = ?",
    )
    .bind(phase_id.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let id = sqlx::query(
        "INSERT INTO reference_versions (phase_id, version, file_sha256, rows, is_demo, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(phase_id.as_str())
    .bind(version)
    .bind(file_sha256)
    .bind(rows as i64)
    .bind(is_demo)
    .bind(ts(Utc::now()))
    .execute(&mut *tx)
    .await?
    .last_insert_rowid();
    sqlx::query(
        "UPDATE jobs SET status = 'failed', error = 'superseded by a newer reference version',
             finished_at = ?
         WHERE status = 'queued' AND reference_id IN
             (SELECT id FROM reference_versions WHERE phase_id = ? AND id <> ?)",
    )
    .bind(ts(Utc::now()))
    .bind(phase_id.as_str())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    queue_phase(&mut tx, phase_id, id).await?;
    tx.commit().await?;
    maybe_activate(pool, id).await?;
    Ok(get(pool, id).await?.expect("just inserted"))
}

/// Queues a point-score job against `reference_id` for every submission of the phase.
async fn queue_phase(
    conn: &mut SqliteConnection,
    phase_id: &PhaseId,
    reference_id: i64,
) -> DbResult<u64> {
    // Demo baselines follow demo labels only (real labels have other ids).
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT b.seq FROM submissions b JOIN reference_versions r ON r.id = ?
         WHERE b.phase_id = ? AND (b.is_demo = 0 OR r.is_demo = 1) ORDER BY b.seq",
    )
    .bind(reference_id)
    .bind(phase_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    for seq in &seqs {
        super::jobs::enqueue(conn, *seq, reference_id, 1).await?;
    }
    sqlx::query(
        "UPDATE submissions SET status = 'queued', error = NULL
         WHERE status <> 'running' AND seq IN
             (SELECT submission_seq FROM jobs WHERE reference_id = ? AND status = 'queued')",
    )
    .bind(reference_id)
    .execute(&mut *conn)
    .await?;
    Ok(seqs.len() as u64)
}

/// Queues every submission of the phase for scoring again against the newest reference
/// version; returns how many were queued.
pub async fn rescore(pool: &SqlitePool, phase_id: &PhaseId) -> DbResult<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT MAX(id) FROM reference_versions WHERE phase_id = ?")
            .bind(phase_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
    let Some(newest) = newest else {
        return Ok(0);
    };
    let queued = queue_phase(&mut tx, phase_id, newest).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Switches the phase's leaderboard to `reference_id` when it is the newest version and no
/// point score against it is still pending; records the rank movements. Idempotent.
pub async fn maybe_activate(pool: &SqlitePool, reference_id: i64) -> DbResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let row = sqlx::query(
        "SELECT r.phase_id, p.active_reference_id,
             (SELECT MAX(id) FROM reference_versions WHERE phase_id = r.phase_id) AS newest,
             (SELECT COUNT(*) FROM jobs WHERE reference_id = r.id AND stage = 1
                  AND status IN ('queued', 'running')) AS pending
         FROM reference_versions r JOIN phases p ON p.id = r.phase_id WHERE r.id = ?",
    )
    .bind(reference_id)
    .fetch_one(&mut *tx)
    .await?;
    let active: Option<i64> = row.get("active_reference_id");
    let newest: i64 = row.get("newest");
    let pending: i64 = row.get("pending");
    if active == Some(reference_id) || newest != reference_id || pending > 0 {
        return Ok(());
    }
    let phase_id = PhaseId::parse(row.get("phase_id")).expect("stored ids are valid");
    let rule: String = sqlx::query_scalar("SELECT rule FROM phases WHERE id = ?")
        .bind(phase_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
    let rule = crate::domain::LeaderboardRule::parse(&rule).expect("CHECK constraint");
    let before = match active {
        Some(old) => super::leaderboard::rows(&mut tx, &phase_id, rule, old).await?,
        None => Vec::new(),
    };
    let after = super::leaderboard::rows(&mut tx, &phase_id, rule, reference_id).await?;
    let changes = rank_changes(&before, &after);
    sqlx::query("UPDATE reference_versions SET activated_at = ?, rank_changes = ? WHERE id = ?")
        .bind(ts(Utc::now()))
        .bind(serde_json::to_string(&changes).expect("serializable"))
        .bind(reference_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE phases SET active_reference_id = ? WHERE id = ?")
        .bind(reference_id)
        .bind(phase_id.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Teams whose rank differs between two leaderboards (ranked rows only).
fn rank_changes(
    before: &[super::leaderboard::LeaderboardRow],
    after: &[super::leaderboard::LeaderboardRow],
) -> Vec<RankChange> {
    let ranked = |rows: &[super::leaderboard::LeaderboardRow]| {
        rows.iter()
            .filter(|r| !r.baseline)
            .map(|r| (r.team.clone(), r.rank))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (b, a) = (ranked(before), ranked(after));
    let mut teams: Vec<&String> = b.keys().chain(a.keys()).collect();
    teams.sort();
    teams.dedup();
    teams
        .into_iter()
        .filter_map(|team| {
            let (before, after) = (
                b.get(team).copied().flatten(),
                a.get(team).copied().flatten(),
            );
            (before != after).then(|| RankChange {
                team: team.clone(),
                before,
                after,
            })
        })
        .collect()
}
