//! Quotas hold under parallel uploads: the check and the insert are one transaction.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn twenty_parallel_uploads_against_a_quota_of_five_accept_exactly_five() {
    // No workers: the test is about admission, not scoring.
    let app = std::sync::Arc::new(spawn_app_with(CONFIG, 0).await);
    let (data, task) = task3_data(200, 31);
    app.load_reference("pub", &data.reference_csv).await;
    let team = app.team("Rushers").await;
    let file = task3_submission(&data, &task, 1.0, 1);
    let uploads = (0..20).map(|_| {
        let (app, team, file) = (app.clone(), team.clone(), file.clone());
        tokio::spawn(async move {
            app.upload("pub", Some(&team), file.as_bytes())
                .await
                .status()
        })
    });
    let codes: Vec<StatusCode> = futures_util::future::join_all(uploads)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let accepted = codes.iter().filter(|c| **c == StatusCode::ACCEPTED).count();
    let over = codes
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, over), (5, 15), "{codes:?}");
    let list: serde_json::Value = app
        .get_json("/api/v1/phases/pub/submissions", Some(&team))
        .await;
    assert_eq!(list["submissions"].as_array().unwrap().len(), 5);
    // Queue positions are visible and first come, first served.
    let mut positions: Vec<i64> = list["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["queue_position"].as_i64().unwrap())
        .collect();
    positions.sort();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
}

/// The same race without HTTP or validation in between, so the 20 transactions overlap as
/// much as they can: exactly 5 accepted, 15 refused, no database error.
#[tokio::test]
async fn twenty_concurrent_inserts_against_a_quota_of_five_store_exactly_five() {
    use tailboard::db::submissions::{accept, Accepted, NewSubmission};
    let app = spawn_app_with(CONFIG, 0).await;
    let (data, _) = task3_data(50, 32);
    let version = app.load_reference("pub", &data.reference_csv).await;
    assert_eq!(version, 1);
    let token = app.team("Racers").await;
    let viewer = tailboard::db::people::viewer_for_token(&app.state.pool, &token)
        .await
        .unwrap()
        .unwrap();
    let team_id = viewer.team_id().unwrap();
    let phase_id = tailboard::domain::PhaseId::parse("pub").unwrap();
    let phase = tailboard::db::phases::get(&app.state.pool, &phase_id)
        .await
        .unwrap()
        .unwrap();
    let reference_id = phase.active_reference_id.unwrap();
    let tasks = (0..20).map(|_| {
        let (pool, phase) = (app.state.pool.clone(), phase.clone());
        tokio::spawn(async move {
            let new = NewSubmission {
                id: tailboard::domain::SubmissionId::random(),
                phase_id: "pub".into(),
                team_id,
                user_id: None,
                description: String::new(),
                file_name: "x.csv".into(),
                file_sha256: "0".repeat(64),
                file_bytes: 1,
                reference_id,
                is_baseline: false,
                is_demo: false,
                warnings: Vec::new(),
            };
            accept(&pool, &phase, &new).await
        })
    });
    let results = futures_util::future::join_all(tasks).await;
    let mut accepted = 0;
    let mut refused = 0;
    for r in results {
        match r.unwrap().expect("no database error under contention") {
            Accepted::Queued { .. } => accepted += 1,
            Accepted::OverQuota(_) => refused += 1,
        }
    }
    assert_eq!((accepted, refused), (5, 15));
}
