//! Web security, filling what tests/pages.rs and tests/exports.rs leave open: the CSRF
//! token on every state-changing form (listed from the source, so a new form is covered or
//! the test fails), API writes that a browser's cookie cannot make, cookie flags with and
//! without `--secure-cookies` (also through the real binary), security headers on error
//! answers, hostile text in the places the other tests do not reach (scoring queue, rank
//! movements, echoed form input, refusal messages), and formula injection in every text
//! column of every CSV export.

mod browser;
mod common;
mod surface;

use browser::*;
use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use surface::*;

/// A POST of a page form, as sent by `who` with `token` as its CSRF field (`None`: no field).
async fn post_form_route(
    who: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<&[u8]>,
    token: Option<&str>,
) -> reqwest::Response {
    let url = format!("{}{path}", who.base);
    match file {
        None => {
            let mut all: Vec<(&str, &str)> = fields.to_vec();
            if let Some(t) = token {
                all.push(("csrf", t));
            }
            who.client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(urlencoded(&all))
                .send()
                .await
                .unwrap()
        }
        Some(bytes) => {
            let mut form = Form::new();
            if let Some(t) = token {
                form = form.text("csrf", t.to_string());
            }
            for (k, v) in fields {
                form = form.text(k.to_string(), v.to_string());
            }
            let form = form.part("file", Part::bytes(bytes.to_vec()).file_name("f.csv"));
            who.client.post(url).multipart(form).send().await.unwrap()
        }
    }
}

/// Who posts a form, where, its fields, its file (multipart) and the status of success.
type FormCase<'a> = (
    &'a Browser,
    String,
    Vec<(&'a str, &'a str)>,
    Option<&'a [u8]>,
    u16,
);

