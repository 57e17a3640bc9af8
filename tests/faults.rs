//! Server-side faults: a disk that cannot take an upload answers a clean one-line error and
//! records nothing, and a database locked by other writers is waited for, never a 500.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, Row};

/// Rows of a table, read through the server's own pool.
async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

/// A real failing write in the worker's transaction: the database aborts every insert of
/// scores until the trigger is dropped.
const REFUSE_SCORES: &str = "CREATE TRIGGER refuse_scores BEFORE INSERT ON scores
    BEGIN SELECT RAISE(ABORT, 'simulated storage fault'); END";

/// The write that puts a job back in the queue fails too.
const REFUSE_REQUEUE: &str = "CREATE TRIGGER refuse_requeue BEFORE UPDATE ON jobs
    WHEN OLD.status = 'running' AND NEW.status = 'queued'
    BEGIN SELECT RAISE(ABORT, 'simulated storage fault'); END";

/// Runs statements on the server's own pool.
async fn execute(app: &TestApp, statements: &[&str]) {
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&app.state.pool)
            .await
            .unwrap();
    }
}

/// Waits for submission `id`, which met a storage fault, and checks it ended scored with its
/// one job run once as far as crashes go (the fault's retries are not counted).
async fn scored_once_after_the_fault(app: &TestApp, id: &str) {
    let v = app.wait_scored(id).await;
    assert_eq!(v["status"], "finished", "{v}");
    assert!(v["error"].is_null(), "{v}");
    let (attempts, error): (i64, Option<String>) =
        sqlx::query_as("SELECT attempts, error FROM jobs WHERE stage = 1")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert_eq!(
        attempts, 1,
        "retries after a storage fault are not counted as crashes"
    );
    assert!(error.is_none());
}

/// Uploads once with the disk broken and checks the answer: 507, one line of JSON, nothing
/// recorded, nothing charged, the server still answering.
async fn upload_fails_cleanly(app: &TestApp, token: &str, file: &[u8], before: (i64, i64)) {
    let r = app.upload("pub", Some(token), file).await;
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body = r.text().await.unwrap();
    assert!(!body.contains('\n'), "one line: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("could not write the upload to its disk")
            && error.contains("no quota was used"),
        "{error}"
    );
    // The OS error and the server's paths stay in the log.
    assert!(!error.contains(&app.dir.display().to_string()), "{error}");
    assert_eq!(
        (
            count(app, "submissions").await,
            count(app, "refused_uploads").await
        ),
        before,
        "a disk fault stores no submission and charges neither quota"
    );
    let board = app.get("/api/v1/phases/pub/leaderboard", Some(token)).await;
    assert_eq!(board.status(), StatusCode::OK, "the server keeps serving");
}

