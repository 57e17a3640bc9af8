//! Small reads the web pages need beyond what the API uses: who is signed in, and which
//! submissions an organizer refunded.

use std::collections::HashSet;

use sqlx::SqlitePool;

use super::DbResult;

/// The login name of a user.
pub async fn user_login(pool: &SqlitePool, user_id: i64) -> DbResult<Option<String>> {
    sqlx::query_scalar("SELECT login FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Public ids of the refunded submissions of a phase (organizer pages).
pub async fn refunded_ids(pool: &SqlitePool, phase_id: &str) -> DbResult<HashSet<String>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM submissions WHERE phase_id = ? AND refunded = 1")
            .bind(phase_id)
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().collect())
}