#[tokio::test]
async fn every_state_changing_form_needs_its_csrf_token_and_a_forged_post_changes_nothing() {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 51);
    app.load_reference("pub", &data.reference_csv).await;
    let chief = organizer(&app, "chief-csrf").await;
    let member = approved_member(&app, "Form Team", "form-member").await;
    let other = approved_member(&app, "Other Team", "other-member").await;
    let anon = Browser::new(&app);
    let stranger = Browser::new(&app);
    let submission = task3_submission(&data, &task, 0.8, 2).into_bytes();
    let sub = member.upload("pub", "p.csv", "", &submission).await;
    app.wait_scored(&sub).await;
    let r = app
        .post_json(
            "/api/v1/register",
            &serde_json::json!({"team": "Waiting", "login": "waiting", "password": "long enough password"}),
        )
        .await;
    let waiting = r.json::<Value>().await.unwrap()["team_id"]
        .as_i64()
        .unwrap();
    app.wait_idle().await;

    // Every form route of the pages, from the source. Each gets the person allowed to use
    // it, a body that succeeds with the right token, and the status of that success.
    let forms: Vec<Route> = registered_routes()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.pattern.starts_with("/api/"))
        .collect();
    assert!(forms.len() >= 11, "{forms:?}");
    let mut logout = None;
    for route in &forms {
        let (who, path, fields, file, ok): FormCase = match route.pattern.as_str() {
            "/login" => (
                &anon,
                "/login".into(),
                vec![
                    ("login", "form-member"),
                    ("password", "long enough password"),
                ],
                None,
                303,
            ),
            "/register" => (
                &anon,
                "/register".into(),
                vec![
                    ("team", "Forged"),
                    ("login", "forged"),
                    ("password", "long enough password"),
                ],
                None,
                201,
            ),
            "/logout" => {
                logout = Some(route.clone());
                continue;
            }
            "/team/upload" => (
                &member,
                "/team/upload".into(),
                vec![("phase", "pub")],
                Some(&submission[..]),
                303,
            ),
            "/submissions/{id}/select" => (
                &member,
                format!("/submissions/{sub}/select"),
                vec![],
                None,
                303,
            ),
            "/organizer/teams/{id}/approve" => (
                &chief,
                format!("/organizer/teams/{waiting}/approve"),
                vec![],
                None,
                303,
            ),
            "/organizer/organizers" => (
                &chief,
                "/organizer/organizers".into(),
                vec![
                    ("login", "forged-org"),
                    ("password", "long enough password"),
                ],
                None,
                303,
            ),
            "/organizer/phases/{phase}/reveal" => (
                &chief,
                "/organizer/phases/pub/reveal".into(),
                vec![],
                None,
                303,
            ),
            "/organizer/phases/{phase}/rescore" => (
                &chief,
                "/organizer/phases/pub/rescore".into(),
                vec![],
                None,
                303,
            ),
            "/organizer/phases/{phase}/reference" => (
                &chief,
                "/organizer/phases/pub/reference".into(),
                vec![],
                Some(data.reference_csv.as_bytes()),
                303,
            ),
            "/organizer/submissions/{id}/refund" => (
                &chief,
                format!("/organizer/submissions/{sub}/refund"),
                vec![],
                None,
                303,
            ),
            other => panic!("the form route POST {other} has no CSRF case in tests/websecurity.rs"),
        };
        let own = who.csrf("/login").await;
        // Another person's valid token; for anonymous forms, a token of another browser's
        // cookie (double-submit: the token must match this browser's own cookie).
        let foreign = if std::ptr::eq(who, &anon) {
            stranger.csrf("/login").await
        } else {
            other.csrf("/login").await
        };
        let wrong = "0".repeat(own.len());
        for (label, token) in [
            ("no token", None),
            ("a wrong token", Some(wrong.as_str())),
            ("another person's token", Some(foreign.as_str())),
            ("an empty token", Some("")),
        ] {
            let before = fingerprint(&app.state.pool, &app.dir).await;
            let r = post_form_route(who, &path, &fields, file, token).await;
            let status = r.status();
            check_headers(&format!("forged POST {path}"), r.headers(), false);
            let body = r.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "POST {path} with {label}: {body}"
            );
            assert!(body.contains("did not come from this site"), "{body}");
            let after = fingerprint(&app.state.pool, &app.dir).await;
            assert!(
                before == after,
                "POST {path} with {label} changed stored data: {}",
                first_difference(&before, &after)
            );
        }
        // The same request with the right token goes through: the 403s above were the
        // token's doing.
        let r = post_form_route(who, &path, &fields, file, Some(&own)).await;
        assert_eq!(r.status().as_u16(), ok, "POST {path} with its token");
        app.wait_idle().await;
    }
    // Sign-out last: it must not be forced on anyone either.
    let route = logout.expect("the sign-out form is registered");
    for token in [None, Some("0".repeat(64))] {
        let r = post_form_route(&member, &route.pattern, &[], None, token.as_deref()).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            member.get("/team").await.0,
            StatusCode::OK,
            "a forged sign-out ended the session"
        );
    }
    let own = member.csrf("/team").await;
    let r = post_form_route(&member, &route.pattern, &[], None, Some(&own)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(member.get("/team").await.0, StatusCode::SEE_OTHER);
    app.stop().await;
}