#[tokio::test]
async fn a_disk_that_cannot_take_the_upload_gives_a_clean_507_and_records_nothing() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 51);
    app.load_reference("pub", &data.reference_csv).await;
    let token = app.team("Disk Fault").await;
    let file = |seed| task3_submission(&data, &task, 1.0, seed).into_bytes();
    let first = app.submit("pub", &token, &file(1)).await;
    app.wait_scored(&first).await;
    let before = (1, 0);

    // Tests run as root, so permissions would not stop a write. A regular file where a
    // folder should be makes every create below it fail (ENOTDIR), as a failing disk would.
    // Fault 1: the folder receiving uploads.
    let tmp = app.dir.join("tmp");
    std::fs::remove_dir(&tmp).unwrap();
    std::fs::write(&tmp, b"not a folder").unwrap();
    upload_fails_cleanly(&app, &token, &file(2), before).await;
    std::fs::remove_file(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();

    // Fault 2: the store itself, after the upload was received and validated.
    let files = app.dir.join("files");
    let moved = app.dir.join("files.moved");
    std::fs::rename(&files, &moved).unwrap();
    std::fs::write(&files, b"not a folder").unwrap();
    upload_fails_cleanly(&app, &token, &file(3), before).await;
    assert!(
        files_below(&tmp).is_empty(),
        "the received file is removed when it cannot be stored"
    );
    std::fs::remove_file(&files).unwrap();
    std::fs::rename(&moved, &files).unwrap();

    // The fault removed, uploads work again and the quota shows only the scored ones.
    let second = app.submit("pub", &token, &file(4)).await;
    let v = app.wait_scored(&second).await;
    assert_eq!(v["status"], "finished", "{v}");
    let competition = app.get_json("/api/v1/competition", Some(&token)).await;
    assert!(competition.is_object());
    assert_eq!(count(&app, "submissions").await, 2);
    assert_eq!(count(&app, "refused_uploads").await, 0);
    // Two content-addressed submission files plus the labels: nothing from the failed ones.
    assert_eq!(files_below(&files).len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn many_writers_and_a_writer_holding_the_database_lock_are_waited_for_never_a_500() {
    // 30 registrations from one address: above the default hourly limit.
    let app = Arc::new(
        spawn_app_changed(|s| {
            s.workers = 2;
            s.registrations_per_hour = 100;
        })
        .await,
    );
    let (data, task) = task3_data(150, 61);
    app.load_reference("pub", &data.reference_csv).await;
    // Teams that upload (5 a day each) and teams waiting for approval.
    let mut uploaders = Vec::new();
    for n in 0..8 {
        uploaders.push(app.team(&format!("Writer {n}")).await);
    }
    let mut waiting = Vec::new();
    for n in 0..10 {
        let r = app
            .post_json(
                "/api/v1/register",
                &serde_json::json!({"team": format!("Pending {n}"), "login": format!("pending{n}"),
                    "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        waiting.push(
            r.json::<Value>().await.unwrap()["team_id"]
                .as_i64()
                .unwrap(),
        );
    }
    let first_ids: Vec<String> = {
        let mut ids = Vec::new();
        for (n, token) in uploaders.iter().enumerate() {
            let file = task3_submission(&data, &task, 1.0, 100 + n as u64);
            ids.push(app.submit("pub", token, file.as_bytes()).await);
        }
        ids
    };

    // Another process's writer takes the write lock and keeps it for 3 s while 62 writes
    // arrive: 24 uploads, 20 registrations, 10 approvals, 8 selections.
    let db = app.dir.join("tailboard.sqlite");
    let mut external = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut external)
        .await
        .unwrap();
    sqlx::query("UPDATE competitions SET description = description || ' '")
        .execute(&mut external)
        .await
        .unwrap();
    // A reader of its own (the server's pooled connections are all busy waiting to write).
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    const ROWS: &str = "SELECT (SELECT COUNT(*) FROM submissions) + (SELECT COUNT(*) FROM users)
        + (SELECT COUNT(*) FROM teams WHERE approved = 1)";
    let rows_before: i64 = sqlx::query_scalar(ROWS)
        .fetch_one(&mut reader)
        .await
        .unwrap();
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Readers are never blocked in WAL mode: nothing got written while the lock was held.
        let rows: i64 = sqlx::query_scalar(ROWS)
            .fetch_one(&mut reader)
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(&mut external).await.unwrap();
        rows
    });

    type Call = tokio::task::JoinHandle<(&'static str, StatusCode, String)>;
    let mut calls: Vec<Call> = Vec::new();
    for (n, token) in uploaders.iter().enumerate() {
        for k in 0..3 {
            let (app, token) = (app.clone(), token.clone());
            let file = task3_submission(&data, &task, 0.8, (n * 10 + k) as u64);
            calls.push(tokio::spawn(async move {
                let r = app.upload("pub", Some(&token), file.as_bytes()).await;
                ("upload", r.status(), r.text().await.unwrap())
            }));
        }
    }
    for n in 0..20 {
        let app = app.clone();
        calls.push(tokio::spawn(async move {
            let body = serde_json::json!({"team": format!("Newcomer {n}"),
                "login": format!("newcomer{n}"), "password": "correct horse battery"});
            let r = app.post_json("/api/v1/register", &body).await;
            ("register", r.status(), r.text().await.unwrap())
        }));
    }
    for team_id in &waiting {
        let (app, path) = (app.clone(), format!("/api/v1/teams/{team_id}/approve"));
        calls.push(tokio::spawn(async move {
            let r = app.post(&path, Some(&app.organizer)).await;
            ("approve", r.status(), r.text().await.unwrap())
        }));
    }
    for (id, token) in first_ids.iter().zip(&uploaders) {
        let (app, token) = (app.clone(), token.clone());
        let path = format!("/api/v1/submissions/{id}/select");
        calls.push(tokio::spawn(async move {
            let r = app.post(&path, Some(&token)).await;
            ("select", r.status(), r.text().await.unwrap())
        }));
    }
    let answers: Vec<_> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let rows_at_commit = holder.await.unwrap();
    assert_eq!(
        rows_at_commit, rows_before,
        "the writers waited for the external lock"
    );
    assert_eq!(answers.len(), 62);
    for (what, status, body) in &answers {
        let expected = match *what {
            "upload" => StatusCode::ACCEPTED,
            "register" => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        assert_eq!(*status, expected, "{what}: {body}");
    }

    // Every accepted write is stored.
    let pool = &app.state.pool;
    assert_eq!(count(&app, "submissions").await, 8 + 24);
    let approved: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM teams WHERE approved = 1 AND name LIKE 'Pending %'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(approved, 10);
    let newcomers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE login LIKE 'newcomer%'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(newcomers, 20);
    let selected: Vec<String> = sqlx::query("SELECT id FROM submissions WHERE selected = 1")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect();
    let mut expected = first_ids.clone();
    expected.sort();
    let mut selected = selected;
    selected.sort();
    assert_eq!(selected, expected);
    let description: String = sqlx::query_scalar("SELECT description FROM competitions")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(description.ends_with(' '), "the external write is kept too");

    // The scoring workers wrote through the same contention: everything ends scored once.
    app.wait_idle().await;
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM submissions GROUP BY status")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(states, [("finished".to_string(), 32)]);
    let writes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scores WHERE writes = 1")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(writes, 32);
}

#[tokio::test]
async fn a_score_the_database_refuses_is_queued_again_not_failed() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 81);
    app.load_reference("pub", &data.reference_csv).await;
    let token = app.team("Unlucky").await;
    execute(&app, &[REFUSE_SCORES]).await;
    let id = app
        .submit(
            "pub",
            &token,
            task3_submission(&data, &task, 1.0, 9).as_bytes(),
        )
        .await;
    let mut reason = None;
    for _ in 0..600 {
        reason = sqlx::query_scalar::<_, Option<String>>(
            "SELECT error FROM jobs WHERE stage = 1 AND status = 'queued'",
        )
        .fetch_optional(&app.state.pool)
        .await
        .unwrap()
        .flatten();
        if reason.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason = reason.expect("the refused result put the job back in the queue");
    assert!(reason.contains("simulated storage fault"), "{reason}");
    let v = app
        .get_json(&format!("/api/v1/submissions/{id}"), Some(&token))
        .await;
    assert!(
        matches!(v["status"].as_str(), Some("queued" | "running")),
        "a server fault never fails the team's submission: {v}"
    );

    execute(&app, &["DROP TRIGGER refuse_scores"]).await;
    scored_once_after_the_fault(&app, &id).await;
    app.stop().await;
}

#[tokio::test]
async fn a_job_whose_requeue_is_refused_too_is_recorded_once_the_fault_goes_no_restart() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 82);
    app.load_reference("pub", &data.reference_csv).await;
    let token = app.team("Doubly Unlucky").await;
    // The score insert fails, and so does the write that would put the job back in the
    // queue: the worker can record nothing while the fault lasts.
    execute(&app, &[REFUSE_SCORES, REFUSE_REQUEUE]).await;
    let id = app
        .submit(
            "pub",
            &token,
            task3_submission(&data, &task, 1.0, 10).as_bytes(),
        )
        .await;
    // Claimed, then held by the fault: scoring 200 rows takes milliseconds, so 2 s after the
    // claim the worker has met both faults (on a starved machine it may meet them later, and
    // the checks below still hold).
    let path = format!("/api/v1/submissions/{id}");
    let mut v = app.get_json(&path, Some(&token)).await;
    for _ in 0..600 {
        if v["status"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        v = app.get_json(&path, Some(&token)).await;
    }
    assert_eq!(v["status"], "running", "{v}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = app.get_json(&path, Some(&token)).await;
    assert_eq!(
        v["status"], "running",
        "held by the fault, never failed: {v}"
    );
    let scores: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scores")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(scores, 0);

    // The fault goes away: the same server (no restart) queues the job again and scores it.
    execute(
        &app,
        &["DROP TRIGGER refuse_scores", "DROP TRIGGER refuse_requeue"],
    )
    .await;
    scored_once_after_the_fault(&app, &id).await;
    app.stop().await;
}

#[tokio::test]
async fn a_shutdown_is_not_held_up_by_a_job_waiting_for_such_a_fault() {
    let mut app = spawn_app().await;
    let (data, task) = task3_data(200, 83);
    app.load_reference("pub", &data.reference_csv).await;
    let token = app.team("Stopped Mid-Fault").await;
    execute(&app, &[REFUSE_SCORES, REFUSE_REQUEUE]).await;
    app.submit(
        "pub",
        &token,
        task3_submission(&data, &task, 1.0, 11).as_bytes(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let db_path = app.dir.join("tailboard.sqlite");
    let _keep = app._tmp.take(); // the data folder outlives the server
                                 // Workers are waited for at shutdown: one retrying forever would hang it.
    tokio::time::timeout(Duration::from_secs(15), app.stop())
        .await
        .expect("the server stops while a job waits for the database");
    // The job was left running: the next start queues it again (tests/crash.rs).
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE stage = 1")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(status, "running");
}

#[tokio::test]
async fn a_database_still_locked_after_the_wait_is_a_503_with_retry_after_not_a_500() {
    use actix_web::ResponseError;
    use sqlx::sqlite::SqliteConnectOptions;
    use tailboard::routes::ApiError;
    // A real SQLITE_BUSY, without waiting the server's 30 s: two connections that do not wait.
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("busy.sqlite"))
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO);
    let mut holder = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let mut other = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let busy = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap_err();
    assert!(tailboard::routes::is_busy(&busy), "{busy:?}");
    let answer = ApiError::from(busy).error_response();
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(answer.headers().get("Retry-After").unwrap(), "5");
    let body = actix_web::body::to_bytes(answer.into_body()).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["error"],
        "the server is busy; nothing was changed; try again in a few seconds"
    );
    // Any other database error stays an internal error.
    let other_error = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut holder)
        .await
        .unwrap_err();
    assert!(!tailboard::routes::is_busy(&other_error));
    assert_eq!(
        ApiError::from(other_error)
            .error_response()
            .status()
            .as_u16(),
        500
    );
}
