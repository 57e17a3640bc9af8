//! Every SQL statement of the server. Routes and workers call these functions; nothing else
//! writes SQL. Reads that show scores take a [`Viewer`](crate::domain::Viewer) and apply
//! visibility here, so no page, API route or export can forget it.

pub mod jobs;
pub mod leaderboard;
pub mod pages;
pub mod people;
pub mod phases;
pub mod references;
pub mod seed;
pub mod submissions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};

/// Result of a database call.
pub type DbResult<T> = Result<T, sqlx::Error>;

/// Opens (creating when missing) the database at `path` in WAL mode and applies the
/// migrations. Several processes may open it at once (the server and the admin commands):
/// writers wait for each other up to the busy timeout instead of failing.
pub async fn connect(path: &Path) -> anyhow::Result<SqlitePool> {
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options(path)?)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// How every connection to the database at `path` is opened.
fn options(path: &Path) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, not NORMAL: in WAL mode NORMAL may roll back the last commits after a power
        // cut, and a 202 promises the team that their submission is kept. One more fsync per
        // commit is small next to the upload's own fsync.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30)))
}

/// A connection of its own to the database at `path`, outside the pool (for
/// [`leaderboard::BoardCache`], which must never write through it).
pub async fn single_connection(path: &Path) -> anyhow::Result<SqliteConnection> {
    Ok(options(path)?.connect().await?)
}

/// Writes a consistent copy of the live database to `out` (works while the server runs).
pub async fn backup(pool: &SqlitePool, out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!("{} already exists; choose a new file", out.display());
    }
    sqlx::query("VACUUM INTO ?")
        .bind(out.display().to_string())
        .execute(pool)
        .await?;
    Ok(())
}
