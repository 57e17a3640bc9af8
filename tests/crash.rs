//! A crash of the built `tailboard` binary: SIGKILL while Task-1-size submissions (78,946
//! images x 40 labels) are queued, one is being scored and one is half uploaded; a restart on
//! the same data folder scores every accepted submission exactly once and keeps nothing of
//! the half upload. The server lives three times: uploads with no worker (then a kill with
//! only queued jobs), one worker (so the others surely wait behind the one it scores) killed
//! mid-job with the half upload open, and the restart that must finish everything.

mod common;

use common::{files_below, ServeProcess};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::Value;
use sqlx::{Connection, Row};
use tokio::io::AsyncWriteExt;

const CONFIG: &str = r#"
[competition]
id = "crash-test"
title = "Crash test"

[[tasks]]
id = "task1"
name = "Task 1"
builtin = 1

[[tasks.phases]]
id = "t1"
name = "Development"
quota_per_day = 50
quota_total = 100
bootstrap = 5
"#;

const ROWS: usize = 78_946;
const UPLOADS: usize = 3;

/// Starts the binary on `dir` on a free port with `workers` scoring workers.
fn start_server(dir: &Path, config: &Path, log: &Path, workers: &str) -> ServeProcess {
    let args = [
        "--data".as_ref(),
        dir.as_os_str(),
        "--workers".as_ref(),
        workers.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    ServeProcess::start(&args, Some(log))
}

/// Runs `tailboard admin ...` and returns its one line of output.
fn admin(args: &[&str], dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tailboard"))
        .arg("admin")
        .arg(args[0])
        .arg("--data")
        .arg(dir)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn multipart_head(boundary: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
         filename=\"predictions.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
}

async fn upload(client: &Client, address: &str, token: &str, bytes: Vec<u8>) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("predictions.csv"),
    );
    let r = client
        .post(format!("{address}/api/v1/phases/t1/submissions"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn status_of(client: &Client, server: &ServeProcess, organizer: &str, id: &str) -> Value {
    client
        .get(format!("{}/api/v1/submissions/{id}", server.address))
        .bearer_auth(organizer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sigkill_with_queued_running_and_half_uploaded_submissions_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let config = tmp.path().join("competition.toml");
    let log = tmp.path().join("server.log");
    std::fs::write(&config, CONFIG).unwrap();
    let labels = tmp.path().join("labels.csv");

    // Task-1-size reference and submissions (different seeds: different files).
    let (reference_csv, files) = tokio::task::spawn_blocking(|| {
        let task = scoring::Task::builtin(1).unwrap();
        let options = scoring::demo::DemoOptions {
            rows: ROWS,
            seed: 7,
            id_columns: false,
        };
        let data = scoring::demo::generate(&task, &options);
        let files: Vec<Vec<u8>> = (0..=UPLOADS as u64)
            .map(|seed| scoring::demo::submission_csv(&task, &data, 1.0, seed).into_bytes())
            .collect();
        (data.reference_csv, files)
    })
    .await
    .unwrap();
    std::fs::write(&labels, &reference_csv).unwrap();
    let (half, files) = files.split_last().unwrap();

    // First life, without workers: the uploads are accepted and wait in the queue.
    let server = start_server(&dir, &config, &log, "0");
    let organizer = admin(&["create-organizer", "chief"], &dir);
    let labels_arg = labels.display().to_string();
    admin(&["load-reference", "--phase", "t1", &labels_arg], &dir);
    // A fresh connection per request: the debug server, starved by scoring Task-1 files on
    // two busy cores, may close a kept-alive connection just as the next poll goes out (a
    // reset that says nothing about crash safety).
    let client = Client::builder().pool_max_idle_per_host(0).build().unwrap();

    // Every upload answered 202 goes on the list of promises.
    let mut uploads = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let token = admin(&["create-team", &format!("Team {n}")], &dir);
        let (client, address, file) = (client.clone(), server.address.clone(), file.clone());
        uploads.push(tokio::spawn(async move {
            upload(&client, &address, &token, file).await
        }));
    }
    let mut accepted = Vec::new();
    for u in uploads {
        accepted.push(u.await.unwrap());
    }
    // A crash with only queued jobs.
    server.kill();

    // Second life, one worker: it takes the oldest job, the others wait behind it.
    let server = start_server(&dir, &config, &log, "1");

    // The half upload: the whole request head with the full Content-Length, then the form
    // and half of the file, then nothing (the connection stays open until the crash).
    let token = admin(&["create-team", "Half Upload"], &dir);
    let boundary = "crashtestboundary0123456789";
    let part_head = multipart_head(boundary);
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = part_head.len() + half.len() + tail.len();
    let host = server.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/v1/phases/t1/submissions HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {length}\r\n\r\n{part_head}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&half[..half.len() / 2]).await.unwrap();
    stream.flush().await.unwrap();
    let temp_dir = dir.join("tmp");
    let mut received = 0;
    for _ in 0..400 {
        received = files_below(&temp_dir)
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum::<u64>();
        if received > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(received > 0, "the half upload reached the server's disk");

    // The queue right before the crash: one submission being scored, others waiting.
    let mut states = Vec::new();
    for _ in 0..400 {
        states.clear();
        for id in &accepted {
            let v = status_of(&client, &server, &organizer, id).await;
            states.push(v["status"].as_str().unwrap().to_string());
        }
        if states.iter().any(|s| s == "running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        states.iter().any(|s| s == "running") && states.iter().any(|s| s == "queued"),
        "the crash must hit queued and running submissions: {states:?}"
    );
    server.kill();
    drop(stream);
    assert!(
        !files_below(&temp_dir).is_empty(),
        "the half upload's temp file outlived the crash"
    );

    // Third life on the same folder.
    let server = start_server(&dir, &config, &log, "1");
    assert!(
        files_below(&temp_dir).is_empty(),
        "leftovers of interrupted uploads are cleared at start"
    );
    let mut scores = Vec::new();
    for id in &accepted {
        let mut v = Value::Null;
        for _ in 0..1200 {
            v = status_of(&client, &server, &organizer, id).await;
            if v["status"] == "finished" && v["scores"]["mAP_ci_low"].is_number() {
                break;
            }
            assert_ne!(v["status"], "failed", "{v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(v["status"], "finished", "{id} was not scored in time: {v}");
        assert!(v["scores"]["mAP"].as_f64().unwrap() > 0.0, "{v}");
        scores.push(v["scores"].clone());
    }
    let board: Value = client
        .get(format!("{}/api/v1/phases/t1/leaderboard", server.address))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["rows"].as_array().unwrap().len(), UPLOADS, "{board}");

    // The database: one row per 202, scored exactly once, the killed job run twice.
    let db_path = dir.join("tailboard.sqlite");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT id FROM submissions ORDER BY seq")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let mut ids: Vec<String> = rows.iter().map(|r| r.get("id")).collect();
    ids.sort();
    let mut expected = accepted.clone();
    expected.sort();
    assert_eq!(ids, expected, "exactly the accepted submissions are stored");
    let writes: Vec<i64> = sqlx::query_scalar("SELECT writes FROM scores")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(writes, vec![1; UPLOADS], "point scores written once each");
    let done: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT stage, COUNT(*) FROM jobs WHERE status = 'done' GROUP BY stage ORDER BY stage",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(done, [(1, UPLOADS as i64), (2, UPLOADS as i64)]);
    let rerun: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE attempts = 2")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(
        rerun, 1,
        "the job running at the crash ran again, and only it"
    );
    let refused: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refused_uploads")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(
        refused, 0,
        "the half upload was not even counted as refused"
    );

    // The store: the labels and the accepted files, nothing of the half upload.
    let mut stored: Vec<String> = files_below(&dir.join("files"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    stored.sort();
    let mut wanted: Vec<String> = sqlx::query_scalar(
        "SELECT file_sha256 FROM submissions UNION ALL SELECT file_sha256 FROM reference_versions",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    wanted.sort();
    assert_eq!(stored.len(), UPLOADS + 1);
    assert_eq!(stored, wanted);
    drop(db);
    server.kill();
}
