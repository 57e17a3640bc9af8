//! A browser-like client for page tests: its own cookie jar, no automatic redirects (tests
//! assert them), and helpers that read the CSRF token from a page and post forms with it.
#![allow(dead_code)]

use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response, StatusCode};

use crate::common::TestApp;

/// One person's browser.
pub struct Browser {
    /// HTTP client with a cookie store.
    pub client: Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// The first CSRF token in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .expect("the page has a form with a CSRF token")
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_string()
}

/// `application/x-www-form-urlencoded` body of `fields`.
pub fn urlencoded(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// True when the text holds a decimal such as `0.7312` (a score).
pub fn has_score(text: &str) -> bool {
    let b = text.as_bytes();
    (1..b.len().saturating_sub(4)).any(|i| {
        b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
    })
}

impl Browser {
    /// A fresh browser with no cookies.
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            client: Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                // Below the server's 5 s keep-alive: a connection the server is closing
                // is never picked for the next request (hyper then reports an
                // IncompleteMessage on a busy machine).
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .unwrap(),
            base: app.address.clone(),
        }
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// `GET path` expecting 200; the body.
    pub async fn page(&self, path: &str) -> String {
        let (code, body) = self.get(path).await;
        assert_eq!(code, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        csrf_of(&self.page(path).await)
    }

    /// Posts a URL-encoded form as is (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(urlencoded(fields))
            .send()
            .await
            .unwrap()
    }

    /// Posts a URL-encoded form with the CSRF token taken from `from` (a page with a form).
    pub async fn post_form(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(from).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Signs in; panics unless answered with a redirect.
    pub async fn login(&self, login: &str, password: &str) {
        let r = self
            .post_form(
                "/login",
                "/login",
                &[("login", login), ("password", password)],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "sign-in of {login} failed"
        );
    }

    /// Registers a team through the page; returns the status.
    pub async fn register(&self, team: &str, login: &str, password: &str) -> StatusCode {
        self.post_form(
            "/register",
            "/register",
            &[("team", team), ("login", login), ("password", password)],
        )
        .await
        .status()
    }

    /// Posts the team page's upload form (`csrf` is the token to send, if any).
    pub async fn upload_form(
        &self,
        csrf: Option<&str>,
        phase: &str,
        file_name: &str,
        description: &str,
        bytes: &[u8],
        json: bool,
    ) -> Response {
        let mut form = Form::new();
        if let Some(t) = csrf {
            form = form.text("csrf", t.to_string());
        }
        let form = form
            .text("phase", phase.to_string())
            .text("description", description.to_string())
            .part(
                "file",
                Part::bytes(bytes.to_vec()).file_name(file_name.to_string()),
            );
        let mut req = self
            .client
            .post(format!("{}/team/upload", self.base))
            .multipart(form);
        if json {
            req = req.header("Accept", "application/json");
        }
        req.send().await.unwrap()
    }

    /// Uploads through the team page's form; returns the new submission's id.
    pub async fn upload(
        &self,
        phase: &str,
        file_name: &str,
        description: &str,
        bytes: &[u8],
    ) -> String {
        let token = self.csrf("/team").await;
        let r = self
            .upload_form(Some(&token), phase, file_name, description, bytes, false)
            .await;
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "upload refused: {}",
            r.text().await.unwrap()
        );
        let location = location.unwrap();
        location.strip_prefix("/submissions/").unwrap().to_string()
    }
}

/// Registers a team with one member through the pages, approves it (as an organizer would)
/// and returns the member's signed-in browser.
pub async fn approved_member(app: &TestApp, team: &str, login: &str) -> Browser {
    let browser = Browser::new(app);
    assert_eq!(
        browser.register(team, login, "long enough password").await,
        StatusCode::CREATED
    );
    let team_id = tailboard::db::people::team_id_by_name(&app.state.pool, team)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tailboard::db::people::approve_team(&app.state.pool, team_id)
            .await
            .unwrap()
    );
    browser.login(login, "long enough password").await;
    browser
}

/// Creates an organizer with a password and returns their signed-in browser.
pub async fn organizer(app: &TestApp, login: &str) -> Browser {
    let name = tailboard::domain::Login::parse(login).unwrap();
    let password = tailboard::domain::Password::parse("organizer password").unwrap();
    tailboard::db::people::create_organizer(&app.state.pool, &name, Some(&password))
        .await
        .unwrap()
        .unwrap();
    let browser = Browser::new(app);
    browser.login(login, "organizer password").await;
    browser
}
