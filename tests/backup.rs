//! `tailboard admin backup` while the server is busy (uploads arriving, workers scoring),
//! then a restore into a new data folder: a server started there shows every submission of
//! the backup with identical scores.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use sqlx::{Connection, Row};

const TEAMS: usize = 8;
const PER_TEAM: usize = 5;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The organizer's view of a submission: status, scores and per-class table.
async fn view(app: &TestApp, id: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/submissions/{id}"), Some(&app.organizer))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{id}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_submission_and_score() {
    let app = Arc::new(spawn_app_with(CONFIG, 2).await);
    let (data, task) = task3_data(3000, 71);
    app.load_reference("pub", &data.reference_csv).await;
    let mut tokens = Vec::new();
    for n in 0..TEAMS {
        tokens.push(app.team(&format!("Backup team {n}")).await);
    }

    // The load: every team uploads its files one after another while the workers score.
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let mut load = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let (app, token, accepted) = (app.clone(), token.clone(), accepted.clone());
        let files: Vec<String> = (0..PER_TEAM)
            .map(|k| task3_submission(&data, &task, 1.0, (n * PER_TEAM + k) as u64))
            .collect();
        load.push(tokio::spawn(async move {
            for file in files {
                let id = app.submit("pub", &token, file.as_bytes()).await;
                accepted.lock().unwrap().push(id);
                // Paced like teams are, so the load lasts beyond the backup.
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }));
    }
    // Back up once some submissions are scored and while uploads are still arriving.
    let mut scored = 0;
    for _ in 0..1200 {
        scored = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM scores")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        if scored >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(scored >= 3, "scoring started before the backup");
    let backup = app._tmp.as_ref().unwrap().path().join("backup.sqlite");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tailboard"))
        .args(["admin", "backup", "--data"])
        .arg(&app.dir)
        .arg(&backup)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backup written to "));
    for l in load {
        l.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), TEAMS * PER_TEAM);
    app.wait_idle().await;

    // The copy is a consistent database holding part of the load.
    let mut copy = sqlx::SqliteConnection::connect(&format!("sqlite://{}", backup.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let rows = sqlx::query("SELECT id, status FROM submissions")
        .fetch_all(&mut copy)
        .await
        .unwrap();
    let in_backup: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.get("id"), r.get("status")))
        .collect();
    let finished_then: Vec<&String> = in_backup
        .iter()
        .filter(|(_, s)| s == "finished")
        .map(|(id, _)| id)
        .collect();
    assert!(!finished_then.is_empty());
    assert!(
        in_backup.len() < accepted.len(),
        "uploads went on after the backup ({} of {})",
        in_backup.len(),
        accepted.len()
    );
    // Scores in the copy are the scores the live server shows for the same submissions.
    for id in &finished_then {
        let stored: f64 = sqlx::query_scalar(
            "SELECT s.map FROM scores s JOIN submissions b ON b.seq = s.submission_seq
             WHERE b.id = ?",
        )
        .bind(id.as_str())
        .fetch_one(&mut copy)
        .await
        .unwrap();
        let live = view(&app, id).await;
        assert_eq!(live["scores"]["mAP"].as_f64(), Some(stored), "{id}");
    }
    drop(copy);

    // Restore: the database copy and the stored files into a new data folder.
    let restored_dir = app._tmp.as_ref().unwrap().path().join("restored");
    std::fs::create_dir_all(&restored_dir).unwrap();
    std::fs::copy(&backup, restored_dir.join("tailboard.sqlite")).unwrap();
    copy_tree(&app.dir.join("files"), &restored_dir.join("files"));
    let restored = start_at(&restored_dir, CONFIG, 2, &app.organizer).await;
    restored.wait_idle().await;

    // Every submission of the backup is there with the same status and identical scores
    // (those queued or running at backup time are scored by the restored server, with the
    // same deterministic bootstrap); later uploads are not.
    for (id, _) in &in_backup {
        let before = view(&app, id).await;
        let after = view(&restored, id).await;
        assert_eq!(after["status"], "finished", "{after}");
        assert_eq!(after["scores"], before["scores"], "{id}");
        assert_eq!(after["classes"], before["classes"], "{id}");
        assert_eq!(after["file_sha256"], before["file_sha256"], "{id}");
    }
    let later: Vec<&String> = accepted
        .iter()
        .filter(|id| !in_backup.iter().any(|(b, _)| b == *id))
        .collect();
    assert!(!later.is_empty());
    for id in later {
        let r = restored
            .get(
                &format!("/api/v1/submissions/{id}"),
                Some(&restored.organizer),
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    }
    // Team tokens live in the database, so teams keep working after a restore.
    let r = restored
        .get("/api/v1/phases/pub/submissions", Some(&tokens[0]))
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    restored.stop().await;
}
