//! Access control, table-driven: every route the server registers x {anonymous, team A,
//! team B, organizer}, with the expected status of each cell, on the public, own and hidden
//! phases of the test competition (and the closed one where it matters).
//!
//! The table is checked against the routes read from the source (`tests/surface`): a route
//! added without a row fails here. Every response of the run is also searched for what the
//! viewer must never get: API tokens (and their stored hashes), password hashes, passwords,
//! other people's CSRF tokens, reference label rows, hidden scores, and the other team's
//! scores, file names, descriptions and private submission ids; every response must carry
//! the security headers and only well-flagged cookies. Refused writes are checked against a
//! fingerprint of the whole database and file store: they change nothing.

mod browser;
mod common;
mod surface;

use std::collections::BTreeSet;

use browser::*;
use common::*;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use surface::*;

const ANON: usize = 0;
const A: usize = 1;
const B: usize = 2;
const ORG: usize = 3;
const NAMES: [&str; 4] = ["anonymous", "team A", "team B", "organizer"];
/// Short tags for names made per viewer (registrations, organizers).
const TAGS: [&str; 4] = ["anon", "alder", "birch", "org"];

const TEAM_NAMES: [&str; 2] = ["Alder Lab", "Birch Lab"];
const LOGINS: [&str; 4] = ["", "alder-member", "birch-member", "chief-access"];
const MEMBER_PASSWORD: &str = "long enough password";
const ORGANIZER_PASSWORD: &str = "organizer password";
const PHASES: [&str; 3] = ["pub", "own", "hid"];
/// An id no submission has (right shape, so it reaches the database lookup).
const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef";

/// One person and how they authenticate: the browser's session cookie on pages, the API
/// token (as `Authorization: Bearer`) on `/api/`.
struct Person {
    browser: Browser,
    token: Option<String>,
    csrf: String,
}

/// What a request sends. Strings may hold `{tag}`, `{login}` and `{password}`, filled per
/// viewer; forms and multipart bodies get the viewer's own CSRF token.
#[derive(Clone)]
enum Body {
    Empty,
    Form(Vec<(&'static str, &'static str)>),
    Multipart {
        fields: Vec<(&'static str, &'static str)>,
        file: Vec<u8>,
    },
    Json(&'static str),
}

/// When a write runs: reveals and sign-outs change what later cells may see, so they come
/// last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Normal,
    Reveal,
    Logout,
}

struct Case {
    method: &'static str,
    pattern: &'static str,
    path: String,
    body: Body,
    /// Expected status for anonymous, team A, team B, organizer.
    expect: [u16; 4],
    stage: Stage,
}

fn case(method: &'static str, pattern: &'static str, path: String, expect: [u16; 4]) -> Case {
    Case {
        method,
        pattern,
        path,
        body: Body::Empty,
        expect,
        stage: Stage::Normal,
    }
}

impl Case {
    fn with(mut self, body: Body) -> Case {
        self.body = body;
        self
    }
    fn at(mut self, stage: Stage) -> Case {
        self.stage = stage;
        self
    }
}

/// True when `path` is an instance of the route `pattern` (`{x}` matches one segment).
fn matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}') && !b.is_empty()))
}

struct World {
    app: TestApp,
    people: Vec<Person>,
    /// Submission ids: `subs[team][phase index]` for team 0 = A, 1 = B.
    subs: [[String; 3]; 2],
    /// Per viewer: what its responses must not contain.
    forbidden: Vec<Forbidden>,
    /// Per viewer: the same, minus scores (after the reveal they are public).
    forbidden_after_reveal: Vec<Forbidden>,
    reference_csv: String,
    /// Teams waiting for approval (approved by the page and by the API).
    waiting: [i64; 2],
    submission: Vec<u8>,
}

