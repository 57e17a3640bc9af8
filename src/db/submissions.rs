//! Accepting uploads under the quotas, refused uploads, and reading submissions back with
//! visibility applied.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::DbResult;
use crate::domain::{parse_ts, ts, Phase, Quotas, SubmissionId, Viewer, Visibility};

/// A validated upload about to be stored.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    /// Public id.
    pub id: SubmissionId,
    /// Phase.
    pub phase_id: String,
    /// Owning team.
    pub team_id: i64,
    /// Uploading member, when known.
    pub user_id: Option<i64>,
    /// Free text from the team.
    pub description: String,
    /// File name as uploaded.
    pub file_name: String,
    /// SHA-256 of the stored file.
    pub file_sha256: String,
    /// Size of the stored file.
    pub file_bytes: u64,
    /// Reference version to score against.
    pub reference_id: i64,
    /// Organizer baseline: shown, never ranked, outside every quota.
    pub is_baseline: bool,
    /// Demo baseline (scored only against demo labels).
    pub is_demo: bool,
    /// Validation notes.
    pub warnings: Vec<String>,
}

/// What a team has used of a phase's quotas at an instant.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaStatus {
    /// The phase's allowances.
    pub quotas: Quotas,
    /// Scored uploads in the last 24 h.
    pub used_today: u32,
    /// Scored uploads in the phase.
    pub used_total: u32,
    /// Refused uploads in the last 24 h.
    pub refused_today: u32,
    /// When the oldest upload of the 24 h window leaves it (the next free daily slot).
    pub next_slot_at: Option<DateTime<Utc>>,
    /// When the oldest refused upload of the window leaves it.
    pub next_refused_slot_at: Option<DateTime<Utc>>,
}

impl QuotaStatus {
    /// Scored uploads still allowed now.
    pub fn remaining(&self) -> u32 {
        let day = self.quotas.per_day.saturating_sub(self.used_today);
        let total = self.quotas.total.saturating_sub(self.used_total);
        day.min(total)
    }

    /// Why no scored upload is allowed now, if so (one line for the team).
    pub fn refusal(&self) -> Option<String> {
        if self.used_total >= self.quotas.total {
            return Some(format!(
                "quota reached: {} of {} submissions used in this phase",
                self.used_total, self.quotas.total
            ));
        }
        if self.used_today >= self.quotas.per_day {
            let next = self.next_slot_at.map(ts).unwrap_or_default();
            return Some(format!(
                "daily quota reached: {} of {} submissions in the last 24 h; next slot at {next}",
                self.used_today, self.quotas.per_day
            ));
        }
        None
    }

    /// Why no upload may even be validated now (too many refused uploads), if so.
    pub fn refused_cap(&self) -> Option<String> {
        (self.refused_today >= self.quotas.refused_per_day).then(|| {
            let next = self.next_refused_slot_at.map(ts).unwrap_or_default();
            format!(
                "too many refused uploads: {} in the last 24 h (limit {}); next attempt at {next}",
                self.refused_today, self.quotas.refused_per_day
            )
        })
    }
}

/// Uploads that count against the scored quota: accepted, not a baseline, not refunded, not
/// failed by the scorer (a crashed or failed run never costs the team a slot).
const COUNTED: &str = "phase_id = ? AND team_id = ? AND is_baseline = 0 AND refunded = 0
    AND status <> 'failed'";

