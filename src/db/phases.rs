//! Reading phases and the competition.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::DbResult;
use crate::domain::{parse_ts, LeaderboardRule, Phase, PhaseId, Quotas, TaskDef, Visibility};

const PHASE_COLUMNS: &str = "p.id, p.task_id, t.name AS task_name, p.name, p.starts_at,
    p.ends_at, p.visibility, p.revealed, p.rule, p.quota_per_day, p.quota_total,
    p.refused_per_day, p.bootstrap_replicates, p.active_reference_id, p.anonymous, t.builtin, t.task_toml";

fn phase_from_row(row: &SqliteRow) -> Phase {
    let builtin: Option<i64> = row.get("builtin");
    let task = match builtin {
        Some(n) => TaskDef::Builtin(n as u8),
        None => TaskDef::Custom(row.get("task_toml")),
    };
    let time = |col: &str| parse_ts(row.get::<&str, _>(col)).expect("stored by ts()");
    Phase {
        id: PhaseId::parse(row.get("id")).expect("stored ids are valid"),
        task_id: row.get("task_id"),
        task_name: row.get("task_name"),
        name: row.get("name"),
        starts_at: time("starts_at"),
        ends_at: time("ends_at"),
        visibility: Visibility::parse(row.get("visibility")).expect("CHECK constraint"),
        revealed: row.get("revealed"),
        rule: LeaderboardRule::parse(row.get("rule")).expect("CHECK constraint"),
        quotas: Quotas {
            per_day: row.get::<i64, _>("quota_per_day") as u32,
            total: row.get::<i64, _>("quota_total") as u32,
            refused_per_day: row.get::<i64, _>("refused_per_day") as u32,
        },
        bootstrap_replicates: row.get::<i64, _>("bootstrap_replicates") as u32,
        active_reference_id: row.get("active_reference_id"),
        anonymous: row.get("anonymous"),
        task,
    }
}

/// One phase by id.
pub async fn get(pool: &SqlitePool, id: &PhaseId) -> DbResult<Option<Phase>> {
    let sql = format!(
        "SELECT {PHASE_COLUMNS} FROM phases p JOIN tasks t ON t.id = p.task_id WHERE p.id = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(phase_from_row))
}

/// Every phase, in task then phase order.
pub async fn list(pool: &SqlitePool) -> DbResult<Vec<Phase>> {
    let sql = format!(
        "SELECT {PHASE_COLUMNS} FROM phases p JOIN tasks t ON t.id = p.task_id
         ORDER BY t.position, p.position"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(phase_from_row).collect())
}

/// The competition's identity.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompetitionRow {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// True when the reference labels are the synthetic demo.
    pub is_demo: bool,
}

/// The (single) competition of this data folder.
pub async fn competition(pool: &SqlitePool) -> DbResult<Option<CompetitionRow>> {
    let row = sqlx::query("SELECT id, title, description, is_demo FROM competitions LIMIT 1")
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| CompetitionRow {
        id: r.get("id"),
        title: r.get("title"),
        description: r.get("description"),
        is_demo: r.get("is_demo"),
    }))
}

/// Makes a phase public (organizer reveal). Returns false when the phase does not exist.
pub async fn reveal(pool: &SqlitePool, id: &PhaseId) -> DbResult<bool> {
    let done = sqlx::query("UPDATE phases SET revealed = 1 WHERE id = ?")
        .bind(id.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
