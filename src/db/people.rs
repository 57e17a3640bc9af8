//! Teams, users (team members and organizers), API tokens and sessions.

use chrono::{Duration, Utc};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::DbResult;
use crate::auth::{hash_password, new_secret, secret_hash, verify_password};
use crate::domain::{ts, Login, NameError, Password, TeamName, Viewer};

/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 14;

fn taken(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// Inserts a team; `Err(NameError)` when the name is taken.
async fn insert_team(
    conn: &mut SqliteConnection,
    name: &TeamName,
    approved: bool,
) -> DbResult<Result<i64, NameError>> {
    let done = sqlx::query("INSERT INTO teams (name, approved, created_at) VALUES (?, ?, ?)")
        .bind(name.as_str())
        .bind(approved)
        .bind(ts(Utc::now()))
        .execute(conn)
        .await;
    match done {
        Ok(r) => Ok(Ok(r.last_insert_rowid())),
        Err(e) if taken(&e) => Ok(Err(NameError(format!(
            "team name \"{name}\" is already taken"
        )))),
        Err(e) => Err(e),
    }
}

/// Creates a team; `Err(NameError)` when the name is taken.
pub async fn create_team(
    pool: &SqlitePool,
    name: &TeamName,
    approved: bool,
) -> DbResult<Result<i64, NameError>> {
    let mut conn = pool.acquire().await?;
    insert_team(&mut conn, name, approved).await
}

/// Hashes a password on a blocking thread: argon2 takes long enough that hashing on the
/// async executor stalls every other request of that HTTP worker (under a burst of
/// registrations, clients saw their connections reset).
async fn hash_off_executor(password: &Password) -> String {
    let password = password.clone();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("argon2 with default parameters does not panic")
}

/// Registers a team and its first member, waiting for an organizer's approval.
pub async fn register_team(
    pool: &SqlitePool,
    name: &TeamName,
    login: &Login,
    password: &Password,
) -> DbResult<Result<(i64, i64), NameError>> {
    let phc = hash_off_executor(password).await;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let team_id = match insert_team(&mut tx, name, false).await? {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let user = sqlx::query(
        "INSERT INTO users (login, password_hash, team_id, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(login.as_str())
    .bind(&phc)
    .bind(team_id)
    .bind(ts(Utc::now()))
    .execute(&mut *tx)
    .await;
    let user_id = match user {
        Ok(r) => r.last_insert_rowid(),
        Err(e) if taken(&e) => {
            return Ok(Err(NameError(format!(
                "login \"{login}\" is already taken"
            ))))
        }
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    Ok(Ok((team_id, user_id)))
}

/// Approves a team; false when there is no such team.
pub async fn approve_team(pool: &SqlitePool, team_id: i64) -> DbResult<bool> {
    let done = sqlx::query("UPDATE teams SET approved = 1 WHERE id = ?")
        .bind(team_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A team as listed to organizers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TeamRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Approved by an organizer.
    pub approved: bool,
    /// Registration time.
    pub created_at: String,
}

/// Every team, waiting ones first.
pub async fn list_teams(pool: &SqlitePool) -> DbResult<Vec<TeamRow>> {
    let rows = sqlx::query(
        "SELECT id, name, approved, created_at FROM teams ORDER BY approved, created_at, id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| TeamRow {
            id: r.get("id"),
            name: r.get("name"),
            approved: r.get("approved"),
            created_at: r.get("created_at"),
        })
        .collect())
}

/// A team by id.
pub async fn team(pool: &SqlitePool, team_id: i64) -> DbResult<Option<TeamRow>> {
    let row = sqlx::query("SELECT id, name, approved, created_at FROM teams WHERE id = ?")
        .bind(team_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| TeamRow {
        id: r.get("id"),
        name: r.get("name"),
        approved: r.get("approved"),
        created_at: r.get("created_at"),
    }))
}

/// A team id by name.
pub async fn team_id_by_name(pool: &SqlitePool, name: &str) -> DbResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM teams WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// Creates an organizer (password optional: token-only organizers have none).
pub async fn create_organizer(
    pool: &SqlitePool,
    login: &Login,
    password: Option<&Password>,
) -> DbResult<Result<i64, NameError>> {
    let phc = match password {
        Some(p) => Some(hash_off_executor(p).await),
        None => None,
    };
    let done = sqlx::query(
        "INSERT INTO users (login, password_hash, is_organizer, created_at) VALUES (?, ?, 1, ?)",
    )
    .bind(login.as_str())
    .bind(phc)
    .bind(ts(Utc::now()))
    .execute(pool)
    .await;
    match done {
        Ok(r) => Ok(Ok(r.last_insert_rowid())),
        Err(e) if taken(&e) => Ok(Err(NameError(format!(
            "login \"{login}\" is already taken"
        )))),
        Err(e) => Err(e),
    }
}

/// True when at least one organizer exists.
pub async fn has_organizer(pool: &SqlitePool) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_organizer = 1")
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// Who an API token acts for.
#[derive(Debug, Clone, Copy)]
pub enum TokenOwner {
    /// A team.
    Team(i64),
    /// An organizer (user id).
    Organizer(i64),
}

/// Creates an API token and returns it; only its hash is stored, so this is the one time
/// it can be shown.
pub async fn create_token(pool: &SqlitePool, owner: TokenOwner, label: &str) -> DbResult<String> {
    let token = new_secret();
    let (team, organizer) = match owner {
        TokenOwner::Team(t) => (Some(t), None),
        TokenOwner::Organizer(u) => (None, Some(u)),
    };
    sqlx::query(
        "INSERT INTO api_tokens (token_sha256, team_id, organizer_id, label, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(secret_hash(&token))
    .bind(team)
    .bind(organizer)
    .bind(label)
    .bind(ts(Utc::now()))
    .execute(pool)
    .await?;
    Ok(token)
}

/// The viewer behind an API token, if the token exists.
pub async fn viewer_for_token(pool: &SqlitePool, token: &str) -> DbResult<Option<Viewer>> {
    let row = sqlx::query(
        "SELECT k.team_id, k.organizer_id, t.approved FROM api_tokens k
         LEFT JOIN teams t ON t.id = k.team_id WHERE k.token_sha256 = ?",
    )
    .bind(secret_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| match r.get::<Option<i64>, _>("team_id") {
        Some(team_id) => Viewer::Team {
            team_id,
            user_id: None,
            approved: r.get::<Option<bool>, _>("approved").unwrap_or(false),
        },
        None => Viewer::Organizer {
            user_id: r.get("organizer_id"),
        },
    }))
}

/// A real argon2 hash of an unknown password, verified when a login does not exist.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Checks a login and password; the viewer on success. Takes the same time whether or not
/// the login exists (a dummy hash is verified), so logins cannot be enumerated by timing.
pub async fn check_login(pool: &SqlitePool, login: &str, password: &str) -> DbResult<Option<i64>> {
    let row = sqlx::query("SELECT id, password_hash FROM users WHERE login = ?")
        .bind(login)
        .fetch_optional(pool)
        .await?;
    let (id, phc) = match row {
        Some(r) => (
            Some(r.get::<i64, _>("id")),
            r.get::<Option<String>, _>("password_hash"),
        ),
        None => (None, None),
    };
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        let dummy = DUMMY_HASH
            .get_or_init(|| hash_password(&Password::parse(&new_secret()).expect("64 hex digits")));
        verify_password(&password, phc.as_deref().unwrap_or(dummy)) && phc.is_some()
    })
    .await
    .unwrap_or(false);
    Ok(id.filter(|_| ok))
}