/// The quota status of a team in a phase (inside a transaction when `conn` is one).
pub async fn quota_status(
    conn: &mut SqliteConnection,
    phase: &Phase,
    team_id: i64,
    now: DateTime<Utc>,
) -> DbResult<QuotaStatus> {
    let since = ts(now - Duration::hours(24));
    let pid = phase.id.as_str();
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM submissions WHERE {COUNTED}"
    )))
    .bind(pid)
    .bind(team_id)
    .fetch_one(&mut *conn)
    .await?;
    let (today, oldest): (i64, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*), MIN(created_at) FROM submissions WHERE {COUNTED} AND created_at > ?"
    )))
    .bind(pid)
    .bind(team_id)
    .bind(&since)
    .fetch_one(&mut *conn)
    .await?;
    let (refused, oldest_refused): (i64, Option<String>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM refused_uploads
         WHERE phase_id = ? AND team_id = ? AND created_at > ?",
    )
    .bind(pid)
    .bind(team_id)
    .bind(&since)
    .fetch_one(&mut *conn)
    .await?;
    let plus_day = |t: Option<String>| {
        t.and_then(|t| parse_ts(&t))
            .map(|t| t + Duration::hours(24))
    };
    Ok(QuotaStatus {
        quotas: phase.quotas,
        used_today: today as u32,
        used_total: total as u32,
        refused_today: refused as u32,
        next_slot_at: plus_day(oldest),
        next_refused_slot_at: plus_day(oldest_refused),
    })
}

/// Outcome of [`accept`].
#[derive(Debug)]
pub enum Accepted {
    /// Stored and queued.
    Queued {
        /// Internal sequence number.
        seq: i64,
    },
    /// Refused by a quota (one line for the team).
    OverQuota(String),
}

/// Checks the quotas and stores the submission with its scoring job, all in one
/// `BEGIN IMMEDIATE` transaction: SQLite lets one writer in at a time, so parallel uploads
/// see each other's rows and can never exceed a quota.
pub async fn accept(pool: &SqlitePool, phase: &Phase, new: &NewSubmission) -> DbResult<Accepted> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let now = Utc::now();
    if !new.is_baseline {
        let status = quota_status(&mut tx, phase, new.team_id, now).await?;
        if let Some(why) = status.refusal() {
            return Ok(Accepted::OverQuota(why));
        }
    }
    let seq = sqlx::query(
        "INSERT INTO submissions (id, phase_id, team_id, user_id, description, file_name,
             file_sha256, file_bytes, created_at, status, warnings, is_baseline, is_demo)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
    )
    .bind(new.id.as_str())
    .bind(&new.phase_id)
    .bind(new.team_id)
    .bind(new.user_id)
    .bind(&new.description)
    .bind(&new.file_name)
    .bind(&new.file_sha256)
    .bind(new.file_bytes as i64)
    .bind(ts(now))
    .bind(serde_json::to_string(&new.warnings).expect("strings serialize"))
    .bind(new.is_baseline)
    .bind(new.is_demo)
    .execute(&mut *tx)
    .await?
    .last_insert_rowid();
    super::jobs::enqueue(&mut tx, seq, new.reference_id, 1).await?;
    tx.commit().await?;
    Ok(Accepted::Queued { seq })
}

/// Records a refused upload (it counts against the refused-upload cap only).
pub async fn record_refused(
    pool: &SqlitePool,
    phase_id: &str,
    team_id: i64,
    error: &str,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO refused_uploads (phase_id, team_id, created_at, error) VALUES (?, ?, ?, ?)",
    )
    .bind(phase_id)
    .bind(team_id)
    .bind(ts(Utc::now()))
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Point scores and intervals of a submission against one reference version.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    /// Macro AP (ranking metric).
    #[serde(rename = "mAP")]
    pub map: Option<f64>,
    /// Macro AUROC.
    #[serde(rename = "mAUROC")]
    pub mauroc: Option<f64>,
    /// Macro F1.
    #[serde(rename = "mF1")]
    pub mf1: Option<f64>,
    /// Micro F1.
    #[serde(rename = "microF1")]
    pub micro_f1: Option<f64>,
    /// Macro ECE.
    #[serde(rename = "mECE")]
    pub mece: Option<f64>,
    /// Head mAP.
    #[serde(rename = "mAP_head")]
    pub map_head: Option<f64>,
    /// Medium mAP.
    #[serde(rename = "mAP_medium")]
    pub map_medium: Option<f64>,
    /// Tail mAP.
    #[serde(rename = "mAP_tail")]
    pub map_tail: Option<f64>,
    /// Mean of the group means.
    #[serde(rename = "mAP_group_avg")]
    pub map_group_avg: Option<f64>,
    /// mAP interval, low.
    #[serde(rename = "mAP_ci_low")]
    pub map_ci_low: Option<f64>,
    /// mAP interval, high.
    #[serde(rename = "mAP_ci_high")]
    pub map_ci_high: Option<f64>,
    /// mAUROC interval, low.
    #[serde(rename = "mAUROC_ci_low")]
    pub mauroc_ci_low: Option<f64>,
    /// mAUROC interval, high.
    #[serde(rename = "mAUROC_ci_high")]
    pub mauroc_ci_high: Option<f64>,
}

