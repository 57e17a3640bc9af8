//! The embedded demo and the admin commands, working on the data folder of a running server.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tailboard::config::CompetitionConfig;
use tailboard::demo::DemoSizes;
use tailboard::{Application, Settings};

#[tokio::test]
async fn demo_starts_with_labels_baselines_and_a_one_time_organizer_login() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded_default();
    settings.data_dir = tmp.path().join("tailboard-data");
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    settings.demo = Some(DemoSizes {
        large: 300,
        task2: 406,
    });
    let app = Application::build(settings.clone()).await.unwrap();
    let (login, password) = app
        .first_organizer
        .clone()
        .expect("first start prints a login");
    assert_eq!(login, "organizer");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let comp: Value = client
        .get(format!("{base}/api/v1/competition"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(comp["demo"], true);
    let mut phase_ids = Vec::new();
    for task in comp["tasks"].as_array().unwrap() {
        for p in task["phases"].as_array().unwrap() {
            phase_ids.push(p["id"].as_str().unwrap().to_string());
            assert_eq!(p["open"], true);
            let hidden = p["id"].as_str().unwrap().ends_with("-test");
            assert_eq!(p["visibility"], if hidden { "hidden" } else { "public" });
        }
    }
    assert_eq!(
        phase_ids,
        [
            "task1-dev",
            "task1-test",
            "task2-dev",
            "task2-test",
            "task3-dev",
            "task3-test"
        ]
    );

    // The printed organizer login works (it yields an API token).
    let r = client
        .post(format!("{base}/api/v1/tokens"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let org = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // Baselines get scored and shown (without rank) on the public boards.
    for _ in 0..600 {
        let q: Value = client
            .get(format!("{base}/api/v1/queue"))
            .bearer_auth(&org)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if q.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let board: Value = client
        .get(format!("{base}/api/v1/phases/task2-dev/leaderboard"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["demo_reference"], true);
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r["baseline"] == true && r["rank"].is_null()));
    assert!(rows[0]["mAP"].as_f64().unwrap() > rows[2]["mAP"].as_f64().unwrap());
    let hidden = client
        .get(format!("{base}/api/v1/phases/task1-test/leaderboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::FORBIDDEN);

    // A real organizer replaces the demo labels: the demo baselines leave the board and
    // are not re-scored against labels they cannot match.
    let real = scoring::demo::generate(
        &scoring::Task::builtin(2).unwrap(),
        &scoring::demo::DemoOptions {
            rows: 406,
            seed: 99,
            id_columns: false,
        },
    );
    let labels = tmp.path().join("real-labels.csv");
    std::fs::write(&labels, &real.reference_csv).unwrap();
    let (store, pool) = tailboard::admin::open(&settings.data_dir).await.unwrap();
    let v = tailboard::admin::load_reference(&store, &pool, "task2-dev", &labels)
        .await
        .unwrap();
    assert_eq!(v.version, 2);
    for _ in 0..600 {
        let q: Value = client
            .get(format!("{base}/api/v1/queue"))
            .bearer_auth(&org)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let board: Value = client
            .get(format!("{base}/api/v1/phases/task2-dev/leaderboard"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if q.as_array().unwrap().is_empty() && board["reference_version"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let board: Value = client
        .get(format!("{base}/api/v1/phases/task2-dev/leaderboard"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(board["reference_version"], 2);
    assert_eq!(board["demo_reference"], false);
    assert!(board["rows"].as_array().unwrap().is_empty(), "{board}");
    let failed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE status = 'failed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(failed, 0);
    pool.close().await;
    handle.stop(true).await;
    join.await.unwrap().unwrap();

    // Second start: nothing re-installed, no new login printed.
    let app = Application::build(settings).await.unwrap();
    assert!(app.first_organizer.is_none());
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reference_versions")
        .fetch_one(&app.state().pool)
        .await
        .unwrap();
    assert_eq!(versions, 7);
    let _ = CompetitionConfig::cxr_lt_2024();
}

#[tokio::test]
async fn admin_commands_work_while_the_server_runs() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 61);
    // The admin side opens the same folder with its own connections, as the CLI does.
    let (store, pool) = tailboard::admin::open(&app.dir).await.unwrap();
    let token = tailboard::admin::create_team(&pool, "Admin Made")
        .await
        .unwrap();
    assert_eq!(token.len(), 64);
    assert!(
        tailboard::admin::create_team(&pool, "Admin Made")
            .await
            .is_err(),
        "names are unique"
    );
    let org = tailboard::admin::create_organizer(&pool, "second-chief")
        .await
        .unwrap();

    let labels = app.dir.join("labels.csv");
    std::fs::write(&labels, &data.reference_csv).unwrap();
    let v = tailboard::admin::load_reference(&store, &pool, "hid", &labels)
        .await
        .unwrap();
    assert_eq!((v.version, v.rows), (1, 200));
    let err = tailboard::admin::load_reference(&store, &pool, "nope", &labels)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no phase \"nope\"");

    // The running server sees the new team, organizer and labels at once.
    let id = app
        .submit(
            "hid",
            &token,
            task3_submission(&data, &task, 1.0, 1).as_bytes(),
        )
        .await;
    app.wait_scored(&id).await;
    assert_eq!(
        app.get("/api/v1/phases/hid/leaderboard", None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/phases/hid/leaderboard", Some(&org))
            .await
            .status(),
        StatusCode::OK
    );
    tailboard::admin::reveal(&pool, "hid").await.unwrap();
    let board: Value = app.get_json("/api/v1/phases/hid/leaderboard", None).await;
    assert_eq!(ranked_teams(&board), ["Admin Made"]);

    // Online backup: a consistent copy that holds the submission and its scores.
    let out = app.dir.join("backup.sqlite");
    tailboard::db::backup(&pool, &out).await.unwrap();
    assert!(
        tailboard::db::backup(&pool, &out).await.is_err(),
        "never overwrites"
    );
    let copy = tailboard::db::connect(&out).await.unwrap();
    let (subs, scored): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM submissions), (SELECT COUNT(*) FROM scores)")
            .fetch_one(&copy)
            .await
            .unwrap();
    assert_eq!((subs, scored), (1, 1));
    app.stop().await;
}
