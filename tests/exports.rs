//! Reviewer exports over real HTTP: rankings as CSV and JSON, per-class results, every
//! submission, the LaTeX table; formula injection in every CSV; who may download what.

mod browser;
mod common;

use browser::*;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Inserts an approved team straight into the database (names with a tab or a carriage
/// return cannot be registered, but an export must be safe whatever the database holds) and
/// returns its API token.
async fn raw_team(app: &TestApp, name: &str) -> String {
    let id = sqlx::query(
        "INSERT INTO teams (name, approved, created_at) VALUES (?, 1, '2024-01-01T00:00:00.000000Z')",
    )
    .bind(name)
    .execute(&app.state.pool)
    .await
    .unwrap()
    .last_insert_rowid();
    tailboard::db::people::create_token(
        &app.state.pool,
        tailboard::db::people::TokenOwner::Team(id),
        "test",
    )
    .await
    .unwrap()
}

async fn csv_rows(app: &TestApp, path: &str) -> Vec<Vec<String>> {
    let r = app.get(path, Some(&app.organizer)).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = r.text().await.unwrap();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

const DANGEROUS: [&str; 6] = [
    "=HYPERLINK(\"http://x\")",
    "+1+cmd",
    "-2+3",
    "@SUM(A1)",
    "\tTabbed",
    "\rReturned",
];

#[tokio::test]
async fn every_csv_export_neutralises_formulas_and_keeps_numbers_numeric() {
    let app = spawn_app().await;
    let (data, task) = task3_data(150, 31);
    app.load_reference("pub", &data.reference_csv).await;
    for (i, name) in DANGEROUS.iter().enumerate() {
        let token = raw_team(&app, name).await;
        let bytes = task3_submission(&data, &task, 0.3 + 0.1 * i as f64, i as u64);
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes.into_bytes()).file_name("=evil().csv"),
            )
            .text("description", "@danger");
        let r = app
            .client
            .post(format!("{}/api/v1/phases/pub/submissions", app.address))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        app.wait_scored(&id).await;
    }
    app.wait_idle().await;
    for path in [
        "/phases/pub/export/rankings.csv",
        "/phases/pub/export/per-class.csv",
        "/phases/pub/export/submissions.csv",
        "/api/v1/phases/pub/export/rankings.csv",
        "/api/v1/phases/pub/leaderboard.csv",
    ] {
        let rows = csv_rows(&app, path).await;
        let header = &rows[0];
        let team_col = header.iter().position(|h| h == "team").unwrap();
        let map_col = header.iter().position(|h| h == "mAP" || h == "AP").unwrap();
        let mut names = Vec::new();
        for row in &rows[1..] {
            for cell in row {
                let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
                assert!(
                    !risky || cell.parse::<f64>().is_ok(),
                    "{path}: formula cell {cell:?}"
                );
            }
            // Metrics stay plain numbers.
            row[map_col]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{path}: {:?}", row[map_col]));
            names.push(row[team_col].clone());
        }
        for name in DANGEROUS {
            assert!(
                names.contains(&format!("'{name}")),
                "{path}: {name:?} missing"
            );
        }
        if path.ends_with("submissions.csv") {
            let file_col = header.iter().position(|h| h == "file_name").unwrap();
            let desc_col = header.iter().position(|h| h == "description").unwrap();
            assert!(rows[1..].iter().all(|r| r[file_col] == "'=evil().csv"));
            assert!(rows[1..].iter().all(|r| r[desc_col] == "'@danger"));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn rankings_json_csv_and_per_class_carry_ids_hashes_and_numbers() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 32);
    app.load_reference("pub", &data.reference_csv).await;
    let a = app.team("Alpha").await;
    let b = app.team("Beta").await;
    let baseline = app
        .submit(
            "pub",
            &app.organizer,
            task3_submission(&data, &task, 0.8, 9).as_bytes(),
        )
        .await;
    let ia = app
        .submit("pub", &a, task3_submission(&data, &task, 1.5, 1).as_bytes())
        .await;
    let ib = app
        .submit("pub", &b, task3_submission(&data, &task, 0.2, 2).as_bytes())
        .await;
    for id in [&baseline, &ia, &ib] {
        app.wait_scored(id).await;
    }
    app.wait_idle().await;
    let json: Value = app
        .get_json("/phases/pub/export/rankings.json", Some(&app.organizer))
        .await;
    assert_eq!(json["phase"], "pub");
    assert_eq!(json["reference_version"], 1);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let ranked: Vec<&Value> = rows.iter().filter(|r| !r["rank"].is_null()).collect();
    assert_eq!(ranked.len(), 2, "the baseline is not ranked");
    assert_eq!(ranked[0]["team"], "Alpha");
    assert_eq!(ranked[0]["submission"], ia.as_str());
    assert_eq!(ranked[1]["rank"], 2);
    for r in rows {
        for key in [
            "mAP",
            "mAP_ci_low",
            "mAP_ci_high",
            "mAUROC",
            "mF1",
            "mECE",
            "mAP_group_avg",
        ] {
            assert!(r[key].is_number() || r[key].is_null(), "{key}: {}", r[key]);
        }
        assert!(r["mAP"].as_f64().unwrap() > 0.0);
        assert!(r["mAP_ci_low"].as_f64().unwrap() <= r["mAP"].as_f64().unwrap());
        assert_eq!(r["file_sha256"].as_str().unwrap().len(), 64);
        assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
    }
    assert!(rows
        .iter()
        .any(|r| r["baseline"] == true && r["rank"].is_null()));

    // The CSV has the same rows in the same order, numbers equal to the JSON's.
    let csv = csv_rows(&app, "/phases/pub/export/rankings.csv").await;
    let h = &csv[0];
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    assert_eq!(csv.len(), 4);
    for (line, r) in csv[1..].iter().zip(rows) {
        assert_eq!(line[col("submission")], r["submission"].as_str().unwrap());
        assert_eq!(line[col("file_sha256")], r["file_sha256"].as_str().unwrap());
        let map: f64 = line[col("mAP")].parse().unwrap();
        assert_eq!(map, r["mAP"].as_f64().unwrap(), "full precision");
    }

    // Per-class: five labels for each ranked submission (not the baseline), in rank order.
    let per = csv_rows(&app, "/phases/pub/export/per-class.csv").await;
    assert_eq!(per.len(), 1 + 2 * 5);
    assert_eq!(per[1][1], "Alpha");
    assert_eq!(per[1][3], "Bulla");
    assert_eq!(per[6][1], "Beta");
    let ap: f64 = per[1][8].parse().unwrap();
    assert!((0.0..=1.0).contains(&ap));

    // Every submission, oldest first, with its status.
    let subs = csv_rows(&app, "/phases/pub/export/submissions.csv").await;
    assert_eq!(subs.len(), 4);
    assert_eq!(subs[1][0], baseline);
    assert!(subs[1..].iter().all(|r| r[3] == "finished"));
    app.stop().await;
}

#[tokio::test]
async fn latex_table_ranks_auxiliary_metrics_and_escapes_names() {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 33);
    app.load_reference("pub", &data.reference_csv).await;
    let teams = [
        ("A&B_50%", 1.4),
        ("Team #1 {x}", 0.9),
        ("Tilde~Caret^\\", 0.5),
    ];
    for (i, (name, signal)) in teams.iter().enumerate() {
        let token = app.team(name).await;
        let id = app
            .submit(
                "pub",
                &token,
                task3_submission(&data, &task, *signal, 40 + i as u64).as_bytes(),
            )
            .await;
        app.wait_scored(&id).await;
    }
    app.wait_idle().await;
    let r = app
        .get("/phases/pub/export/rankings.tex", Some(&app.organizer))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tex = r.text().await.unwrap();
    assert!(
        tex.contains("\\begin{tabular}")
            && tex.contains("Ranking & Team & mAP & mAUROC & mF1 & mECE")
    );
    let json: Value = app
        .get_json("/phases/pub/export/rankings.json", Some(&app.organizer))
        .await;
    let rows = json["rows"].as_array().unwrap();
    let escaped = |name: &str| match name {
        "A&B_50%" => "A\\&B\\_50\\%",
        "Team #1 {x}" => "Team \\#1 \\{x\\}",
        _ => "Tilde\\textasciitilde{}Caret\\textasciicircum{}\\textbackslash{}",
    };
    let lines: Vec<&str> = tex
        .lines()
        .filter(|l| l.ends_with("\\\\") && !l.starts_with("Ranking"))
        .collect();
    assert_eq!(lines.len(), 3);
    let rank_of = |key: &str, value: f64, lower: bool| {
        1 + rows
            .iter()
            .filter(|r| {
                let v = r[key].as_f64().unwrap();
                if lower {
                    v < value
                } else {
                    v > value
                }
            })
            .count()
    };
    for (line, r) in lines.iter().zip(rows) {
        let cells: Vec<&str> = line
            .trim_end_matches("\\\\")
            .split(" & ")
            .map(str::trim)
            .collect();
        assert_eq!(cells[0], r["rank"].to_string());
        assert_eq!(cells[1], escaped(r["team"].as_str().unwrap()));
        assert_eq!(cells[2], format!("{:.4}", r["mAP"].as_f64().unwrap()));
        for (cell, key, lower) in [
            (cells[3], "mAUROC", false),
            (cells[4], "mF1", false),
            (cells[5], "mECE", true),
        ] {
            let v = r[key].as_f64().unwrap();
            assert_eq!(
                cell,
                format!("{v:.4} [{}]", rank_of(key, v, lower)),
                "{key}"
            );
        }
    }
    // No raw special character of a team name survives outside its escape.
    assert!(!tex.contains("A&B") && !tex.contains("#1 {x}"));
    app.stop().await;
}

