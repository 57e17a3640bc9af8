//! The `tailboard admin ...` commands. They open the same data folder as a running server
//! (SQLite in WAL mode lets both work at once; writers wait for each other) and change it
//! only through `db` functions, so the server sees the change on its next read.

use std::path::Path;

use sqlx::SqlitePool;

use crate::db;
use crate::db::people::TokenOwner;
use crate::db::references::RefVersion;
use crate::domain::{Login, Phase, PhaseId, TeamName};
use crate::store::DataDir;

/// Why an admin command failed (one line for the organizer).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input (names, ids, labels file).
    #[error("{0}")]
    Refused(String),
    /// Database or disk failure.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        AdminError::Other(e.into())
    }
}

/// Opens a data folder that must already hold a database (so a typo in `--data` does not
/// silently create an empty competition).
pub async fn open(data: &Path) -> Result<(DataDir, SqlitePool), AdminError> {
    let store = DataDir::open(data).map_err(|e| AdminError::Other(e.into()))?;
    if !store.database().exists() {
        return Err(AdminError::Refused(format!(
            "{} holds no tailboard database; start `tailboard serve --data {}` once first",
            data.display(),
            data.display()
        )));
    }
    let pool = db::connect(&store.database()).await?;
    Ok((store, pool))
}

/// Creates an approved team and returns its API token.
pub async fn create_team(pool: &SqlitePool, name: &str) -> Result<String, AdminError> {
    let name = TeamName::parse(name).map_err(|e| AdminError::Refused(e.0))?;
    let team_id = db::people::create_team(pool, &name, true)
        .await?
        .map_err(|e| AdminError::Refused(e.0))?;
    Ok(db::people::create_token(pool, TokenOwner::Team(team_id), "admin create-team").await?)
}

/// Creates an organizer (token only, no password) and returns the API token.
pub async fn create_organizer(pool: &SqlitePool, name: &str) -> Result<String, AdminError> {
    let login = Login::parse(name).map_err(|e| AdminError::Refused(e.0))?;
    let user_id = db::people::create_organizer(pool, &login, None)
        .await?
        .map_err(|e| AdminError::Refused(e.0))?;
    Ok(db::people::create_token(
        pool,
        TokenOwner::Organizer(user_id),
        "admin create-organizer",
    )
    .await?)
}

/// The phase with this id, or a one-line refusal.
pub async fn phase(pool: &SqlitePool, raw: &str) -> Result<Phase, AdminError> {
    let missing = || AdminError::Refused(format!("no phase \"{raw}\""));
    let id = PhaseId::parse(raw).ok_or_else(missing)?;
    db::phases::get(pool, &id).await?.ok_or_else(missing)
}

/// Checks labels CSV bytes with the engine, stores them and adds a reference version; every
/// submission of the phase is queued for re-scoring.
pub async fn add_reference(
    pool: &SqlitePool,
    store: &DataDir,
    phase: &Phase,
    bytes: Vec<u8>,
    is_demo: bool,
) -> Result<RefVersion, AdminError> {
    let task = phase.task.task();
    let store2 = store.clone();
    let (rows, sha) = tokio::task::spawn_blocking(move || -> Result<_, AdminError> {
        let reference = scoring::reference::Reference::parse(&bytes, Some(task))
            .map_err(|e| AdminError::Refused(e.to_string()))?;
        let sha = store2
            .put(&bytes)
            .map_err(|e| AdminError::Other(e.into()))?;
        Ok((reference.len(), sha))
    })
    .await
    .map_err(|e| AdminError::Other(e.into()))??;
    Ok(db::references::add_version(pool, &phase.id, &sha, rows, is_demo).await?)
}

/// `load-reference --phase ID FILE.csv`.
pub async fn load_reference(
    store: &DataDir,
    pool: &SqlitePool,
    phase_id: &str,
    file: &Path,
) -> Result<RefVersion, AdminError> {
    let phase = phase(pool, phase_id).await?;
    let bytes = std::fs::read(file)
        .map_err(|e| AdminError::Refused(format!("cannot read {}: {e}", file.display())))?;
    add_reference(pool, store, &phase, bytes, false).await
}

/// `reveal --phase ID`.
pub async fn reveal(pool: &SqlitePool, phase_id: &str) -> Result<(), AdminError> {
    let phase = phase(pool, phase_id).await?;
    db::phases::reveal(pool, &phase.id).await?;
    Ok(())
}
