//! A restart with queued and running jobs: every accepted submission is scored, none twice.

mod common;

use common::*;
use sqlx::Row;

#[tokio::test]
async fn queued_and_running_jobs_all_finish_after_a_restart_exactly_once() {
    let app = spawn_app_with(CONFIG, 0).await;
    let (data, task) = task3_data(300, 41);
    app.load_reference("pub", &data.reference_csv).await;
    let mut ids = Vec::new();
    for (n, name) in ["R1", "R2", "R3"].iter().enumerate() {
        let token = app.team(name).await;
        for k in 0..2 {
            let file = task3_submission(&data, &task, 1.0, (n * 10 + k) as u64);
            ids.push(app.submit("pub", &token, file.as_bytes()).await);
        }
    }
    // Simulate a crash in the middle of scoring: the first job is left `running` with a
    // claim nobody holds any more.
    sqlx::query("UPDATE jobs SET status = 'running', attempts = 1, claim = 'lost' WHERE id = (SELECT MIN(id) FROM jobs)")
        .execute(&app.state.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE submissions SET status = 'running' WHERE seq = (SELECT submission_seq FROM jobs WHERE status = 'running')")
        .execute(&app.state.pool)
        .await
        .unwrap();
    let first: serde_json::Value = app
        .get_json(
            &format!("/api/v1/submissions/{}", ids[0]),
            Some(&app.organizer),
        )
        .await;
    assert_eq!(first["status"], "running");

    let app = app.restart(2).await;
    app.wait_idle().await;
    for id in &ids {
        let v = app.wait_scored(id).await;
        assert_eq!(v["status"], "finished", "{v}");
        assert!(
            v["scores"]["mAP_ci_low"].is_number(),
            "intervals follow: {v}"
        );
    }
    // Exactly once: one score row per submission, written once; one finished job per stage.
    let rows = sqlx::query("SELECT submission_seq, writes FROM scores")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), ids.len());
    assert!(rows.iter().all(|r| r.get::<i64, _>("writes") == 1));
    let done: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT stage, COUNT(*) FROM jobs WHERE status = 'done' GROUP BY stage ORDER BY stage",
    )
    .fetch_all(&app.state.pool)
    .await
    .unwrap();
    assert_eq!(done, [(1, 6), (2, 6)]);
    let board = app.board("pub").await;
    assert_eq!(
        board["rows"].as_array().unwrap().len(),
        3,
        "one row per team"
    );
    app.stop().await;
}