/// A foreign site can make a signed-in browser send its cookies with a POST, but the API
/// never takes a cookie as the credentials of a write, and its two credential-free writes
/// (register, tokens) take only JSON, which a cross-site form cannot send.
#[tokio::test]
async fn api_writes_ignore_the_browser_session_and_cross_site_bodies() {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 52);
    app.load_reference("pub", &data.reference_csv).await;
    let chief = organizer(&app, "chief-api").await;
    let member = approved_member(&app, "Cookie Team", "cookie-member").await;
    let submission = task3_submission(&data, &task, 0.8, 3).into_bytes();
    let sub = member.upload("pub", "p.csv", "", &submission).await;
    app.wait_scored(&sub).await;
    app.wait_idle().await;
    let writes: Vec<Route> = registered_routes()
        .into_iter()
        .filter(|r| r.method != "GET" && r.pattern.starts_with("/api/"))
        .collect();
    assert!(writes.len() >= 10, "{writes:?}");
    for route in &writes {
        let path = route
            .pattern
            .replace("/teams/{id}", "/teams/1")
            .replace("{phase}", "pub")
            .replace("{id}", &sub);
        for who in [&chief, &member] {
            let before = fingerprint(&app.state.pool, &app.dir).await;
            // What a cross-site form can send: urlencoded or text/plain, never JSON.
            for (content_type, body) in [
                ("application/x-www-form-urlencoded", "baseline=true&login=cookie-member&password=long+enough+password&team=X"),
                ("text/plain", "{\"baseline\": true, \"login\": \"cookie-member\", \"password\": \"long enough password\", \"team\": \"X\"}"),
            ] {
                let r = who
                    .client
                    .post(format!("{}{path}", app.address))
                    .header("Content-Type", content_type)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                check_headers(&format!("cookie POST {path}"), r.headers(), false);
                assert!(
                    matches!(status.as_u16(), 400 | 401 | 415),
                    "POST {path} with only a session cookie and {content_type}: {status}"
                );
            }
            let after = fingerprint(&app.state.pool, &app.dir).await;
            assert!(
                before == after,
                "cookie POST {path} changed stored data: {}",
                first_difference(&before, &after)
            );
        }
    }
    app.stop().await;
}

