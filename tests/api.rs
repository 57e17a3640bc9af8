//! The REST API of server.md, endpoint by endpoint and status code by status code, against
//! the real server over HTTP.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn competition_lists_tasks_phases_labels_and_quotas() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/competition", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["title"], "Test challenge");
    let phases = v["tasks"][0]["phases"].as_array().unwrap();
    let ids: Vec<&str> = phases.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pub", "own", "hid", "closed"]);
    assert_eq!(phases[0]["open"], true);
    assert_eq!(phases[3]["open"], false);
    assert_eq!(phases[3]["end"], "2020-02-01T00:00:00.000000Z");
    assert_eq!(phases[2]["visibility"], "hidden");
    assert_eq!(phases[0]["quotas"]["per_day"], 5);
    assert_eq!(phases[0]["labels"].as_array().unwrap().len(), 5);
    assert_eq!(phases[0]["labels"][0], "Bulla");
    app.stop().await;
}

#[tokio::test]
async fn upload_is_queued_scored_and_ranked() {
    let app = spawn_app().await;
    let (data, task) = task3_data(300, 7);
    app.load_reference("pub", &data.reference_csv).await;
    let team = app.team("Alpha").await;

    // Sample submission: header + every reference id, and it is itself a valid upload.
    let r = app
        .get("/api/v1/phases/pub/sample-submission.csv", Some(&team))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let sample = r.text().await.unwrap();
    assert!(sample.starts_with("dicom_id,Bulla,Cardiomyopathy,Hilum,Osteopenia,Scoliosis\n"));
    assert_eq!(sample.lines().count(), 301);
    assert_eq!(
        app.get("/api/v1/phases/pub/sample-submission.csv", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let id = app
        .submit(
            "pub",
            &team,
            task3_submission(&data, &task, 1.0, 3).as_bytes(),
        )
        .await;
    assert_eq!(id.len(), 32, "ids are 128 random bits in hex");
    let scored = app.wait_scored(&id).await;
    assert_eq!(scored["status"], "finished", "{scored}");
    let map = scored["scores"]["mAP"].as_f64().unwrap();
    assert!(map > 0.05 && map <= 1.0, "mAP {map}");

    // The team sees its own submission with scores and the per-class table.
    let mine: Value = app
        .get_json(&format!("/api/v1/submissions/{id}"), Some(&team))
        .await;
    assert_eq!(mine["team"], "Alpha");
    assert_eq!(mine["phase"], "pub");
    assert_eq!(mine["scores"]["mAP"].as_f64(), Some(map));
    assert_eq!(mine["classes"].as_array().unwrap().len(), 5);

    let board: Value = app.get_json("/api/v1/phases/pub/leaderboard", None).await;
    assert_eq!(board["phase"], "pub");
    let row = &board["rows"][0];
    assert_eq!(row["rank"], 1);
    assert_eq!(row["team"], "Alpha");
    assert_eq!(row["submission"], id.as_str());
    assert_eq!(row["mAP"].as_f64(), Some(map));
    for key in ["mAUROC", "mF1", "mECE"] {
        assert!(row[key].is_number(), "{key} missing: {row}");
    }

    // Bootstrap intervals follow the point scores.
    app.wait_idle().await;
    let board: Value = app.get_json("/api/v1/phases/pub/leaderboard", None).await;
    let row = &board["rows"][0];
    let (lo, hi) = (
        row["mAP_ci_low"].as_f64().unwrap(),
        row["mAP_ci_high"].as_f64().unwrap(),
    );
    assert!(lo <= map && map <= hi, "{lo} <= {map} <= {hi}");

    let csv = app
        .get("/api/v1/phases/pub/leaderboard.csv", None)
        .await
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("rank,team,submission,created_at"));
    let first = lines.next().unwrap();
    assert!(first.starts_with(&format!("1,Alpha,{id},")), "{first}");
    assert!(
        first.contains(&format!(",{map},")),
        "mAP as a plain number: {first}"
    );
    app.stop().await;
}

#[tokio::test]
async fn upload_status_codes() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 8);
    app.load_reference("pub", &data.reference_csv).await;
    app.load_reference("closed", &data.reference_csv).await;
    let team = app.team("Beta").await;
    let good = task3_submission(&data, &task, 1.0, 4);

    // 401: no token, bad token.
    assert_eq!(
        app.upload("pub", None, good.as_bytes()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.upload("pub", Some("not-a-token"), good.as_bytes())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // 404: unknown phase.
    assert_eq!(
        app.upload("nope", Some(&team), good.as_bytes())
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // 409: closed phase.
    let r = app.upload("closed", Some(&team), good.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let msg = error_of(r).await;
    assert!(msg.contains("closed at 2020-02-01T00:00:00"), "{msg}");
    // 409: no reference labels yet.
    assert_eq!(
        app.upload("own", Some(&team), good.as_bytes())
            .await
            .status(),
        StatusCode::CONFLICT
    );

    // 422: the engine's one-line error, naming row, column and value.
    let bad = good.replacen("\n", "\nZZZ-not-a-row\n", 1);
    let r = app.upload("pub", Some(&team), bad.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = error_of(r).await;
    assert!(!err.is_empty() && !err.contains('\n'), "{err}");
    let mut rows: Vec<String> = good.lines().map(String::from).collect();
    let cells: Vec<&str> = rows[2].split(',').collect();
    let changed = format!("{},1.5,{}", cells[0], cells[2..].join(","));
    rows[2] = changed;
    let r = app
        .upload("pub", Some(&team), rows.join("\n").as_bytes())
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = error_of(r).await;
    assert!(
        err.contains("row 3") && err.contains("Bulla") && err.contains("1.5"),
        "{err}"
    );

    // A refused upload does not use the scored quota: 5 scored uploads still fit.
    for _ in 0..5 {
        app.submit("pub", &team, good.as_bytes()).await;
    }
    // 429: over the daily quota, with the time of the next slot.
    let r = app.upload("pub", Some(&team), good.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let err = error_of(r).await;
    assert!(
        err.contains("5 of 5") && err.contains("next slot at"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test]
async fn refused_uploads_are_capped() {
    let app = spawn_app().await;
    let (data, task) = task3_data(100, 9);
    app.load_reference("pub", &data.reference_csv).await;
    let team = app.team("Prober").await;
    for _ in 0..3 {
        let r = app.upload("pub", Some(&team), b"dicom_id;Bulla\n").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The cap (3 per 24 h) is reached: even a valid file is not looked at.
    let good = task3_submission(&data, &task, 1.0, 4);
    let r = app.upload("pub", Some(&team), good.as_bytes()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let err = error_of(r).await;
    assert!(err.contains("too many refused uploads"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_or_malformed_submission_ids_are_404_and_anonymous_401() {
    let app = spawn_app().await;
    let team = app.team("Gamma").await;
    let missing = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        app.get(&format!("/api/v1/submissions/{missing}"), Some(&team))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/submissions/1", Some(&team)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/submissions/{missing}"), None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/phases/nope/leaderboard", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn team_flow_register_approve_token_upload_leaderboard() {
    let app = spawn_app().await;
    let (data, task) = task3_data(150, 10);
    app.load_reference("pub", &data.reference_csv).await;

    let r = app
        .post_json(
            "/api/v1/register",
            &json!({"team": "Delta Lab", "login": "dora", "password": "long enough pw"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let team_id = r.json::<Value>().await.unwrap()["team_id"]
        .as_i64()
        .unwrap();
    // Same name again: refused.
    let r = app
        .post_json(
            "/api/v1/register",
            &json!({"team": "Delta Lab", "login": "dora2", "password": "long enough pw"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Not approved yet: no token.
    let creds = json!({"login": "dora", "password": "long enough pw"});
    assert_eq!(
        app.post_json("/api/v1/tokens", &creds).await.status(),
        StatusCode::FORBIDDEN
    );
    let wrong = json!({"login": "dora", "password": "wrong password"});
    assert_eq!(
        app.post_json("/api/v1/tokens", &wrong).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Only organizers approve.
    assert_eq!(
        app.post(&format!("/api/v1/teams/{team_id}/approve"), None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let teams: Value = app.get_json("/api/v1/teams", Some(&app.organizer)).await;
    assert_eq!(teams[0]["name"], "Delta Lab");
    assert_eq!(teams[0]["approved"], false);
    let r = app
        .post(
            &format!("/api/v1/teams/{team_id}/approve"),
            Some(&app.organizer),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let r = app.post_json("/api/v1/tokens", &creds).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app
        .submit(
            "pub",
            &token,
            task3_submission(&data, &task, 1.0, 5).as_bytes(),
        )
        .await;
    let queued: Value = app
        .get_json(&format!("/api/v1/submissions/{id}"), Some(&token))
        .await;
    assert!(["queued", "running", "finished"].contains(&queued["status"].as_str().unwrap()));
    app.wait_scored(&id).await;
    let mine: Value = app
        .get_json("/api/v1/phases/pub/submissions", Some(&token))
        .await;
    assert_eq!(mine["submissions"][0]["id"], id.as_str());
    assert_eq!(mine["submissions"][0]["status"], "finished");
    let board: Value = app.get_json("/api/v1/phases/pub/leaderboard", None).await;
    assert_eq!(ranked_teams(&board), ["Delta Lab"]);
    app.stop().await;
}
