//! Hidden and own visibility on every API path, as anonymous, team A, team B and organizer.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

struct World {
    app: TestApp,
    a: String,
    b: String,
    /// Team A's submission id per phase.
    sub_a: Vec<(String, String)>,
}

async fn world() -> World {
    let app = spawn_app().await;
    let (data, task) = task3_data(200, 21);
    let a = app.team("Team A").await;
    let b = app.team("Team B").await;
    let mut sub_a = Vec::new();
    for phase in ["pub", "own", "hid"] {
        app.load_reference(phase, &data.reference_csv).await;
        let ida = app
            .submit(phase, &a, task3_submission(&data, &task, 1.0, 1).as_bytes())
            .await;
        let idb = app
            .submit(phase, &b, task3_submission(&data, &task, 0.5, 2).as_bytes())
            .await;
        app.wait_scored(&ida).await;
        app.wait_scored(&idb).await;
        sub_a.push((phase.to_string(), ida));
    }
    World { app, a, b, sub_a }
}

async fn status(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let r = app.get(path, token).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn leaderboards_respect_visibility_for_every_viewer() {
    let w = world().await;
    let app = &w.app;
    let org = Some(app.organizer.as_str());
    for suffix in ["leaderboard", "leaderboard.csv"] {
        // Public: everyone sees both teams.
        for who in [None, Some(w.a.as_str()), Some(w.b.as_str()), org] {
            let (code, body) = status(app, &format!("/api/v1/phases/pub/{suffix}"), who).await;
            assert_eq!(code, StatusCode::OK);
            assert!(body.contains("Team A") && body.contains("Team B"), "{body}");
        }
        // Hidden: 403 for everyone but organizers, and the refusal carries no score.
        for who in [None, Some(w.a.as_str()), Some(w.b.as_str())] {
            let (code, body) = status(app, &format!("/api/v1/phases/hid/{suffix}"), who).await;
            assert_eq!(code, StatusCode::FORBIDDEN);
            assert!(!body.contains("Team") && !body.contains("0."), "{body}");
        }
        let (code, body) = status(app, &format!("/api/v1/phases/hid/{suffix}"), org).await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("Team A") && body.contains("Team B"));
        // Own: anonymous must sign in; each team sees only itself; organizers see all.
        let (code, _) = status(app, &format!("/api/v1/phases/own/{suffix}"), None).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
        let (code, body) = status(app, &format!("/api/v1/phases/own/{suffix}"), Some(&w.a)).await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            body.contains("Team A") && !body.contains("Team B"),
            "{body}"
        );
        let (_, body) = status(app, &format!("/api/v1/phases/own/{suffix}"), Some(&w.b)).await;
        assert!(
            body.contains("Team B") && !body.contains("Team A"),
            "{body}"
        );
        let (_, body) = status(app, &format!("/api/v1/phases/own/{suffix}"), org).await;
        assert!(body.contains("Team A") && body.contains("Team B"));
    }
    // In an own phase the team's row carries no rank (it would reveal the others).
    let own: Value = app
        .get_json("/api/v1/phases/own/leaderboard", Some(&w.a))
        .await;
    assert!(own["rows"][0]["rank"].is_null());
    assert!(own["rows"][0]["mAP"].is_number());
    w.app.stop().await;
}

