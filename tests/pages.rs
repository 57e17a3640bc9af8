//! The web pages over real HTTP: security headers, CSRF on every form, the whole team flow
//! through the forms, escaping of hostile text, hidden and own phases, and the login rate
//! limit.

mod browser;
mod common;

use browser::*;
use common::*;
use reqwest::StatusCode;

const HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
];

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let paths = [
        ("/", StatusCode::OK),
        ("/phases/pub", StatusCode::OK),
        ("/phases/hid", StatusCode::OK),
        ("/login", StatusCode::OK),
        ("/register", StatusCode::OK),
        ("/static/style.css", StatusCode::OK),
        ("/static/upload.js", StatusCode::OK),
        ("/no/such/page", StatusCode::NOT_FOUND),
        (
            "/submissions/00000000000000000000000000000000",
            StatusCode::SEE_OTHER,
        ),
        ("/api/v1/competition", StatusCode::OK),
        ("/api/v1/phases/hid/leaderboard", StatusCode::FORBIDDEN),
        ("/api/v1/phases/pub/export/rankings.csv", StatusCode::OK),
        ("/api/v1/queue", StatusCode::UNAUTHORIZED),
    ];
    let browser = Browser::new(&app);
    for (path, expected) in paths {
        let r = browser
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{path}");
        for (name, value) in HEADERS {
            assert_eq!(
                r.headers().get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{name} on {path}"
            );
        }
        // No inline script anywhere: every <script> loads a file of this site.
        let body = r.text().await.unwrap();
        for (i, _) in body.match_indices("<script") {
            assert!(body[i..].starts_with("<script src=\"/static/"), "{path}");
        }
        assert!(!body.contains(" style=\""), "inline style on {path}");
    }
    // A POST refused by the CSRF check and an API upload get them too.
    let r = browser.post_raw("/login", &[("login", "x")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let r = app.upload("pub", None, b"x").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

#[tokio::test]
async fn session_cookie_is_signed_http_only_and_same_site() {
    let app = spawn_app().await;
    let chief = organizer(&app, "chief-web").await;
    let r = chief
        .post_form(
            "/login",
            "/login",
            &[("login", "chief-web"), ("password", "organizer password")],
        )
        .await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tailboard_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // Behind a TLS proxy the cookie is Secure.
    let token = chief.csrf("/login").await;
    let r = chief
        .client
        .post(format!("{}/login", app.address))
        .header("X-Forwarded-Proto", "https")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("csrf", token.as_str()),
            ("login", "chief-web"),
            ("password", "organizer password"),
        ]))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Secure"));
    // A tampered cookie is not a session.
    let forged = Browser::new(&app);
    let (code, body) = forged
        .client
        .get(format!("{}/organizer", app.address))
        .header("Cookie", "tailboard_session=0123456789abcdef")
        .send()
        .await
        .map(|r| (r.status(), r.headers().get("location").cloned()))
        .map(|(c, l)| (c, l.map(|l| l.to_str().unwrap().to_string())))
        .unwrap();
    assert_eq!(
        (code, body.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login"))
    );
    app.stop().await;
}