/// Columns of `scores` read into a [`ScoreSummary`] (table alias `s`).
pub const SCORE_COLUMNS: &str = "s.map, s.mauroc, s.mf1, s.micro_f1, s.mece, s.map_head,
    s.map_medium, s.map_tail, s.map_group_avg, s.map_ci_low, s.map_ci_high, s.mauroc_ci_low,
    s.mauroc_ci_high";

impl ScoreSummary {
    /// Reads the [`SCORE_COLUMNS`] of a row.
    pub fn from_row(r: &SqliteRow) -> ScoreSummary {
        ScoreSummary {
            map: r.get("map"),
            mauroc: r.get("mauroc"),
            mf1: r.get("mf1"),
            micro_f1: r.get("micro_f1"),
            mece: r.get("mece"),
            map_head: r.get("map_head"),
            map_medium: r.get("map_medium"),
            map_tail: r.get("map_tail"),
            map_group_avg: r.get("map_group_avg"),
            map_ci_low: r.get("map_ci_low"),
            map_ci_high: r.get("map_ci_high"),
            mauroc_ci_low: r.get("mauroc_ci_low"),
            mauroc_ci_high: r.get("mauroc_ci_high"),
        }
    }
}

/// Metrics of one label of a scored submission.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRow {
    /// Label.
    pub label: String,
    /// Prevalence group (`head`, `medium`, `tail`) if the task has groups.
    pub group: Option<String>,
    /// Reference positives.
    pub positives: i64,
    /// Reference negatives.
    pub negatives: i64,
    /// AP (`None` when the label is undefined).
    #[serde(rename = "AP")]
    pub ap: Option<f64>,
    /// AUROC.
    #[serde(rename = "AUROC")]
    pub auroc: Option<f64>,
    /// F1 at 0.5.
    #[serde(rename = "F1")]
    pub f1: Option<f64>,
    /// ECE.
    #[serde(rename = "ECE")]
    pub ece: Option<f64>,
    /// False-negative rate (critical findings).
    #[serde(rename = "FNR")]
    pub fnr: Option<f64>,
    /// Critical finding.
    pub critical: bool,
    /// AP interval, low.
    #[serde(rename = "AP_ci_low")]
    pub ap_ci_low: Option<f64>,
    /// AP interval, high.
    #[serde(rename = "AP_ci_high")]
    pub ap_ci_high: Option<f64>,
}

/// A submission as a viewer may see it.
#[derive(Debug, Clone, Serialize)]
pub struct SubmissionView {
    /// Public id.
    pub id: String,
    /// Phase id.
    pub phase: String,
    /// Team name.
    pub team: String,
    /// `queued`, `running`, `finished` or `failed`.
    pub status: String,
    /// Upload time (UTC).
    pub created_at: String,
    /// Place in the scoring queue (1 = next) while queued.
    pub queue_position: Option<i64>,
    /// Scores, when scored and visible to the viewer.
    pub scores: Option<ScoreSummary>,
    /// Per-class results, when visible (only filled by [`get_detail`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<ClassRow>>,
    /// The one-line reason of a failure.
    pub error: Option<String>,
    /// Validation notes.
    pub warnings: Vec<String>,
    /// Team's description.
    pub description: String,
    /// File name as uploaded.
    pub file_name: String,
    /// SHA-256 of the file.
    pub file_sha256: String,
    /// Organizer baseline.
    pub baseline: bool,
    /// Chosen by the team for the `selected` rule.
    pub selected: bool,
    /// Internal sequence number (never serialized).
    #[serde(skip)]
    pub seq: i64,
    /// Owning team (never serialized).
    #[serde(skip)]
    pub team_id: i64,
}