#[tokio::test]
async fn submission_details_and_lists_respect_visibility() {
    let w = world().await;
    let app = &w.app;
    for (phase, id) in &w.sub_a {
        let path = format!("/api/v1/submissions/{id}");
        // Anonymous: 401. Another team: 404, exactly like an id that does not exist.
        assert_eq!(
            app.get(&path, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let (code, body) = status(app, &path, Some(&w.b)).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"no such submission"}"#);
        // The team itself: scores and per-class table except in the hidden phase.
        let mine: Value = app.get_json(&path, Some(&w.a)).await;
        assert_eq!(mine["status"], "finished");
        if phase == "hid" {
            assert!(mine["scores"].is_null(), "hidden scores leaked: {mine}");
            assert!(
                mine.get("classes").is_none(),
                "hidden per-class leaked: {mine}"
            );
        } else {
            assert!(mine["scores"]["mAP"].is_number());
            assert_eq!(mine["classes"].as_array().unwrap().len(), 5);
        }
        // Organizers see everything.
        let org: Value = app.get_json(&path, Some(&app.organizer)).await;
        assert!(org["scores"]["mAP"].is_number());
        assert_eq!(org["classes"].as_array().unwrap().len(), 5);

        // "My submissions": only the team's own, scores hidden in the hidden phase.
        let list: Value = app
            .get_json(&format!("/api/v1/phases/{phase}/submissions"), Some(&w.a))
            .await;
        let subs = list["submissions"].as_array().unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0]["team"], "Team A");
        assert_eq!(subs[0]["scores"].is_null(), phase == "hid");
        assert_eq!(
            app.get(&format!("/api/v1/phases/{phase}/submissions"), None)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Organizer-only endpoints refuse teams and anonymous callers.
    for path in [
        "/api/v1/teams",
        "/api/v1/queue",
        "/api/v1/phases/hid/references",
    ] {
        assert_eq!(
            app.get(path, None).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            app.get(path, Some(&w.a)).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            app.get(path, Some(&app.organizer)).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    for path in ["/api/v1/phases/hid/reveal", "/api/v1/phases/hid/rescore"] {
        assert_eq!(
            app.post(path, Some(&w.a)).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    w.app.stop().await;
}

#[tokio::test]
async fn reveal_makes_a_hidden_phase_public_everywhere() {
    let w = world().await;
    let app = &w.app;
    let r = app
        .post("/api/v1/phases/hid/reveal", Some(&app.organizer))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (code, body) = status(app, "/api/v1/phases/hid/leaderboard", None).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("Team A") && body.contains("Team B"));
    let (_, hid_id) = w.sub_a.iter().find(|(p, _)| p == "hid").unwrap();
    let mine: Value = app
        .get_json(&format!("/api/v1/submissions/{hid_id}"), Some(&w.a))
        .await;
    assert!(mine["scores"]["mAP"].is_number());
    let comp: Value = app.get_json("/api/v1/competition", None).await;
    assert_eq!(comp["tasks"][0]["phases"][2]["visibility"], "public");
    w.app.stop().await;
}

#[tokio::test]
async fn double_blind_phases_show_pseudonyms_to_everyone_but_organizers() {
    let config = format!(
        "{CONFIG}\n[[tasks.phases]]\nid = \"blind\"\nname = \"Double-blind\"\nanonymous = true\nbootstrap = 0\n"
    );
    let app = spawn_app_with(&config, 1).await;
    let (data, task) = task3_data(150, 22);
    app.load_reference("blind", &data.reference_csv).await;
    let a = app.team("Famous Lab").await;
    let b = app.team("Other Lab").await;
    let ida = app
        .submit(
            "blind",
            &a,
            task3_submission(&data, &task, 1.0, 1).as_bytes(),
        )
        .await;
    let idb = app
        .submit(
            "blind",
            &b,
            task3_submission(&data, &task, 0.5, 2).as_bytes(),
        )
        .await;
    app.wait_scored(&ida).await;
    app.wait_scored(&idb).await;
    let (_, anon) = status(&app, "/api/v1/phases/blind/leaderboard.csv", None).await;
    assert!(
        !anon.contains("Famous Lab") && !anon.contains("Other Lab"),
        "{anon}"
    );
    assert_eq!(anon.matches("Anonymous team ").count(), 2);
    // A team sees its own name and a pseudonym for the other; pseudonyms are stable.
    let (_, seen_by_b) = status(&app, "/api/v1/phases/blind/leaderboard", Some(&b)).await;
    assert!(seen_by_b.contains("Other Lab") && !seen_by_b.contains("Famous Lab"));
    let pseudonym = |text: &str| text.split("Anonymous team ").nth(1).unwrap()[..6].to_string();
    assert_eq!(pseudonym(&seen_by_b), pseudonym(&anon));
    let (_, org) = status(
        &app,
        "/api/v1/phases/blind/leaderboard",
        Some(&app.organizer),
    )
    .await;
    assert!(org.contains("Famous Lab") && org.contains("Other Lab"));
    app.stop().await;
}
