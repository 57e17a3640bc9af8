//! Browser sessions: signed cookies identify a member for reads; API writes need a token.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn signed_session_cookie_reads_but_cannot_write_through_the_api() {
    let app = spawn_app().await;
    let (data, task) = task3_data(100, 81);
    app.load_reference("pub", &data.reference_csv).await;
    let r = app
        .post_json(
            "/api/v1/register",
            &json!({"team": "Cookie Team", "login": "cathy", "password": "cookies are nice"}),
        )
        .await;
    let team_id = r.json::<serde_json::Value>().await.unwrap()["team_id"]
        .as_i64()
        .unwrap();
    app.post(
        &format!("/api/v1/teams/{team_id}/approve"),
        Some(&app.organizer),
    )
    .await;
    let user_id = tailboard::db::people::check_login(&app.state.pool, "cathy", "cookies are nice")
        .await
        .unwrap()
        .expect("password accepted");
    assert!(
        tailboard::db::people::check_login(&app.state.pool, "cathy", "cookies are bad")
            .await
            .unwrap()
            .is_none()
    );
    let (session, _csrf) = tailboard::db::people::create_session(&app.state.pool, user_id)
        .await
        .unwrap();
    let cookie = tailboard::auth::session_cookie(&session, &app.state.cookie_key, false);
    let header = format!("{}={}", cookie.name(), cookie.value());
    assert!(cookie.http_only().unwrap_or(false));

    let plain = reqwest::Client::new();
    let url = format!("{}/api/v1/phases/pub/submissions", app.address);
    let r = plain
        .get(&url)
        .header("Cookie", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the session identifies the member"
    );

    // A forged or altered cookie is anonymous.
    let forged = format!("{}={}x", cookie.name(), cookie.value());
    let r = plain
        .get(&url)
        .header("Cookie", forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let unsigned = format!("{}={}", cookie.name(), session);
    let r = plain
        .get(&url)
        .header("Cookie", unsigned)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // An upload carried only by the cookie (what a cross-site form could send) is refused.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(task3_submission(&data, &task, 1.0, 1).into_bytes())
            .file_name("p.csv"),
    );
    let r = plain
        .post(&url)
        .header("Cookie", &header)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let list = plain
        .get(&url)
        .header("Cookie", &header)
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = list.json().await.unwrap();
    assert!(list["submissions"].as_array().unwrap().is_empty());

    // After logout the cookie is worth nothing.
    tailboard::db::people::delete_session(&app.state.pool, &session)
        .await
        .unwrap();
    let r = plain
        .get(&url)
        .header("Cookie", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
