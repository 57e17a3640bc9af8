//! Leaderboards are reused between requests (db::leaderboard::BoardCache) until the database
//! changes: every change, made by the server or by another program on the same database
//! (the admin commands), shows on the very next request, on the page, the JSON and the CSV.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The anonymous views of the board: team names of the JSON rows, the CSV and the page.
async fn views(app: &TestApp) -> (Vec<String>, String, String) {
    let json: Value = app.get_json("/api/v1/phases/dev/leaderboard", None).await;
    let teams = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["team"].as_str().unwrap().to_string())
        .collect();
    let csv = app.get("/api/v1/phases/dev/leaderboard.csv", None).await;
    assert_eq!(csv.status(), StatusCode::OK);
    let page = app.get("/phases/dev", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    (teams, csv.text().await.unwrap(), page.text().await.unwrap())
}

#[tokio::test]
async fn every_change_shows_on_the_next_read_even_from_another_connection() {
    let app = spawn_app_files(ONE_FINDING_CONFIG, 1, &[("task.toml", ONE_FINDING_TASK)]).await;
    app.load_reference("dev", ONE_FINDING_LABELS).await;
    let good = app.team("Good").await;
    let weak = app.team("Weak").await;
    let first = app
        .submit(
            "dev",
            &good,
            b"dicom_id,Finding\nimg-1,0.9\nimg-2,0.1\nimg-3,0.1\n",
        )
        .await;
    app.wait_scored(&first).await;
    // The board is built and kept with one entry...
    assert_eq!(views(&app).await.0, ["Good"]);
    assert_eq!(views(&app).await.0, ["Good"]);
    // ...and a new score replaces it at once.
    let second = app
        .submit(
            "dev",
            &weak,
            b"dicom_id,Finding\nimg-1,0.2\nimg-2,0.9\nimg-3,0.1\n",
        )
        .await;
    app.wait_scored(&second).await;
    assert_eq!(views(&app).await.0, ["Good", "Weak"]);

    // A change committed by another connection, as an admin command in another process
    // would make it, is seen by the next request too.
    let other = tailboard::db::connect(&app.state.store.database())
        .await
        .unwrap();
    sqlx::query("UPDATE teams SET name = 'Good (renamed)' WHERE name = 'Good'")
        .execute(&other)
        .await
        .unwrap();
    let (teams, csv, page) = views(&app).await;
    assert_eq!(teams, ["Good (renamed)", "Weak"]);
    assert!(csv.contains("Good (renamed)"), "{csv}");
    assert!(page.contains("Good (renamed)"), "{page}");
    other.close().await;

    // An organizer marks the leader as a baseline: shown without a rank from the next read.
    let r = app
        .client
        .post(format!(
            "{}/api/v1/submissions/{first}/baseline",
            app.address
        ))
        .bearer_auth(&app.organizer)
        .json(&json!({"baseline": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let board = app.board("dev").await;
    let rows = board["rows"].as_array().unwrap();
    let rank_of = |team: &str| {
        rows.iter()
            .find(|r| r["team"] == team)
            .map(|r| r["rank"].clone())
            .unwrap()
    };
    assert_eq!(rank_of("Good (renamed)"), Value::Null);
    assert_eq!(rank_of("Weak"), json!(1));
    app.stop().await;
}
