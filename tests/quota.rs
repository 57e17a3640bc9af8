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