/// May `viewer` see the scores of a submission of `team_id` in `phase`? Organizers always;
/// the owning team unless the phase is hidden; anyone else only in a public phase.
pub fn scores_visible(phase: &Phase, viewer: &Viewer, team_id: i64) -> bool {
    match viewer {
        Viewer::Organizer { .. } => true,
        Viewer::Team { team_id: t, .. } if *t == team_id => {
            phase.effective_visibility() != Visibility::Hidden
        }
        _ => phase.effective_visibility() == Visibility::Public,
    }
}

/// May `viewer` see that a submission of `team_id` exists at all? Organizers and the owning
/// team only: a team never sees another team's submissions by id, whatever the phase.
pub fn submission_visible(viewer: &Viewer, team_id: i64) -> bool {
    match viewer {
        Viewer::Organizer { .. } => true,
        Viewer::Team { team_id: t, .. } => *t == team_id,
        Viewer::Anonymous => false,
    }
}

const VIEW_COLUMNS: &str = "b.seq, b.id, b.phase_id, b.team_id, tm.name AS team_name, b.status,
    b.created_at, b.error, b.warnings, b.description, b.file_name, b.file_sha256,
    b.is_baseline, b.selected";

fn view_from_row(r: &SqliteRow) -> SubmissionView {
    SubmissionView {
        id: r.get("id"),
        phase: r.get("phase_id"),
        team: r.get("team_name"),
        status: r.get("status"),
        created_at: r.get("created_at"),
        queue_position: None,
        scores: None,
        classes: None,
        error: r.get("error"),
        warnings: serde_json::from_str(r.get("warnings")).unwrap_or_default(),
        description: r.get("description"),
        file_name: r.get("file_name"),
        file_sha256: r.get("file_sha256"),
        baseline: r.get("is_baseline"),
        selected: r.get("selected"),
        seq: r.get("seq"),
        team_id: r.get("team_id"),
    }
}

/// Fills queue position and (when visible) scores of a submission.
async fn complete_view(
    pool: &SqlitePool,
    phase: &Phase,
    viewer: &Viewer,
    mut view: SubmissionView,
    with_classes: bool,
) -> DbResult<SubmissionView> {
    if view.status == "queued" {
        view.queue_position = super::jobs::queue_position(pool, view.seq).await?;
    }
    let Some(reference_id) = phase.active_reference_id else {
        return Ok(view);
    };
    if !scores_visible(phase, viewer, view.team_id) {
        return Ok(view);
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCORE_COLUMNS} FROM scores s WHERE s.submission_seq = ? AND s.reference_id = ?"
    )))
    .bind(view.seq)
    .bind(reference_id)
    .fetch_optional(pool)
    .await?;
    view.scores = row.as_ref().map(ScoreSummary::from_row);
    if with_classes && view.scores.is_some() {
        view.classes = Some(class_rows(pool, view.seq, reference_id).await?);
    }
    Ok(view)
}

/// Per-class results of a submission against a reference version.
pub async fn class_rows(pool: &SqlitePool, seq: i64, reference_id: i64) -> DbResult<Vec<ClassRow>> {
    let rows = sqlx::query(
        "SELECT label, grp, positives, negatives, ap, auroc, f1, ece, fnr, critical, ap_ci_low,
             ap_ci_high
         FROM class_results WHERE submission_seq = ? AND reference_id = ? ORDER BY position",
    )
    .bind(seq)
    .bind(reference_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| ClassRow {
            label: r.get("label"),
            group: r.get("grp"),
            positives: r.get("positives"),
            negatives: r.get("negatives"),
            ap: r.get("ap"),
            auroc: r.get("auroc"),
            f1: r.get("f1"),
            ece: r.get("ece"),
            fnr: r.get("fnr"),
            critical: r.get("critical"),
            ap_ci_low: r.get("ap_ci_low"),
            ap_ci_high: r.get("ap_ci_high"),
        })
        .collect())
}