#[tokio::test]
async fn every_form_post_without_the_right_csrf_token_is_refused() {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 5);
    app.load_reference("pub", &data.reference_csv).await;
    app.load_reference("hid", &data.reference_csv).await;
    let chief = organizer(&app, "chief-web").await;
    let member = approved_member(&app, "Team CSRF", "csrf-member").await;
    let bytes = task3_submission(&data, &task, 1.0, 1);
    let sub = member.upload("pub", "p.csv", "", bytes.as_bytes()).await;
    let waiting = Browser::new(&app);
    assert_eq!(
        waiting
            .register("Waiting Team", "waiting", "long enough password")
            .await,
        StatusCode::CREATED
    );
    let team_id = tailboard::db::people::team_id_by_name(&app.state.pool, "Waiting Team")
        .await
        .unwrap()
        .unwrap();

    let other_token = member.csrf("/team").await;
    let organizer_posts = [
        format!("/organizer/teams/{team_id}/approve"),
        "/organizer/phases/hid/reveal".to_string(),
        "/organizer/phases/pub/rescore".to_string(),
        format!("/organizer/submissions/{sub}/refund"),
        "/organizer/organizers".to_string(),
        "/logout".to_string(),
    ];
    for path in &organizer_posts {
        for token in [None, Some("0".repeat(64)), Some(other_token.clone())] {
            let mut fields = vec![("login", "intruder"), ("password", "long enough password")];
            if let Some(t) = &token {
                fields.push(("csrf", t.as_str()));
            }
            let r = chief.post_raw(path, &fields).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {token:?}");
        }
    }
    // Nothing changed: the team still waits, the phase is still hidden, no new organizer,
    // the organizer is still signed in.
    let teams = tailboard::db::people::list_teams(&app.state.pool)
        .await
        .unwrap();
    assert!(!teams.iter().find(|t| t.id == team_id).unwrap().approved);
    let (code, _) = Browser::new(&app)
        .get("/api/v1/phases/hid/leaderboard")
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(tailboard::db::people::check_login(
        &app.state.pool,
        "intruder",
        "long enough password"
    )
    .await
    .unwrap()
    .is_none());
    assert!(chief.page("/organizer").await.contains("Waiting Team"));

    // Team forms: upload without or with a wrong token, select, logout.
    for token in [None, Some("f".repeat(64))] {
        let r = member
            .upload_form(
                token.as_deref(),
                "pub",
                "p.csv",
                "",
                bytes.as_bytes(),
                false,
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = member
        .post_raw(&format!("/submissions/{sub}/select"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!member
        .page("/team")
        .await
        .contains("p.csv</td>\n</tr>\n\n<tr>"));
    // Anonymous forms use the double-submit token of their cookie.
    let anon = Browser::new(&app);
    let r = anon
        .post_raw(
            "/register",
            &[
                ("team", "T"),
                ("login", "tt"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = anon
        .post_raw(
            "/login",
            &[
                ("csrf", &other_token),
                ("login", "csrf-member"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // With the right token the same posts work.
    let r = chief
        .post_form(
            "/organizer",
            &format!("/organizer/teams/{team_id}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(chief
        .page("/organizer?msg=approved")
        .await
        .contains("Team approved."));
    let r = chief
        .post_form("/organizer", "/organizer/phases/hid/reveal", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (code, _) = Browser::new(&app)
        .get("/api/v1/phases/hid/leaderboard")
        .await;
    assert_eq!(code, StatusCode::OK);

    // The API does not take a session cookie as credentials for a write (a foreign site
    // could make the browser send it); a bearer token works.
    let r = chief
        .client
        .post(format!("{}/api/v1/phases/pub/rescore", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .post("/api/v1/phases/pub/rescore", Some(&app.organizer))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    // Logout with the token ends the session.
    let r = member.post_form("/team", "/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (code, _) = member.get("/team").await;
    assert_eq!(code, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn team_registers_is_approved_uploads_through_the_form_and_appears() {
    let app = spawn_app().await;
    let (data, task) = task3_data(150, 8);
    app.load_reference("pub", &data.reference_csv).await;
    let member = Browser::new(&app);
    assert_eq!(
        member
            .register("Mirage Lab", "mirage", "long enough password")
            .await,
        StatusCode::CREATED
    );
    // Taken names are refused with a one-line reason.
    let again = Browser::new(&app);
    assert_eq!(
        again
            .register("Mirage Lab", "other", "long enough password")
            .await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    member.login("mirage", "long enough password").await;
    let page = member.page("/team").await;
    assert!(
        page.contains("waiting for an organizer&#x27;s approval")
            || page.contains("waiting for an organizer")
    );
    assert!(!page.contains("id=\"upload-form\""));
    let bytes = task3_submission(&data, &task, 1.0, 3);
    let token = csrf_of(&page);
    let r = member
        .upload_form(Some(&token), "pub", "p.csv", "", bytes.as_bytes(), false)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The organizer approves it on the organizer page.
    let chief = organizer(&app, "chief-web").await;
    let page = chief.page("/organizer").await;
    assert!(page.contains("Mirage Lab"));
    let team_id = tailboard::db::people::team_id_by_name(&app.state.pool, "Mirage Lab")
        .await
        .unwrap()
        .unwrap();
    let r = chief
        .post_form(
            "/organizer",
            &format!("/organizer/teams/{team_id}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Now the form is there, with the phase picker and the quotas.
    let page = member.page("/team").await;
    assert!(page.contains("id=\"upload-form\""));
    assert!(page.contains("<option value=\"pub\""));
    assert!(
        !page.contains("<option value=\"closed\""),
        "closed phases are not offered"
    );
    assert!(page.contains("<script src=\"/static/upload.js\"></script>"));
    let id = member
        .upload(
            "pub",
            "first-try.csv",
            "ResNet-50 baseline",
            bytes.as_bytes(),
        )
        .await;
    let detail = member.page(&format!("/submissions/{id}")).await;
    assert!(detail.contains("first-try.csv") && detail.contains("ResNet-50 baseline"));
    assert!(detail.contains("queued") || detail.contains("running") || detail.contains("finished"));
    app.wait_scored(&id).await;
    app.wait_idle().await;
    let detail = member.page(&format!("/submissions/{id}")).await;
    assert!(detail.contains("status-finished"));
    assert!(detail.contains("mAP (ranking)") && has_score(&detail));
    assert!(detail.contains("Per class") && detail.contains("Scoliosis"));
    // Leaderboard page: the team with its mAP and CI, and the CSV export link.
    let board = Browser::new(&app).page("/phases/pub").await;
    assert!(board.contains("Mirage Lab"));
    let map = app.board("pub").await["rows"][0]["mAP"].as_f64().unwrap();
    assert!(board.contains(&format!("{map:.4}")), "mAP {map:.4} missing");
    assert!(board.contains("95 % CI") && board.contains("rankings.csv"));
    // Team page: history and used quota (1 of 5 in 24 h; 4 left).
    let page = member.page("/team").await;
    assert!(page.contains(&format!("/submissions/{id}")) && page.contains("first-try.csv"));
    assert!(page.contains("<td>1 / 5</td>"), "quota not shown");
    assert!(page.contains("<td class=\"strong\">4</td>"));

    // A refused upload: the one-line reason on the team page, 422, nothing stored.
    let token = member.csrf("/team").await;
    let r = member
        .upload_form(
            Some(&token),
            "pub",
            "bad.csv",
            "",
            b"dicom_id,x\n1,2\n",
            false,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("class=\"error\" id=\"upload-error\""),
        "{page}"
    );
    // The script's JSON answers: a location on success, the error otherwise.
    let r = member
        .upload_form(
            Some(&token),
            "pub",
            "bad.csv",
            "",
            b"dicom_id,x\n1,2\n",
            true,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().len() > 5);
    let r = member
        .upload_form(
            Some(&token),
            "pub",
            "second.csv",
            "",
            bytes.as_bytes(),
            true,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["location"]
        .as_str()
        .unwrap()
        .starts_with("/submissions/"));
    // A closed phase is refused with 409 and the reason.
    let r = member
        .upload_form(
            Some(&token),
            "closed",
            "late.csv",
            "",
            bytes.as_bytes(),
            false,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("closed at"));
    app.stop().await;
}

#[tokio::test]
async fn hostile_text_is_escaped_on_every_page() {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 9);
    for phase in ["pub", "own", "hid"] {
        app.load_reference(phase, &data.reference_csv).await;
    }
    let evil = "<script>alert(1)</script>";
    let member = approved_member(&app, evil, "evil").await;
    let bytes = task3_submission(&data, &task, 1.0, 4);
    let description = "<img src=x onerror=alert(2)>";
    let file_name = "<svg onload=alert(3)>.csv";
    let mut ids = Vec::new();
    for phase in ["pub", "own", "hid"] {
        let id = member
            .upload(phase, file_name, description, bytes.as_bytes())
            .await;
        app.wait_scored(&id).await;
        ids.push(id);
    }
    app.wait_idle().await;
    let chief = organizer(&app, "chief-web").await;
    let anon = Browser::new(&app);
    let mut pages = vec![
        (&anon, "/".to_string()),
        (&anon, "/phases/pub".to_string()),
        (&member, "/team".to_string()),
        (&member, "/phases/pub".to_string()),
        (&member, "/phases/own".to_string()),
        (&chief, "/organizer".to_string()),
        (&chief, "/phases/hid".to_string()),
    ];
    for phase in ["pub", "own", "hid"] {
        pages.push((&chief, format!("/organizer/phases/{phase}")));
    }
    for id in &ids {
        pages.push((&member, format!("/submissions/{id}")));
        pages.push((&chief, format!("/submissions/{id}")));
    }
    let mut seen_name = 0;
    for (who, path) in &pages {
        let html = who.page(path).await;
        for raw in ["<script>alert", "<img src=x", "<svg onload"] {
            assert!(!html.contains(raw), "{raw} unescaped on {path}");
        }
        if html.contains("&#60;script&#62;alert(1)&#60;/script&#62;") {
            seen_name += 1;
        }
    }
    // The name is shown (escaped) on every page but the anonymous home page.
    assert_eq!(seen_name, pages.len() - 1);
    let detail = member.page(&format!("/submissions/{}", ids[0])).await;
    assert!(detail.contains("&#60;img src=x onerror=alert(2)&#62;"));
    assert!(detail.contains("&#60;svg onload=alert(3)&#62;.csv"));
    // The exports carry the text as data, never as markup for a browser to run.
    let r = chief
        .client
        .get(format!("{}/phases/pub/export/rankings.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    app.stop().await;
}

#[tokio::test]
async fn hidden_phase_pages_show_nothing_to_teams_until_the_reveal() {
    let app = spawn_app().await;
    let (data, task) = task3_data(150, 10);
    app.load_reference("hid", &data.reference_csv).await;
    app.load_reference("own", &data.reference_csv).await;
    let a = approved_member(&app, "Team Alpha", "alpha").await;
    let b = approved_member(&app, "Team Beta", "beta").await;
    let mut ids = Vec::new();
    for (who, signal) in [(&a, 1.0), (&b, 0.5)] {
        for phase in ["hid", "own"] {
            let bytes = task3_submission(&data, &task, signal, 7);
            let id = who.upload(phase, "x.csv", "", bytes.as_bytes()).await;
            app.wait_scored(&id).await;
            ids.push((phase, id));
        }
    }
    app.wait_idle().await;
    let a_hid = &ids[0].1;
    let chief = organizer(&app, "chief-web").await;
    let anon = Browser::new(&app);

    // Leaderboard page: a notice, no team, no score, for anonymous and teams.
    for (who, other) in [(&anon, "Team"), (&a, "Team Beta"), (&b, "Team Alpha")] {
        let html = who.page("/phases/hid").await;
        assert!(html.contains("hidden until the organizers reveal"));
        assert!(!html.contains(other), "{other} on the hidden board");
        assert!(!has_score(&html), "a score on the hidden board");
    }
    let html = chief.page("/phases/hid").await;
    assert!(html.contains("Team Alpha") && html.contains("Team Beta") && has_score(&html));

    // The team's own submission: scored, but no score and no per-class table.
    let html = a.page(&format!("/submissions/{a_hid}")).await;
    assert!(html.contains("status-finished"));
    assert!(html.contains("stay hidden until the organizers reveal"));
    assert!(!html.contains("Per class") && !html.contains("mAP (ranking)"));
    assert!(!has_score(&html));
    // Team page: "hidden" instead of the hidden score; the own-phase score is there.
    let html = a.page("/team").await;
    assert!(html.contains("<td>hidden</td>"));
    // Another team's submission is a 404 exactly like a missing one.
    let (code, body) = b.get(&format!("/submissions/{a_hid}")).await;
    let (code2, body2) = b.get("/submissions/0123456789abcdef0123456789abcdef").await;
    assert_eq!(
        (code, code2),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    assert_eq!(body, body2);
    assert!(!body.contains("Team Alpha"));

    // Own phase: each team sees only its own row, without rank; anonymous must sign in.
    let html = a.page("/phases/own").await;
    assert!(html.contains("Team Alpha") && !html.contains("Team Beta"));
    let html = anon.page("/phases/own").await;
    assert!(html.contains("sign in") && !html.contains("Team Alpha") && !has_score(&html));

    // Exports: refused to anonymous and teams, given to organizers.
    for file in [
        "rankings.csv",
        "rankings.json",
        "per-class.csv",
        "submissions.csv",
        "rankings.tex",
    ] {
        for phase in ["hid", "own"] {
            let path = format!("/phases/{phase}/export/{file}");
            for who in [&anon, &a] {
                let (code, body) = who.get(&path).await;
                assert_eq!(code, StatusCode::FORBIDDEN, "{path}");
                assert!(
                    !body.contains("Team") && !has_score(&body),
                    "{path}: {body}"
                );
            }
            let (code, body) = chief.get(&path).await;
            assert_eq!(code, StatusCode::OK, "{path}");
            assert!(
                body.contains("Team Alpha") && body.contains("Team Beta"),
                "{path}"
            );
        }
    }

    // The organizer reveals through the page: now everyone sees everything.
    let html = chief.page("/organizer/phases/hid").await;
    assert!(html.contains("Reveal"));
    let r = chief
        .post_form("/organizer/phases/hid", "/organizer/phases/hid/reveal", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for who in [&anon, &b] {
        let html = who.page("/phases/hid").await;
        assert!(html.contains("Team Alpha") && html.contains("Team Beta") && has_score(&html));
        let (code, body) = who.get("/phases/hid/export/rankings.csv").await;
        assert_eq!(code, StatusCode::OK);
        assert!(body.contains("Team Alpha"));
    }
    let html = a.page(&format!("/submissions/{a_hid}")).await;
    assert!(html.contains("mAP (ranking)") && html.contains("Per class") && has_score(&html));
    // Still a 404 for another team, revealed or not.
    assert_eq!(
        b.get(&format!("/submissions/{a_hid}")).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited() {
    let app = spawn_app().await;
    let member = approved_member(&app, "Team Limit", "limited").await;
    let other = approved_member(&app, "Team Other", "other-one").await;
    let attacker = Browser::new(&app);
    for _ in 0..5 {
        let r = attacker
            .post_form(
                "/login",
                "/login",
                &[("login", "limited"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.unwrap().contains("wrong login or password"));
    }
    // Over the limit even the right password is not checked.
    let r = attacker
        .post_form(
            "/login",
            "/login",
            &[("login", "limited"), ("password", "long enough password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("too many failed sign-ins"));
    // The API's token endpoint checks passwords too: it shares the limit.
    let r = app
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"login": "limited", "password": "long enough password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..5 {
        let r = app
            .post_json(
                "/api/v1/tokens",
                &serde_json::json!({"login": "other-one", "password": "wrong password!"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"login": "other-one", "password": "long enough password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other logins are not blocked, and existing sessions keep working.
    let third = approved_member(&app, "Team Third", "third-one").await;
    let r = attacker
        .post_form(
            "/login",
            "/login",
            &[("login", "third-one"), ("password", "long enough password")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(third.page("/team").await.contains("Team Third"));
    assert!(member.page("/team").await.contains("Team Limit"));
    assert!(other.page("/team").await.contains("Team Other"));
    app.stop().await;
}

#[tokio::test]
async fn registrations_per_address_are_limited_on_the_form_and_the_api_together() {
    let app = spawn_app_changed(|s| s.registrations_per_hour = 4).await;
    let browser = Browser::new(&app);
    // Two by the form, one by the API, one refused for its name (it still counts).
    assert_eq!(
        browser
            .register("Form One", "formone", "long enough password")
            .await,
        StatusCode::CREATED
    );
    assert_eq!(
        browser
            .register("Form Two", "formtwo", "long enough password")
            .await,
        StatusCode::CREATED
    );
    let api = |n: &str| {
        serde_json::json!({"team": n, "login": n.replace(' ', "").to_lowercase(),
        "password": "long enough password"})
    };
    assert_eq!(
        app.post_json("/api/v1/register", &api("Api One"))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post_json("/api/v1/register", &api("Form One"))
            .await
            .status(),
        StatusCode::CONFLICT
    );
    // The fifth attempt from this address, by either path, is 429 and stores nothing.
    let r = app.post_json("/api/v1/register", &api("Api Two")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "too many registrations from your address; try again in 60 min"
    );
    assert_eq!(
        browser
            .register("Form Three", "formthree", "long enough password")
            .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let teams: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM teams")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(teams, 3, "Form One, Form Two, Api One");
}
