//! Writes the competition definition into the database at start.

use chrono::{Duration, Utc};
use sqlx::SqlitePool;

use super::DbResult;
use crate::config::CompetitionConfig;
use crate::domain::ts;

/// Inserts or updates the competition, its tasks and phases. Phases without explicit
/// instants keep the ones chosen when they were first seeded; nothing is ever deleted (a
/// phase dropped from the file keeps its submissions).
pub async fn seed(pool: &SqlitePool, config: &CompetitionConfig, is_demo: bool) -> DbResult<()> {
    let now = Utc::now();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let info = &config.competition;
    sqlx::query(
        "INSERT INTO competitions (id, title, description, is_demo, created_at, pseudonym_secret)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title,
             description = excluded.description, is_demo = excluded.is_demo",
    )
    .bind(&info.id)
    .bind(&info.title)
    .bind(&info.description)
    .bind(is_demo)
    .bind(ts(now))
    // Kept on updates: double-blind pseudonyms stay stable across restarts.
    .bind(crate::auth::new_secret())
    .execute(&mut *tx)
    .await?;
    for (t, task) in config.tasks.iter().enumerate() {
        sqlx::query(
            "INSERT INTO tasks (id, competition_id, position, name, builtin, task_toml)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET position = excluded.position, name = excluded.name,
                 builtin = excluded.builtin, task_toml = excluded.task_toml",
        )
        .bind(&task.id)
        .bind(&info.id)
        .bind(t as i64)
        .bind(&task.name)
        .bind(task.builtin.map(i64::from))
        .bind(&task.task_toml_text)
        .execute(&mut *tx)
        .await?;
        for (p, phase) in task.phases.iter().enumerate() {
            let start = phase.start.unwrap_or(now);
            let end = phase.end.unwrap_or(start + Duration::days(120));
            sqlx::query(
                "INSERT INTO phases (id, task_id, position, name, starts_at, ends_at, visibility,
                     rule, quota_per_day, quota_total, refused_per_day, bootstrap_replicates,
                     anonymous)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET task_id = excluded.task_id,
                     position = excluded.position, name = excluded.name,
                     visibility = excluded.visibility, rule = excluded.rule,
                     quota_per_day = excluded.quota_per_day, quota_total = excluded.quota_total,
                     refused_per_day = excluded.refused_per_day,
                     bootstrap_replicates = excluded.bootstrap_replicates,
                     anonymous = excluded.anonymous",
            )
            .bind(phase.id.as_str())
            .bind(&task.id)
            .bind(p as i64)
            .bind(&phase.name)
            .bind(ts(start))
            .bind(ts(end))
            .bind(phase.visibility.as_str())
            .bind(phase.rule.as_str())
            .bind(phase.quota_per_day)
            .bind(phase.quota_total)
            .bind(phase.refused_per_day)
            .bind(phase.bootstrap)
            .bind(phase.anonymous)
            .execute(&mut *tx)
            .await?;
            if let Some(start) = phase.start {
                sqlx::query("UPDATE phases SET starts_at = ? WHERE id = ?")
                    .bind(ts(start))
                    .bind(phase.id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(end) = phase.end {
                sqlx::query("UPDATE phases SET ends_at = ? WHERE id = ?")
                    .bind(ts(end))
                    .bind(phase.id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await
}