/// A new session for `user_id`: returns (session id for the cookie, CSRF token).
pub async fn create_session(pool: &SqlitePool, user_id: i64) -> DbResult<(String, String)> {
    let id = new_secret();
    let csrf = new_secret();
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(secret_hash(&id))
    .bind(user_id)
    .bind(&csrf)
    .bind(ts(now))
    .bind(ts(now + Duration::days(SESSION_DAYS)))
    .execute(pool)
    .await?;
    Ok((id, csrf))
}

/// Ends a session.
pub async fn delete_session(pool: &SqlitePool, session_id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id_sha256 = ?")
        .bind(secret_hash(session_id))
        .execute(pool)
        .await?;
    Ok(())
}

/// The CSRF token of a live session.
pub async fn session_csrf(pool: &SqlitePool, session_id: &str) -> DbResult<Option<String>> {
    sqlx::query_scalar("SELECT csrf_token FROM sessions WHERE id_sha256 = ? AND expires_at > ?")
        .bind(secret_hash(session_id))
        .bind(ts(Utc::now()))
        .fetch_optional(pool)
        .await
}

/// The viewer behind a live session.
pub async fn viewer_for_session(pool: &SqlitePool, session_id: &str) -> DbResult<Option<Viewer>> {
    let row = sqlx::query(
        "SELECT u.id, u.team_id, u.is_organizer, t.approved FROM sessions s
         JOIN users u ON u.id = s.user_id LEFT JOIN teams t ON t.id = u.team_id
         WHERE s.id_sha256 = ? AND s.expires_at > ?",
    )
    .bind(secret_hash(session_id))
    .bind(ts(Utc::now()))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        let user_id: i64 = r.get("id");
        if r.get::<bool, _>("is_organizer") {
            return Some(Viewer::Organizer { user_id });
        }
        let team_id: Option<i64> = r.get("team_id");
        team_id.map(|team_id| Viewer::Team {
            team_id,
            user_id: Some(user_id),
            approved: r.get::<Option<bool>, _>("approved").unwrap_or(false),
        })
    }))
}

/// Name of the team that holds organizer baselines.
pub const BASELINE_TEAM: &str = "Organizers (baselines)";

/// The team that holds organizer baselines, created on first use.
pub async fn baseline_team(pool: &SqlitePool) -> DbResult<i64> {
    sqlx::query(
        "INSERT INTO teams (name, approved, created_at) VALUES (?, 1, ?)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(BASELINE_TEAM)
    .bind(ts(Utc::now()))
    .execute(pool)
    .await?;
    sqlx::query_scalar("SELECT id FROM teams WHERE name = ?")
        .bind(BASELINE_TEAM)
        .fetch_one(pool)
        .await
}

/// Whom a user's API tokens act for, and whether that account may act yet (approved team).
pub async fn user_owner(pool: &SqlitePool, user_id: i64) -> DbResult<Option<(TokenOwner, bool)>> {
    let row = sqlx::query(
        "SELECT u.is_organizer, u.team_id, t.approved FROM users u
         LEFT JOIN teams t ON t.id = u.team_id WHERE u.id = ?",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|r| {
        if r.get::<bool, _>("is_organizer") {
            return Some((TokenOwner::Organizer(user_id), true));
        }
        let team: Option<i64> = r.get("team_id");
        team.map(|t| {
            (
                TokenOwner::Team(t),
                r.get::<Option<bool>, _>("approved").unwrap_or(false),
            )
        })
    }))
}
