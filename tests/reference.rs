//! A new reference version re-scores every submission, re-ranks, and records what moved.

mod common;

use common::*;
use serde_json::Value;

/// Labels CSV for `ids` with `truth` (per class, per row).
fn labels_csv(task: &scoring::Task, ids: &[String], truth: &[Vec<u8>]) -> String {
    let mut out = format!("dicom_id,{}\n", task.labels.join(","));
    for (row, id) in ids.iter().enumerate() {
        out.push_str(id);
        for class in truth {
            out.push_str(if class[row] == 1 { ",1" } else { ",0" });
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn loading_new_labels_rescores_and_reranks() {
    let app = spawn_app().await;
    let (v1, task) = task3_data(400, 51);
    // Version 2: the same images with other labels (a "label fix").
    let (mut v2, _) = task3_data(400, 52);
    v2.ids = v1.ids.clone();
    let v2_csv = labels_csv(&task, &v2.ids, &v2.truth);

    app.load_reference("pub", &v1.reference_csv).await;
    let fits_v1 = app.team("Fits v1").await;
    let fits_v2 = app.team("Fits v2").await;
    let a = app
        .submit(
            "pub",
            &fits_v1,
            task3_submission(&v1, &task, 1.5, 1).as_bytes(),
        )
        .await;
    let b = app
        .submit(
            "pub",
            &fits_v2,
            task3_submission(&v2, &task, 1.5, 2).as_bytes(),
        )
        .await;
    app.wait_scored(&a).await;
    app.wait_scored(&b).await;
    let before = app.board("pub").await;
    assert_eq!(ranked_teams(&before), ["Fits v1", "Fits v2"]);
    assert_eq!(before["reference_version"], 1);
    let map_before = before["rows"][0]["mAP"].as_f64().unwrap();

    assert_eq!(app.load_reference("pub", &v2_csv).await, 2);
    app.wait_idle().await;
    let after = app.board("pub").await;
    assert_eq!(after["reference_version"], 2);
    assert_eq!(ranked_teams(&after), ["Fits v2", "Fits v1"]);
    assert_ne!(after["rows"][1]["mAP"].as_f64().unwrap(), map_before);

    let refs: Value = app
        .get_json("/api/v1/phases/pub/references", Some(&app.organizer))
        .await;
    let newest = &refs["versions"][0];
    assert_eq!(newest["version"], 2);
    assert_eq!(newest["rows"], 400);
    let mut moved = newest["rank_changes"].as_array().unwrap().clone();
    moved.sort_by_key(|m| m["team"].as_str().unwrap().to_string());
    assert_eq!(
        moved,
        [
            serde_json::json!({"team": "Fits v1", "before": 1, "after": 2}),
            serde_json::json!({"team": "Fits v2", "before": 2, "after": 1}),
        ]
    );

    // A labels file that the engine refuses is a 422 and changes nothing.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"dicom_id,Bulla\nx,2\n".to_vec()).file_name("l.csv"),
    );
    let r = app
        .client
        .post(format!("{}/api/v1/phases/pub/reference", app.address))
        .bearer_auth(&app.organizer)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.board("pub").await["reference_version"], 2);

    // Organizer re-score (e.g. after an engine fix) keeps the ranking.
    let r = app
        .post("/api/v1/phases/pub/rescore", Some(&app.organizer))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    app.wait_idle().await;
    assert_eq!(
        ranked_teams(&app.board("pub").await),
        ["Fits v2", "Fits v1"]
    );
    app.stop().await;
}