#[tokio::test]
async fn exports_follow_visibility_and_phase_end() {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 34);
    app.load_reference("hid", &data.reference_csv).await;
    app.load_reference("pub", &data.reference_csv).await;
    let a = app.team("Alpha").await;
    for phase in ["hid", "pub"] {
        let id = app
            .submit(phase, &a, task3_submission(&data, &task, 1.0, 1).as_bytes())
            .await;
        app.wait_scored(&id).await;
    }
    app.wait_idle().await;
    let files = [
        "rankings.csv",
        "rankings.json",
        "per-class.csv",
        "submissions.csv",
        "rankings.tex",
    ];
    for file in files {
        for prefix in ["/phases", "/api/v1/phases"] {
            let path = format!("{prefix}/hid/export/{file}");
            for who in [None, Some(a.as_str())] {
                let r = app.get(&path, who).await;
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
                let body = r.text().await.unwrap();
                assert!(!body.contains("Alpha") && !has_score(&body), "{body}");
            }
            assert_eq!(
                app.get(&path, Some(&app.organizer)).await.status(),
                StatusCode::OK
            );
        }
    }
    // A public phase: rankings for everyone; the list of every upload only for organizers
    // while the phase is open.
    for file in [
        "rankings.csv",
        "rankings.json",
        "per-class.csv",
        "rankings.tex",
    ] {
        let r = app.get(&format!("/phases/pub/export/{file}"), None).await;
        assert_eq!(r.status(), StatusCode::OK, "{file}");
    }
    let r = app.get("/phases/pub/export/submissions.csv", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/phases/pub/export/nope.csv", None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/phases/none/export/rankings.csv", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // After the reveal the hidden phase exports to everyone.
    app.post("/api/v1/phases/hid/reveal", Some(&app.organizer))
        .await;
    let r = app.get("/phases/hid/export/rankings.json", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let json: Value = r.json().await.unwrap();
    assert_eq!(json["rows"][0]["team"], "Alpha");
    app.stop().await;
}