/// A submission by public id, as `viewer` may see it: `None` when it does not exist or the
/// viewer may not see it (the two are indistinguishable on purpose). `with_classes` adds the
/// per-class table under the same visibility rule as the scores.
pub async fn get_for_viewer(
    pool: &SqlitePool,
    id: &SubmissionId,
    viewer: &Viewer,
    with_classes: bool,
) -> DbResult<Option<(Phase, SubmissionView)>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM submissions b JOIN teams tm ON tm.id = b.team_id
         WHERE b.id = ?"
    )))
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    let Some(view) = row.as_ref().map(view_from_row) else {
        return Ok(None);
    };
    if !submission_visible(viewer, view.team_id) {
        return Ok(None);
    }
    let phase_id = crate::domain::PhaseId::parse(&view.phase).expect("stored ids are valid");
    let phase = super::phases::get(pool, &phase_id)
        .await?
        .expect("foreign key");
    let view = complete_view(pool, &phase, viewer, view, with_classes).await?;
    Ok(Some((phase, view)))
}

/// A team's submissions in a phase, newest first, with visibility applied.
pub async fn list_for_team(
    pool: &SqlitePool,
    phase: &Phase,
    team_id: i64,
    viewer: &Viewer,
) -> DbResult<Vec<SubmissionView>> {
    if !submission_visible(viewer, team_id) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM submissions b JOIN teams tm ON tm.id = b.team_id
         WHERE b.phase_id = ? AND b.team_id = ? ORDER BY b.seq DESC"
    )))
    .bind(phase.id.as_str())
    .bind(team_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(complete_view(pool, phase, viewer, view_from_row(r), false).await?);
    }
    Ok(out)
}

/// Every submission of a phase (organizers only: callers check), oldest first.
pub async fn list_for_phase(pool: &SqlitePool, phase: &Phase) -> DbResult<Vec<SubmissionView>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM submissions b JOIN teams tm ON tm.id = b.team_id
         WHERE b.phase_id = ? ORDER BY b.seq"
    )))
    .bind(phase.id.as_str())
    .fetch_all(pool)
    .await?;
    let organizer = Viewer::Organizer { user_id: 0 };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(complete_view(pool, phase, &organizer, view_from_row(r), false).await?);
    }
    Ok(out)
}

/// Marks the submission the team wants on a `selected` leaderboard (unmarking its others).
/// Returns false when the submission is not the team's.
pub async fn select(pool: &SqlitePool, id: &SubmissionId, team_id: i64) -> DbResult<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let phase: Option<String> =
        sqlx::query_scalar("SELECT phase_id FROM submissions WHERE id = ? AND team_id = ?")
            .bind(id.as_str())
            .bind(team_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(phase) = phase else {
        return Ok(false);
    };
    sqlx::query("UPDATE submissions SET selected = (id = ?) WHERE phase_id = ? AND team_id = ?")
        .bind(id.as_str())
        .bind(&phase)
        .bind(team_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Gives a submission's quota slot back (organizer refund).
pub async fn refund(pool: &SqlitePool, id: &SubmissionId) -> DbResult<bool> {
    let done = sqlx::query("UPDATE submissions SET refunded = 1 WHERE id = ?")
        .bind(id.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a submission as an organizer baseline (shown, never ranked) or back.
pub async fn set_baseline(pool: &SqlitePool, id: &SubmissionId, baseline: bool) -> DbResult<bool> {
    let done = sqlx::query("UPDATE submissions SET is_baseline = ? WHERE id = ?")
        .bind(baseline)
        .bind(id.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