async fn api_upload(
    app: &TestApp,
    token: &str,
    phase: &str,
    file: &str,
    description: &str,
    bytes: &[u8],
) -> String {
    let form = Form::new()
        .part(
            "file",
            Part::bytes(bytes.to_vec()).file_name(file.to_string()),
        )
        .text("description", description.to_string());
    let r = app
        .client
        .post(format!("{}/api/v1/phases/{phase}/submissions", app.address))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn api_token(app: &TestApp, login: &str, password: &str) -> String {
    let r = app
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"login": login, "password": password}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every number of a submission's scores and per-class table that is specific enough to
/// be recognised in a page (full precision; mAP and mAUROC also as the pages' 4 decimals).
fn score_strings(view: &Value) -> Vec<String> {
    let mut out = Vec::new();
    // A simple fraction (1/15, 7/20...) also turns up in unrelated places: skip those.
    let simple =
        |x: f64| (1..=1000).any(|d| ((x * d as f64) - (x * d as f64).round()).abs() < 1e-9);
    let mut push = |v: &Value| {
        if let Some(x) = v.as_f64().filter(|&x| !simple(x)) {
            out.push(x.to_string());
        }
    };
    for (_, v) in view["scores"].as_object().unwrap() {
        push(v);
    }
    for class in view["classes"].as_array().unwrap() {
        for (_, v) in class.as_object().unwrap() {
            push(v);
        }
    }
    for key in ["mAP", "mAUROC"] {
        out.push(format!("{:.4}", view["scores"][key].as_f64().unwrap()));
    }
    out
}

async fn world() -> World {
    let app = spawn_app().await;
    let (data, task) = task3_data(120, 41);
    for phase in PHASES {
        app.load_reference(phase, &data.reference_csv).await;
    }
    let anon = Browser::new(&app);
    let a = approved_member(&app, TEAM_NAMES[0], LOGINS[A]).await;
    let b = approved_member(&app, TEAM_NAMES[1], LOGINS[B]).await;
    let chief = organizer(&app, LOGINS[ORG]).await;
    let mut people = Vec::new();
    for (i, browser) in [anon, a, b, chief].into_iter().enumerate() {
        let token = match i {
            ANON => None,
            ORG => Some(api_token(&app, LOGINS[i], ORGANIZER_PASSWORD).await),
            _ => Some(api_token(&app, LOGINS[i], MEMBER_PASSWORD).await),
        };
        let csrf = browser.csrf("/login").await;
        people.push(Person {
            browser,
            token,
            csrf,
        });
    }
    // Each team uploads once per phase, with a file name and description of its own.
    let mut subs: [[String; 3]; 2] = Default::default();
    for (t, team) in [A, B].into_iter().enumerate() {
        for (p, phase) in PHASES.iter().enumerate() {
            let bytes = task3_submission(&data, &task, 0.9 - 0.25 * t as f64, (10 * t + p) as u64);
            subs[t][p] = api_upload(
                &app,
                people[team].token.as_deref().unwrap(),
                phase,
                &format!("{}-{phase}-file.csv", TAGS[team]),
                &format!("{}-{phase}-notes", TAGS[team]),
                bytes.as_bytes(),
            )
            .await;
        }
    }
    for id in subs.iter().flatten() {
        app.wait_scored(id).await;
    }
    app.wait_idle().await;

    // Secrets kept from everyone.
    let mut everyone = Forbidden::default();
    everyone.add("a password hash", "$argon2");
    everyone.add("a member's password", MEMBER_PASSWORD);
    everyone.add("an organizer's password", ORGANIZER_PASSWORD);
    for (i, token) in people
        .iter()
        .filter_map(|p| p.token.clone())
        .chain([app.organizer.clone()])
        .enumerate()
    {
        everyone.add(format!("API token {i}"), token.clone());
        everyone.add(
            format!("stored hash of API token {i}"),
            tailboard::auth::secret_hash(&token),
        );
    }
    for line in data.reference_csv.lines().skip(1) {
        everyone.add("a reference label row", line.to_string());
    }
    // Scores as the organizer sees them, and what else is private per team.
    let mut scores: [Vec<Vec<String>>; 2] = Default::default();
    for (team_scores, team_subs) in scores.iter_mut().zip(&subs) {
        for id in team_subs {
            let path = format!("/api/v1/submissions/{id}");
            let view = app.get_json(&path, Some(&app.organizer)).await;
            team_scores.push(score_strings(&view));
        }
    }
    // The 4-decimal strings of the private phases must not occur among the public numbers,
    // or the search below could not tell a leak from a coincidence.
    let public_board = app
        .get("/phases/pub", Some(&app.organizer))
        .await
        .text()
        .await
        .unwrap();
    for s in scores.iter().flat_map(|t| t[1..].iter().flatten()) {
        if s.len() == 6 {
            assert!(
                !public_board.contains(s.as_str()),
                "pick other seeds: {s} is public"
            );
        }
    }
    let private = |t: usize, revealed: bool| {
        // What only team t (and organizers) may see; after the reveal the boards show
        // every entry's id, description and scores, but never the file name.
        let mut f = Forbidden::default();
        let team = [A, B][t];
        for (p, phase) in PHASES.iter().enumerate() {
            f.add(
                format!("{}'s {phase} file name", NAMES[team]),
                format!("{}-{phase}-file.csv", TAGS[team]),
            );
            if *phase != "pub" && !revealed {
                f.add(
                    format!("{}'s {phase} description", NAMES[team]),
                    format!("{}-{phase}-notes", TAGS[team]),
                );
                f.add(
                    format!("{}'s {phase} submission id", NAMES[team]),
                    subs[t][p].clone(),
                );
                if *phase == "own" {
                    for s in &scores[t][p] {
                        f.add(format!("{}'s own-phase score", NAMES[team]), s.clone());
                    }
                }
            }
        }
        f
    };
    let mut hidden_scores = Forbidden::default();
    for t in 0..2 {
        for s in &scores[t][2] {
            hidden_scores.add(format!("{}'s hidden score", NAMES[[A, B][t]]), s.clone());
        }
    }
    let mut forbidden = Vec::new();
    let mut forbidden_after_reveal = Vec::new();
    for v in 0..4 {
        let mut before = everyone.clone();
        let mut after = everyone.clone();
        for (w, other) in people.iter().enumerate() {
            if w != v && w != ANON {
                before.add(format!("{}'s CSRF token", NAMES[w]), other.csrf.clone());
                after.add(format!("{}'s CSRF token", NAMES[w]), other.csrf.clone());
            }
        }
        if v != ORG {
            before.extend(&hidden_scores);
            for t in 0..2 {
                if [A, B][t] != v {
                    before.extend(&private(t, false));
                    after.extend(&private(t, true));
                }
            }
        }
        forbidden.push(before);
        forbidden_after_reveal.push(after);
    }

    // Two teams waiting for approval: one for the organizer page, one for the API.
    let mut waiting = [0; 2];
    for (i, name) in ["Waiting One", "Waiting Two"].iter().enumerate() {
        let r = app
            .post_json(
                "/api/v1/register",
                &serde_json::json!({"team": name, "login": format!("waiting-{i}"), "password": MEMBER_PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        waiting[i] = r.json::<Value>().await.unwrap()["team_id"]
            .as_i64()
            .unwrap();
    }
    let submission = task3_submission(&data, &task, 0.7, 99).into_bytes();
    World {
        app,
        people,
        subs,
        forbidden,
        forbidden_after_reveal,
        reference_csv: data.reference_csv,
        waiting,
        submission,
    }
}

/// The whole table: reads first, then writes (each write's refusals before its success).
fn table(w: &World) -> Vec<Case> {
    let mut t = Vec::new();
    let a = &w.subs[0];
    let b_pub = &w.subs[1][0];
    let all = |s: u16| [s; 4];
    let file = w.submission.clone();
    let labels = w.reference_csv.clone().into_bytes();

    // Pages and static files.
    t.push(case("GET", "/", "/".into(), all(200)));
    t.push(case("GET", "/login", "/login".into(), all(200)));
    t.push(case("GET", "/register", "/register".into(), all(200)));
    t.push(case(
        "GET",
        "/static/style.css",
        "/static/style.css".into(),
        all(200),
    ));
    t.push(case(
        "GET",
        "/static/upload.js",
        "/static/upload.js".into(),
        all(200),
    ));
    t.push(case("GET", "/team", "/team".into(), [303, 200, 200, 303]));
    t.push(case(
        "GET",
        "/organizer",
        "/organizer".into(),
        [303, 403, 403, 200],
    ));
    for phase in ["pub", "own", "hid", "closed"] {
        t.push(case(
            "GET",
            "/phases/{phase}",
            format!("/phases/{phase}"),
            all(200),
        ));
    }
    t.push(case(
        "GET",
        "/phases/{phase}",
        "/phases/nope".into(),
        all(404),
    ));
    for phase in PHASES {
        t.push(case(
            "GET",
            "/organizer/phases/{phase}",
            format!("/organizer/phases/{phase}"),
            [303, 403, 403, 200],
        ));
    }
    t.push(case(
        "GET",
        "/organizer/phases/{phase}",
        "/organizer/phases/nope".into(),
        [303, 403, 403, 404],
    ));
    for id in a {
        t.push(case(
            "GET",
            "/submissions/{id}",
            format!("/submissions/{id}"),
            [303, 200, 404, 200],
        ));
    }
    t.push(case(
        "GET",
        "/submissions/{id}",
        format!("/submissions/{b_pub}"),
        [303, 404, 200, 200],
    ));
    t.push(case(
        "GET",
        "/submissions/{id}",
        format!("/submissions/{UNKNOWN_ID}"),
        [303, 404, 404, 404],
    ));
    t.push(case(
        "GET",
        "/submissions/{id}",
        "/submissions/not-an-id".into(),
        [303, 404, 404, 404],
    ));

    // The REST API.
    t.push(case(
        "GET",
        "/api/v1/competition",
        "/api/v1/competition".into(),
        all(200),
    ));
    t.push(case(
        "GET",
        "/api/v1/teams",
        "/api/v1/teams".into(),
        [401, 403, 403, 200],
    ));
    t.push(case(
        "GET",
        "/api/v1/queue",
        "/api/v1/queue".into(),
        [401, 403, 403, 200],
    ));
    for phase in PHASES {
        let p = |s: &str| format!("/api/v1/phases/{phase}/{s}");
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/sample-submission.csv",
            p("sample-submission.csv"),
            [401, 200, 200, 200],
        ));
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/submissions",
            p("submissions"),
            [401, 200, 200, 200],
        ));
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/references",
            p("references"),
            [401, 403, 403, 200],
        ));
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/quota",
            p("quota"),
            [401, 200, 200, 403],
        ));
        let board = match phase {
            "pub" => all(200),
            "own" => [401, 200, 200, 200],
            _ => [403, 403, 403, 200],
        };
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/leaderboard",
            p("leaderboard"),
            board,
        ));
        t.push(case(
            "GET",
            "/api/v1/phases/{phase}/leaderboard.csv",
            p("leaderboard.csv"),
            board,
        ));
    }
    t.push(case(
        "GET",
        "/api/v1/phases/{phase}/sample-submission.csv",
        "/api/v1/phases/closed/sample-submission.csv".into(),
        [401, 409, 409, 409],
    ));
    t.push(case(
        "GET",
        "/api/v1/phases/{phase}/sample-submission.csv",
        "/api/v1/phases/nope/sample-submission.csv".into(),
        [401, 404, 404, 404],
    ));
    t.push(case(
        "GET",
        "/api/v1/phases/{phase}/submissions",
        "/api/v1/phases/nope/submissions".into(),
        all(404),
    ));
    t.push(case(
        "GET",
        "/api/v1/phases/{phase}/references",
        "/api/v1/phases/nope/references".into(),
        [401, 403, 403, 404],
    ));
    t.push(case(
        "GET",
        "/api/v1/phases/{phase}/quota",
        "/api/v1/phases/nope/quota".into(),
        [401, 404, 404, 403],
    ));
    for suffix in ["leaderboard", "leaderboard.csv"] {
        let pattern = if suffix == "leaderboard" {
            "/api/v1/phases/{phase}/leaderboard"
        } else {
            "/api/v1/phases/{phase}/leaderboard.csv"
        };
        t.push(case(
            "GET",
            pattern,
            format!("/api/v1/phases/closed/{suffix}"),
            all(200),
        ));
        t.push(case(
            "GET",
            pattern,
            format!("/api/v1/phases/nope/{suffix}"),
            all(404),
        ));
    }
    for id in a {
        t.push(case(
            "GET",
            "/api/v1/submissions/{id}",
            format!("/api/v1/submissions/{id}"),
            [401, 200, 404, 200],
        ));
    }
    t.push(case(
        "GET",
        "/api/v1/submissions/{id}",
        format!("/api/v1/submissions/{b_pub}"),
        [401, 404, 200, 200],
    ));
    t.push(case(
        "GET",
        "/api/v1/submissions/{id}",
        format!("/api/v1/submissions/{UNKNOWN_ID}"),
        [401, 404, 404, 404],
    ));

    // Exports, on the page path (session) and the API path (token).
    for (prefix, pattern) in [
        ("/phases", "/phases/{phase}/export/{file}"),
        ("/api/v1/phases", "/api/v1/phases/{phase}/export/{file}"),
    ] {
        // The server's own list, so a new export file gets its rows here.
        for file in tailboard::routes::exports::FILES {
            for phase in ["pub", "own", "hid", "closed"] {
                let expect = match (phase, file) {
                    ("closed", _) => all(200),
                    ("pub", "submissions.csv") => [403, 403, 403, 200],
                    ("pub", _) => all(200),
                    _ => [403, 403, 403, 200],
                };
                t.push(case(
                    "GET",
                    pattern,
                    format!("{prefix}/{phase}/export/{file}"),
                    expect,
                ));
            }
            t.push(case(
                "GET",
                pattern,
                format!("{prefix}/nope/export/{file}"),
                all(404),
            ));
        }
        t.push(case(
            "GET",
            pattern,
            format!("{prefix}/pub/export/labels.csv"),
            all(404),
        ));
    }

    // Writes through the pages (each with the viewer's own valid CSRF token, so what is
    // tested here is the role; tests/websecurity.rs tests the token itself).
    let creds = Body::Form(vec![
        ("login", "{login}"),
        ("password", "wrong password, surely"),
    ]);
    t.push(case("POST", "/login", "/login".into(), all(401)).with(creds));
    t.push(
        case("POST", "/register", "/register".into(), all(201)).with(Body::Form(vec![
            ("team", "Registered by {tag}"),
            ("login", "reg-{tag}"),
            ("password", "another long password"),
        ])),
    );
    t.push(
        case(
            "POST",
            "/team/upload",
            "/team/upload".into(),
            [403, 303, 303, 403],
        )
        .with(Body::Multipart {
            fields: vec![("phase", "pub"), ("description", "page upload")],
            file: file.clone(),
        }),
    );
    t.push(
        case(
            "POST",
            "/submissions/{id}/select",
            format!("/submissions/{}/select", a[0]),
            [404, 303, 404, 404],
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/submissions/{id}/select",
            format!("/submissions/{UNKNOWN_ID}/select"),
            all(404),
        )
        .with(Body::Form(vec![])),
    );
    let org_only = [403, 403, 403, 303];
    t.push(
        case(
            "POST",
            "/organizer/teams/{id}/approve",
            format!("/organizer/teams/{}/approve", w.waiting[0]),
            org_only,
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/organizer/teams/{id}/approve",
            "/organizer/teams/99999/approve".into(),
            [403, 403, 403, 404],
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/organizer/organizers",
            "/organizer/organizers".into(),
            org_only,
        )
        .with(Body::Form(vec![
            ("login", "new-organizer-{tag}"),
            ("password", "another long password"),
        ])),
    );
    t.push(
        case(
            "POST",
            "/organizer/phases/{phase}/rescore",
            "/organizer/phases/pub/rescore".into(),
            org_only,
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/organizer/phases/{phase}/rescore",
            "/organizer/phases/nope/rescore".into(),
            [403, 403, 403, 404],
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/organizer/phases/{phase}/reference",
            "/organizer/phases/pub/reference".into(),
            org_only,
        )
        .with(Body::Multipart {
            fields: vec![],
            file: labels.clone(),
        }),
    );
    t.push(
        case(
            "POST",
            "/organizer/submissions/{id}/refund",
            format!("/organizer/submissions/{}/refund", a[0]),
            org_only,
        )
        .with(Body::Form(vec![])),
    );
    t.push(
        case(
            "POST",
            "/organizer/submissions/{id}/refund",
            format!("/organizer/submissions/{UNKNOWN_ID}/refund"),
            [403, 403, 403, 404],
        )
        .with(Body::Form(vec![])),
    );

    // Writes through the API (bearer token; anonymous sends none).
    let upload = Body::Multipart {
        fields: vec![("description", "api upload")],
        file: file.clone(),
    };
    t.push(
        case(
            "POST",
            "/api/v1/phases/{phase}/submissions",
            "/api/v1/phases/pub/submissions".into(),
            [401, 202, 202, 202],
        )
        .with(upload.clone()),
    );
    t.push(
        case(
            "POST",
            "/api/v1/phases/{phase}/submissions",
            "/api/v1/phases/closed/submissions".into(),
            [401, 409, 409, 409],
        )
        .with(upload.clone()),
    );
    t.push(
        case(
            "POST",
            "/api/v1/phases/{phase}/submissions",
            "/api/v1/phases/nope/submissions".into(),
            [401, 404, 404, 404],
        )
        .with(upload),
    );
    t.push(case(
        "POST",
        "/api/v1/submissions/{id}/select",
        format!("/api/v1/submissions/{}/select", a[0]),
        [401, 200, 404, 403],
    ));
    t.push(case(
        "POST",
        "/api/v1/submissions/{id}/select",
        format!("/api/v1/submissions/{UNKNOWN_ID}/select"),
        [401, 404, 404, 403],
    ));
    t.push(case("POST", "/api/v1/register", "/api/v1/register".into(), all(201)).with(Body::Json(
        r#"{"team": "API team of {tag}", "login": "api-{tag}", "password": "another long password"}"#,
    )));
    t.push(
        case(
            "POST",
            "/api/v1/tokens",
            "/api/v1/tokens".into(),
            [401, 201, 201, 201],
        )
        .with(Body::Json(
            r#"{"login": "{login}", "password": "{password}"}"#,
        )),
    );
    let api_org = [401, 403, 403, 200];
    t.push(case(
        "POST",
        "/api/v1/teams/{id}/approve",
        format!("/api/v1/teams/{}/approve", w.waiting[1]),
        api_org,
    ));
    t.push(case(
        "POST",
        "/api/v1/teams/{id}/approve",
        "/api/v1/teams/99999/approve".into(),
        [401, 403, 403, 404],
    ));
    t.push(
        case(
            "POST",
            "/api/v1/phases/{phase}/reference",
            "/api/v1/phases/pub/reference".into(),
            [401, 403, 403, 201],
        )
        .with(Body::Multipart {
            fields: vec![],
            file: labels,
        }),
    );
    t.push(case(
        "POST",
        "/api/v1/phases/{phase}/rescore",
        "/api/v1/phases/pub/rescore".into(),
        [401, 403, 403, 202],
    ));
    t.push(case(
        "POST",
        "/api/v1/phases/{phase}/rescore",
        "/api/v1/phases/nope/rescore".into(),
        [401, 403, 403, 404],
    ));
    t.push(case(
        "POST",
        "/api/v1/submissions/{id}/refund",
        format!("/api/v1/submissions/{}/refund", a[1]),
        api_org,
    ));
    t.push(case(
        "POST",
        "/api/v1/submissions/{id}/refund",
        format!("/api/v1/submissions/{UNKNOWN_ID}/refund"),
        [401, 403, 403, 404],
    ));
    t.push(
        case(
            "POST",
            "/api/v1/submissions/{id}/baseline",
            format!("/api/v1/submissions/{}/baseline", a[0]),
            api_org,
        )
        .with(Body::Json(r#"{"baseline": false}"#)),
    );
    t.push(
        case(
            "POST",
            "/api/v1/submissions/{id}/baseline",
            format!("/api/v1/submissions/{UNKNOWN_ID}/baseline"),
            [401, 403, 403, 404],
        )
        .with(Body::Json(r#"{"baseline": true}"#)),
    );

    // Last: the reveals (after them the hidden scores are public), then the sign-outs.
    t.push(
        case(
            "POST",
            "/api/v1/phases/{phase}/reveal",
            "/api/v1/phases/hid/reveal".into(),
            api_org,
        )
        .at(Stage::Reveal),
    );
    t.push(
        case(
            "POST",
            "/organizer/phases/{phase}/reveal",
            "/organizer/phases/own/reveal".into(),
            org_only,
        )
        .with(Body::Form(vec![]))
        .at(Stage::Reveal),
    );
    t.push(
        case("POST", "/logout", "/logout".into(), all(303))
            .with(Body::Form(vec![]))
            .at(Stage::Logout),
    );
    t
}

fn fill(text: &str, v: usize) -> String {
    let password = if v == ORG {
        ORGANIZER_PASSWORD
    } else {
        MEMBER_PASSWORD
    };
    let login = if v == ANON {
        "nobody-at-all"
    } else {
        LOGINS[v]
    };
    text.replace("{tag}", TAGS[v])
        .replace("{login}", login)
        .replace("{password}", password)
}

/// Sends one cell's request as viewer `v`: (status, headers, body).
async fn send(
    w: &World,
    v: usize,
    method: &str,
    path: &str,
    body: &Body,
) -> (StatusCode, HeaderMap, String) {
    let person = &w.people[v];
    let url = format!("{}{path}", w.app.address);
    let mut req = match method {
        "GET" => person.browser.client.get(url),
        "POST" => person.browser.client.post(url),
        other => panic!("no client for {other}"),
    };
    if path.starts_with("/api/") {
        if let Some(token) = &person.token {
            req = req.bearer_auth(token);
        }
    }
    req = match body {
        Body::Empty => req,
        Body::Form(fields) => {
            let mut all = vec![("csrf".to_string(), person.csrf.clone())];
            all.extend(fields.iter().map(|(k, x)| (k.to_string(), fill(x, v))));
            let pairs: Vec<(&str, &str)> =
                all.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect();
            req.header("Content-Type", "application/x-www-form-urlencoded")
                .body(urlencoded(&pairs))
        }
        Body::Multipart { fields, file } => {
            let mut form = Form::new().text("csrf", person.csrf.clone());
            for (k, x) in fields {
                form = form.text(k.to_string(), fill(x, v));
            }
            req.multipart(form.part("file", Part::bytes(file.clone()).file_name("upload.csv")))
        }
        Body::Json(template) => req
            .header("Content-Type", "application/json")
            .body(fill(template, v)),
    };
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// A public leaderboard or export, where every team's name is shown by design.
fn names_public(path: &str) -> bool {
    let p = path.strip_prefix("/api/v1").unwrap_or(path);
    (p.starts_with("/phases/pub") || p.starts_with("/phases/closed"))
        && !p.ends_with("/submissions")
        && !p.ends_with("/quota")
        && !p.ends_with("/sample-submission.csv")
}

/// The checks every response passes: headers and cookies, no secret the viewer may not
/// have, and no other team's name outside the public boards.
fn check_response(
    w: &World,
    v: usize,
    revealed: bool,
    what: &str,
    path: &str,
    headers: &HeaderMap,
    body: &str,
) {
    check_headers(what, headers, false);
    let forbidden = if revealed {
        &w.forbidden_after_reveal[v]
    } else {
        &w.forbidden[v]
    };
    // A value the request itself carried (an id in the path) is no leak.
    forbidden.assert_absent_except(what, body, path);
    if v != ORG && !(revealed || names_public(path)) {
        for (t, name) in TEAM_NAMES.iter().enumerate() {
            if [A, B][t] != v {
                assert!(!body.contains(name), "{what} names {name}");
            }
        }
    }
}

#[tokio::test]
async fn every_route_answers_every_viewer_as_the_table_says_and_leaks_nothing() {
    let w = world().await;
    let cases = table(&w);

    // The table covers every registered route, and nothing else.
    let registered: BTreeSet<(String, String)> = registered_routes()
        .into_iter()
        .map(|r| (r.method, r.pattern))
        .collect();
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|c| (c.method.to_string(), c.pattern.to_string()))
        .collect();
    let missing: Vec<_> = registered.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the access table: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&registered).collect();
    assert!(
        stale.is_empty(),
        "table rows for routes the server does not register: {stale:?}"
    );
    for c in &cases {
        assert!(
            matches(c.pattern, &c.path),
            "{} is not an instance of {}",
            c.path,
            c.pattern
        );
    }

    let mut cells = 0;
    let mut revealed = false;
    let mut stages: Vec<&Case> = cases.iter().collect();
    stages.sort_by_key(|c| (c.method != "GET", c.stage));
    for c in stages {
        // Refusals first, so that a success cannot hide what a refusal would have changed.
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by_key(|&v| std::cmp::Reverse(c.expect[v] >= 400));
        for v in order {
            let what = format!("{} {} as {}", c.method, c.path, NAMES[v]);
            let before = if c.method == "GET" {
                None
            } else {
                Some(fingerprint(&w.app.state.pool, &w.app.dir).await)
            };
            let (status, headers, body) = send(&w, v, c.method, &c.path, &c.body).await;
            assert_eq!(status.as_u16(), c.expect[v], "{what}: {body}");
            if matches!(status.as_u16(), 301..=308) {
                let location = headers["location"].to_str().unwrap();
                assert!(
                    location.starts_with('/') && !location.starts_with("//"),
                    "{what} redirects off-site: {location}"
                );
            }
            check_response(&w, v, revealed, &what, &c.path, &headers, &body);
            if let Some(before) = before {
                if status.as_u16() >= 400 {
                    let after = fingerprint(&w.app.state.pool, &w.app.dir).await;
                    assert!(
                        before == after,
                        "refused {what} changed stored data: {}",
                        first_difference(&before, &after)
                    );
                } else {
                    w.app.wait_idle().await;
                }
            }
            cells += 1;
        }
        if c.stage == Stage::Reveal {
            revealed = true;
        }
    }
    println!(
        "access table: {} rows over {} routes x 4 viewers = {cells} cells",
        cases.len(),
        registered.len()
    );

    // After the reveals the hidden and own boards are public; after the sign-outs the
    // sessions are gone.
    let (code, _, _) = send(
        &w,
        ANON,
        "GET",
        "/api/v1/phases/hid/leaderboard",
        &Body::Empty,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    for v in [A, B, ORG] {
        let (code, _) = w.people[v].browser.get("/team").await;
        assert_eq!(code, StatusCode::SEE_OTHER, "{} still signed in", NAMES[v]);
    }
    w.app.stop().await;
}

/// A guessed submission id tells nothing: for every route that takes one, another team's
/// id and an id that does not exist get the same status and the same bytes, as anonymous
/// and as the other team; the ids themselves are 128 random bits, not a count.
#[tokio::test]
async fn another_teams_submission_id_answers_exactly_like_an_unknown_one() {
    let w = world().await;
    let id_routes: Vec<_> = registered_routes()
        .into_iter()
        .filter(|r| r.pattern.contains("/submissions/{id}"))
        .collect();
    assert!(id_routes.len() >= 6, "{id_routes:?}");
    for route in &id_routes {
        for v in [ANON, B] {
            let body = match (route.method.as_str(), route.pattern.starts_with("/api/")) {
                ("GET", _) => Body::Empty,
                (_, false) => Body::Form(vec![]),
                (_, true) if route.pattern.ends_with("/baseline") => {
                    Body::Json(r#"{"baseline": true}"#)
                }
                _ => Body::Empty,
            };
            let unknown = route.pattern.replace("{id}", UNKNOWN_ID);
            let (code0, _, body0) = send(&w, v, &route.method, &unknown, &body).await;
            for id in &w.subs[0] {
                let path = route.pattern.replace("{id}", id);
                let before = fingerprint(&w.app.state.pool, &w.app.dir).await;
                let (code, _, text) = send(&w, v, &route.method, &path, &body).await;
                assert_eq!(
                    (code, &text),
                    (code0, &body0),
                    "{} {path} as {}",
                    route.method,
                    NAMES[v]
                );
                assert!(
                    code.as_u16() >= 300,
                    "{} {path} as {}: {code}",
                    route.method,
                    NAMES[v]
                );
                assert!(before == fingerprint(&w.app.state.pool, &w.app.dir).await);
            }
        }
    }
    // Every id ever issued: 32 hex digits, all different, no two close as numbers (not a
    // counter in disguise).
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM submissions ORDER BY seq")
        .fetch_all(&w.app.state.pool)
        .await
        .unwrap();
    assert!(ids.len() >= 6);
    let values: Vec<u128> = ids
        .iter()
        .map(|id| {
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
            u128::from_str_radix(id, 16).unwrap()
        })
        .collect();
    for (i, x) in values.iter().enumerate() {
        for y in &values[i + 1..] {
            assert!(
                x.abs_diff(*y) > 1 << 64,
                "ids {x:x} and {y:x} are near each other"
            );
        }
    }
    w.app.stop().await;
}

/// Double-blind pseudonyms cannot be traced back: they are not a hash of anything a
/// viewer can read or guess (team ids are small counters; phase starts and the
/// competition's creation time are published or guessable to the second).
#[tokio::test]
async fn double_blind_pseudonyms_cannot_be_recomputed_from_public_facts() {
    let config = format!(
        "{CONFIG}\n[[tasks.phases]]\nid = \"blind\"\nname = \"Double-blind\"\nanonymous = true\nbootstrap = 0\n"
    );
    let app = spawn_app_with(&config, 1).await;
    let (data, task) = task3_data(120, 43);
    app.load_reference("blind", &data.reference_csv).await;
    let famous = app.team("Famous Lab").await;
    let id = app
        .submit(
            "blind",
            &famous,
            task3_submission(&data, &task, 0.9, 1).as_bytes(),
        )
        .await;
    app.wait_scored(&id).await;
    app.wait_idle().await;
    let board = app.get_json("/api/v1/phases/blind/leaderboard", None).await;
    let shown = board["rows"][0]["team"].as_str().unwrap().to_string();
    assert!(shown.starts_with("Anonymous team "), "{shown}");
    // Everything public about the phase and the competition, and every instant stored
    // in the competition row, tried with every small team id.
    let competition = app.get_json("/api/v1/competition", None).await;
    let mut candidates: Vec<String> = Vec::new();
    for task in competition["tasks"].as_array().unwrap() {
        for phase in task["phases"].as_array().unwrap() {
            for key in ["start", "end"] {
                candidates.push(phase[key].as_str().unwrap().to_string());
            }
        }
    }
    let stored: Vec<String> = sqlx::query_scalar("SELECT created_at FROM competitions")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    candidates.extend(stored);
    for candidate in &candidates {
        for team_id in 0..50 {
            let digest =
                tailboard::store::sha256_hex(format!("{candidate}/blind/{team_id}").as_bytes());
            assert_ne!(
                shown,
                format!("Anonymous team {}", &digest[..6]),
                "the pseudonym is the hash of the public value {candidate} and team id {team_id}"
            );
        }
    }
    // Still stable across a restart (the secret is kept, not drawn again).
    let app = app.restart(1).await;
    let board = app.get_json("/api/v1/phases/blind/leaderboard", None).await;
    assert_eq!(board["rows"][0]["team"], shown.as_str());
    app.stop().await;
}

/// A team waiting for approval is anyone who filled in the form: it can change nothing a
/// team can, and sees nothing of other teams beyond what anonymous readers see.
#[tokio::test]
async fn a_team_waiting_for_approval_can_change_nothing_and_sees_no_more() {
    let w = world().await;
    let waiting = Browser::new(&w.app);
    assert_eq!(
        waiting
            .register("Waiting Lab", "waiting-lab", MEMBER_PASSWORD)
            .await,
        StatusCode::CREATED
    );
    waiting.login("waiting-lab", MEMBER_PASSWORD).await;
    assert!(waiting
        .page("/team")
        .await
        .contains("waiting for an organizer"));
    // No API token until approved.
    let r = w
        .app
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"login": "waiting-lab", "password": MEMBER_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let before = fingerprint(&w.app.state.pool, &w.app.dir).await;
    let token = waiting.csrf("/team").await;
    let r = waiting
        .upload_form(Some(&token), "pub", "w.csv", "", &w.submission, false)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = waiting
        .post_form(
            "/team",
            &format!("/submissions/{}/select", w.subs[0][0]),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for path in [
        "/organizer/phases/hid/reveal",
        "/organizer/phases/pub/rescore",
    ] {
        assert_eq!(
            waiting.post_form("/team", path, &[]).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    assert!(before == fingerprint(&w.app.state.pool, &w.app.dir).await);
    // Reads: what anonymous gets, or less, and no other team's private data.
    let mut forbidden = w.forbidden[ANON].clone();
    for id in w.subs.iter().flatten() {
        forbidden.add("a submission id", id.clone());
    }
    let reads = table(&w)
        .into_iter()
        .filter(|c| c.method == "GET" && !c.path.starts_with("/static/"))
        .collect::<Vec<_>>();
    for c in &reads {
        let (code, body) = waiting.get(&c.path).await;
        // Like anonymous, or like a team looking at another team's things.
        let allowed = [c.expect[ANON], c.expect[A], c.expect[B]];
        assert!(
            allowed.contains(&code.as_u16()),
            "GET {} as a waiting team: {code}",
            c.path
        );
        // Public boards show the entries' names and ids by design.
        if !names_public(&c.path) {
            for name in TEAM_NAMES {
                assert!(
                    !body.contains(name),
                    "GET {} as a waiting team names {name}",
                    c.path
                );
            }
            forbidden.assert_absent_except(
                &format!("GET {} as a waiting team", c.path),
                &body,
                &c.path,
            );
        }
    }
    w.app.stop().await;
}
