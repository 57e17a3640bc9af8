//! What a refused upload leaves behind (nothing), size limits while streaming, and files
//! stored once by content.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn refused_and_oversized_uploads_leave_no_row_and_no_file() {
    let app = spawn_app_changed(|s| s.limits.max_upload_bytes = 20_000).await;
    let (data, task) = task3_data(300, 71);
    app.load_reference("pub", &data.reference_csv).await;
    let team = app.team("Careful").await;
    let files_before = stored_files(&app);

    // Larger than the limit: refused while streaming with a one-line reason.
    let big = task3_submission(&data, &task, 1.0, 1);
    assert!(big.len() > 20_000);
    let r = app.upload("pub", Some(&team), big.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        error_of(r).await,
        "upload is larger than the limit of 20000 bytes"
    );

    // Refused by validation.
    let r = app.upload("pub", Some(&team), b"dicom_id\tBulla\n").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(stored_files(&app), files_before, "nothing stored");
    assert_eq!(temp_files(&app), 0, "no temp file left");
    let list = app
        .get_json("/api/v1/phases/pub/submissions", Some(&team))
        .await;
    assert!(list["submissions"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_same_file_uploaded_twice_is_stored_once() {
    let app = spawn_app_with(CONFIG, 0).await;
    let (data, task) = task3_data(100, 72);
    app.load_reference("pub", &data.reference_csv).await;
    let a = app.team("Twin A").await;
    let b = app.team("Twin B").await;
    let file = task3_submission(&data, &task, 1.0, 1);
    let before = stored_files(&app);
    let id_a = app.submit("pub", &a, file.as_bytes()).await;
    let id_b = app.submit("pub", &b, file.as_bytes()).await;
    assert_ne!(id_a, id_b);
    assert_eq!(stored_files(&app), before + 1);
    let org = app
        .get_json(&format!("/api/v1/submissions/{id_a}"), Some(&app.organizer))
        .await;
    assert_eq!(
        org["file_sha256"],
        tailboard::store::sha256_hex(file.as_bytes())
    );
    app.stop().await;
}

#[tokio::test]
async fn organizer_refund_gives_the_slot_back_and_baselines_are_not_ranked() {
    let app = spawn_app().await;
    let (data, task) = task3_data(150, 73);
    app.load_reference("pub", &data.reference_csv).await;
    let team = app.team("Refunded").await;
    let file = task3_submission(&data, &task, 1.0, 1);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.submit("pub", &team, file.as_bytes()).await);
    }
    assert_eq!(
        app.upload("pub", Some(&team), file.as_bytes())
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Only organizers refund.
    let path = format!("/api/v1/submissions/{}/refund", ids[0]);
    assert_eq!(
        app.post(&path, Some(&team)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&path, Some(&app.organizer)).await.status(),
        StatusCode::OK
    );
    let quota = app.get_json("/api/v1/phases/pub/quota", Some(&team)).await;
    assert_eq!(quota["remaining"], 1);
    app.submit("pub", &team, file.as_bytes()).await;

    // An organizer upload is a baseline: shown, not ranked.
    let base = app
        .submit(
            "pub",
            &app.organizer,
            task3_submission(&data, &task, 2.0, 9).as_bytes(),
        )
        .await;
    app.wait_idle().await;
    let board = app.board("pub").await;
    assert_eq!(ranked_teams(&board), ["Refunded"]);
    let rows = board["rows"].as_array().unwrap();
    let baseline = rows
        .iter()
        .find(|r| r["submission"] == base.as_str())
        .unwrap();
    assert!(baseline["rank"].is_null());
    assert_eq!(baseline["team"], "Organizers (baselines)");
    // Marking the team's entry as baseline takes it off the ranking.
    let entry = rows.iter().find(|r| r["team"] == "Refunded").unwrap()["submission"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .client
        .post(format!(
            "{}/api/v1/submissions/{entry}/baseline",
            app.address
        ))
        .bearer_auth(&app.organizer)
        .json(&serde_json::json!({"baseline": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let board = app.board("pub").await;
    let ranked: Vec<String> = ranked_teams(&board);
    // The team's other (identical) submissions still stand, so it stays ranked, but not
    // with the marked entry.
    assert_eq!(ranked, ["Refunded"]);
    assert!(board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["submission"] == entry.as_str() && r["rank"].is_null()));
    app.stop().await;
}
