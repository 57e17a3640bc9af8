//! Ranking: mAP descending, then mAUROC, then the earlier submission; failed never ranked.
//!
//! One custom label and three images make exact ties easy to build by hand: with labels
//! (1, 0, 0), scores (.5, .5, .1) give AP 0.5 and AUROC 0.75 (the positive ties with one
//! negative), and scores (.2, .9, .1) give AP 0.5 and AUROC 0.5.

mod common;

use common::*;
use serde_json::Value;

fn sub(a: &str, b: &str, c: &str) -> String {
    format!("dicom_id,Finding\nimg-1,{a}\nimg-2,{b}\nimg-3,{c}\n")
}

#[tokio::test]
async fn ties_in_map_are_broken_by_mauroc_then_time_and_failed_runs_are_never_ranked() {
    let app = spawn_app_files(ONE_FINDING_CONFIG, 0, &[("task.toml", ONE_FINDING_TASK)]).await;
    app.load_reference("dev", ONE_FINDING_LABELS).await;
    let teams = ["Tie early", "Low AUROC", "Tie late", "Top", "Broken"];
    let mut tokens = Vec::new();
    for t in teams {
        tokens.push(app.team(t).await);
    }
    let files = [
        sub("0.5", "0.5", "0.1"),
        sub("0.2", "0.9", "0.1"),
        sub("0.5", "0.5", "0.1"),
        sub("0.9", "0.1", "0.1"),
        sub("0.9", "0.1", "0.2"),
    ];
    let mut ids = Vec::new();
    for (token, file) in tokens.iter().zip(&files) {
        ids.push(app.submit("dev", token, file.as_bytes()).await);
        // Distinct upload instants, so "earlier" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The stored file of "Broken" is damaged on disk before it is scored.
    let sha = tailboard::store::sha256_hex(files[4].as_bytes());
    let path = app.dir.join("files").join(&sha[..2]).join(&sha);
    std::fs::write(&path, b"\xff\xfe garbage").unwrap();

    let app = app.restart(1).await;
    for id in &ids {
        app.wait_scored(id).await;
    }
    let broken: Value = app.wait_scored(&ids[4]).await;
    assert_eq!(broken["status"], "failed");
    let reason = broken["error"].as_str().unwrap();
    assert!(!reason.is_empty() && !reason.contains('\n'), "{reason}");

    let board = app.board("dev").await;
    assert_eq!(
        ranked_teams(&board),
        ["Top", "Tie early", "Tie late", "Low AUROC"]
    );
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows[1]["mAP"].as_f64(), Some(0.5));
    assert_eq!(rows[1]["mAUROC"].as_f64(), Some(0.75));
    assert_eq!(rows[2]["mAP"].as_f64(), Some(0.5));
    assert_eq!(rows[2]["mAUROC"].as_f64(), Some(0.75));
    assert_eq!(rows[3]["mAP"].as_f64(), Some(0.5));
    assert_eq!(rows[3]["mAUROC"].as_f64(), Some(0.5));
    let ranks: Vec<i64> = rows.iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, [1, 2, 3, 4]);
    // A run that failed in scoring costs the team no quota slot.
    let quota: Value = app
        .get_json("/api/v1/phases/dev/quota", Some(&tokens[4]))
        .await;
    assert_eq!(quota["status"]["used_today"], 0, "{quota}");
    assert_eq!(quota["remaining"], 10);
    let quota: Value = app
        .get_json("/api/v1/phases/dev/quota", Some(&tokens[3]))
        .await;
    assert_eq!(quota["status"]["used_today"], 1, "{quota}");
    assert!(quota["status"]["next_slot_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn leaderboard_rules_best_latest_selected() {
    for (rule, expected) in [("best", 1.0), ("latest", 0.5), ("selected", 0.5)] {
        let config = ONE_FINDING_CONFIG.replace(
            "bootstrap = 0",
            &format!("bootstrap = 0\nrule = \"{rule}\""),
        );
        let app = spawn_app_files(&config, 1, &[("task.toml", ONE_FINDING_TASK)]).await;
        app.load_reference("dev", ONE_FINDING_LABELS).await;
        let team = app.team("Solo").await;
        let first = app
            .submit("dev", &team, sub("0.2", "0.9", "0.1").as_bytes())
            .await;
        app.wait_scored(&first).await;
        let best = app
            .submit("dev", &team, sub("0.9", "0.1", "0.1").as_bytes())
            .await;
        app.wait_scored(&best).await;
        let last = app
            .submit("dev", &team, sub("0.5", "0.5", "0.1").as_bytes())
            .await;
        app.wait_scored(&last).await;
        if rule == "selected" {
            let r = app
                .post(&format!("/api/v1/submissions/{first}/select"), Some(&team))
                .await;
            assert_eq!(r.status(), reqwest::StatusCode::OK);
        }
        let board = app.board("dev").await;
        let rows = board["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{rule}: one row per team");
        assert_eq!(rows[0]["mAP"].as_f64(), Some(expected), "{rule}");
        assert_eq!(rows[0]["entries"], 3);
        if rule == "selected" {
            assert_eq!(rows[0]["submission"], first.as_str());
            assert_eq!(rows[0]["mAUROC"].as_f64(), Some(0.5));
        }
        app.stop().await;
    }
}