/// The cookie and its name=value pair from a `Set-Cookie` header.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn cookies_are_secure_when_the_operator_says_tls_and_only_then() {
    // Off (the default, plain HTTP on a laptop): no Secure, no HSTS; the access table
    // checks every other cookie of a whole run the same way.
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/login", app.address))
        .send()
        .await
        .unwrap();
    check_headers("GET /login", r.headers(), false);
    assert!(r.headers().get("strict-transport-security").is_none());
    assert!(
        r.headers().get("set-cookie").is_some(),
        "the sign-in form sets its CSRF cookie"
    );
    app.stop().await;

    // On: every cookie of sign-in, session and sign-out is Secure, and HSTS is sent.
    let app = spawn_app_changed(|s| s.secure_cookies = true).await;
    let login = tailboard::domain::Login::parse("chief-tls").unwrap();
    let password = tailboard::domain::Password::parse("organizer password").unwrap();
    tailboard::db::people::create_organizer(&app.state.pool, &login, Some(&password))
        .await
        .unwrap()
        .unwrap();
    // A client without a cookie store: the cookies are carried by hand, as a browser
    // would over HTTPS.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |p: &str| format!("{}{p}", app.address);
    let r = client.get(url("/login")).send().await.unwrap();
    check_headers("GET /login (TLS)", r.headers(), true);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let anon_cookie = cookie_pair(r.headers()["set-cookie"].to_str().unwrap());
    let token = csrf_of(&r.text().await.unwrap());
    let r = client
        .post(url("/login"))
        .header("Cookie", &anon_cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[
            ("csrf", &token),
            ("login", "chief-tls"),
            ("password", "organizer password"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    check_headers("POST /login (TLS)", r.headers(), true);
    let session = cookie_pair(r.headers()["set-cookie"].to_str().unwrap());
    assert!(session.starts_with("tailboard_session="));
    let r = client
        .get(url("/organizer"))
        .header("Cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = csrf_of(&r.text().await.unwrap());
    let r = client
        .post(url("/logout"))
        .header("Cookie", &session)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(urlencoded(&[("csrf", &token)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    check_headers("POST /logout (TLS)", r.headers(), true);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Error answers and the API carry the same headers.
    for path in ["/no/such/page", "/api/v1/queue", "/static/style.css"] {
        let r = client.get(url(path)).send().await.unwrap();
        check_headers(path, r.headers(), true);
        assert!(
            r.headers().get("strict-transport-security").is_some(),
            "{path}"
        );
    }
    app.stop().await;
}

/// `tailboard serve --secure-cookies`: the operator behind a TLS proxy turns it on from
/// the command line.
#[tokio::test]
async fn the_serve_command_turns_secure_cookies_on() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("competition.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(
        &[
            "--secure-cookies".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
        ],
        None,
    );
    let address = server.address.clone();
    let r = reqwest::get(format!("{address}/login")).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    drop(server);
    assert_eq!(status, StatusCode::OK);
    check_headers("GET /login from `serve --secure-cookies`", &headers, true);
    assert!(headers.get("strict-transport-security").is_some());
}

#[tokio::test]
async fn malformed_requests_get_the_security_headers_too() {
    let app = spawn_app().await;
    let token = app.team("Header Team").await;
    let url = |p: &str| format!("{}{p}", app.address);
    let cases = [
        (
            app.client
                .post(url("/api/v1/teams/not-a-number/approve"))
                .bearer_auth(&app.organizer),
            404,
        ),
        (
            app.client
                .post(url("/api/v1/register"))
                .header("Content-Type", "application/json")
                .body("{not json"),
            400,
        ),
        (app.client.delete(url("/api/v1/competition")), 404),
        (
            app.client
                .get(url("/api/v1/queue"))
                .bearer_auth("not-a-token"),
            401,
        ),
        (
            app.client.get(url("/api/v1/queue")).bearer_auth(&token),
            403,
        ),
        (
            app.client
                .post(url("/api/v1/phases/pub/submissions"))
                .bearer_auth(&token)
                .header("Content-Type", "multipart/form-data; boundary=x")
                .body("--x\r\nbroken"),
            400,
        ),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        check_headers(&format!("malformed request {i}"), r.headers(), false);
        // 405 is as good as 404 for a method the route does not have.
        assert!(
            status == expected || (expected == 404 && status == 405),
            "case {i}: {status}"
        );
    }
    app.stop().await;
}

/// Hostile text where the other tests do not put it: a team name in the organizers'
/// scoring queue and rank-movement list, form input echoed back, a CSV column name echoed
/// in a refusal message. Shown as text everywhere, never as markup.
#[tokio::test]
async fn hostile_text_is_inert_in_the_queue_rank_moves_and_echoed_input() {
    const EVIL: &str = "<script>alert(1)</script>";
    const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";
    let app = spawn_app_with(CONFIG, 0).await;
    let (data, task) = task3_data(120, 53);
    app.load_reference("pub", &data.reference_csv).await;
    let chief = organizer(&app, "chief-xss").await;
    let evil = approved_member(&app, EVIL, "evil-member").await;
    let plain = approved_member(&app, "Plain Team", "plain-member").await;
    let good = task3_submission(&data, &task, 1.0, 1).into_bytes();
    let weak = task3_submission(&data, &task, 0.2, 2).into_bytes();
    let evil_sub = evil.upload("pub", "e.csv", "", &good).await;
    plain.upload("pub", "p.csv", "", &weak).await;
    // No worker: the jobs wait in the queue the organizers see.
    let page = chief.page("/organizer").await;
    assert!(page.contains(ESCAPED), "the queue shows the team");
    assert!(!page.contains(EVIL));

    // Echoed input: the registration form shows the refused team name back.
    let visitor = Browser::new(&app);
    let r = visitor
        .post_form(
            "/register",
            "/register",
            &[
                ("team", EVIL),
                ("login", "x"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains(ESCAPED) && !body.contains(EVIL), "{body}");
    // A refusal message that quotes the uploaded CSV's header, on the page and as JSON.
    let hostile_csv = format!("dicom_id,{EVIL}\n1,0.5\n");
    let token = evil.csrf("/team").await;
    for json in [false, true] {
        let r = evil
            .upload_form(
                Some(&token),
                "pub",
                "<b>x</b>.csv",
                "",
                hostile_csv.as_bytes(),
                json,
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        if json {
            assert!(
                content_type.starts_with("application/json"),
                "{content_type}"
            );
        } else {
            assert!(!body.contains(EVIL) && !body.contains("<b>x</b>"), "{body}");
        }
    }

    // Scores, then new labels that reverse the ranking: the rank movements name the team.
    let app = app.restart(1).await;
    app.wait_scored(&evil_sub).await;
    app.wait_idle().await;
    let mut flipped = String::new();
    for (i, line) in data.reference_csv.lines().enumerate() {
        if i == 0 {
            flipped.push_str(line);
        } else {
            let mut cells = line.split(',');
            flipped.push_str(cells.next().unwrap());
            for c in cells {
                flipped.push_str(if c == "1" { ",0" } else { ",1" });
            }
        }
        flipped.push('\n');
    }
    app.load_reference("pub", &flipped).await;
    app.wait_idle().await;
    let chief = Browser {
        client: chief.client.clone(),
        base: app.address.clone(),
    };
    let page = chief.page("/organizer/phases/pub").await;
    assert!(
        page.contains(&format!("{ESCAPED}: 1 → 2")),
        "rank movement missing: {page}"
    );
    assert!(!page.contains(EVIL));
    app.stop().await;
}

/// Every text column of every CSV export, fed each dangerous first character: the cell
/// is neutralised, whatever the database holds (tabs and carriage returns cannot come
/// in through the forms, so they are written straight into the database).
#[tokio::test]
async fn every_text_column_of_every_csv_export_is_formula_safe() {
    const DANGEROUS: [&str; 6] = ["=1+2", "+3+4", "-5+6", "@SUM(A1)", "\tTAB", "\rCR"];
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 54);
    let mut failed_ids = Vec::new();
    app.load_reference("pub", &data.reference_csv).await;
    let mut ids = Vec::new();
    for i in 0..DANGEROUS.len() {
        // One team each: the daily quota is 5.
        let team = app.team(&format!("Formula Team {i}")).await;
        let bytes = task3_submission(&data, &task, 0.3 + 0.1 * i as f64, i as u64);
        ids.push(app.submit("pub", &team, bytes.as_bytes()).await);
    }
    for id in &ids {
        app.wait_scored(id).await;
    }
    app.wait_idle().await;
    for (id, text) in ids.iter().zip(DANGEROUS) {
        sqlx::query("UPDATE submissions SET description = ?, file_name = ? WHERE id = ?")
            .bind(text)
            .bind(format!("{text}.csv"))
            .bind(id)
            .execute(&app.state.pool)
            .await
            .unwrap();
    }
    // A failed run whose stored reason starts with each character too.
    for (i, text) in DANGEROUS.iter().enumerate() {
        let id = format!("{:032x}", 0xdead_0000 + i);
        sqlx::query(
            "INSERT INTO submissions (id, phase_id, team_id, description, file_name, file_sha256,
                 file_bytes, created_at, status, error)
             SELECT ?, 'pub', team_id, '', 'x.csv', file_sha256, 1, created_at, 'failed', ?
             FROM submissions WHERE id = ?",
        )
        .bind(&id)
        .bind(text)
        .bind(&ids[0])
        .execute(&app.state.pool)
        .await
        .unwrap();
        failed_ids.push(id);
    }
    let exports: Vec<String> = tailboard::routes::exports::FILES
        .iter()
        .filter(|f| f.ends_with(".csv"))
        .map(|f| format!("/phases/pub/export/{f}"))
        .chain(["/api/v1/phases/pub/leaderboard.csv".to_string()])
        .collect();
    let mut seen = std::collections::HashSet::new();
    for path in &exports {
        let r = app.get(path, Some(&app.organizer)).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        check_headers(path, r.headers(), false);
        let text = r.text().await.unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    assert!(cell.parse::<f64>().is_ok(), "{path}: formula cell {cell:?}");
                }
                if let Some(rest) = cell.strip_prefix('\'') {
                    seen.insert(rest.to_string());
                }
            }
        }
    }
    // Each dangerous text reached an export (as description, file name and error).
    for text in DANGEROUS {
        for shown in [text.to_string(), format!("{text}.csv")] {
            assert!(
                seen.contains(&shown),
                "{shown:?} not found neutralised in any export"
            );
        }
    }
    assert_eq!(failed_ids.len(), DANGEROUS.len());
    app.stop().await;
}
