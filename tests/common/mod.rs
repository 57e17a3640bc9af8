//! Shared helpers: start the real server on port 0 with a fresh data folder and drive it
//! over HTTP.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tailboard::config::CompetitionConfig;
use tailboard::{Application, Settings};

/// Task 3 (5 labels) keeps test data small; every phase kind the server knows is present.
pub const CONFIG: &str = r#"
[competition]
id = "test-challenge"
title = "Test challenge"

[[tasks]]
id = "task3"
name = "Task 3"
builtin = 3

[[tasks.phases]]
id = "pub"
name = "Development"
visibility = "public"
quota_per_day = 5
quota_total = 50
refused_per_day = 3
bootstrap = 20

[[tasks.phases]]
id = "own"
name = "Own scores"
visibility = "own"
bootstrap = 0

[[tasks.phases]]
id = "hid"
name = "Test"
visibility = "hidden"
bootstrap = 0

[[tasks.phases]]
id = "closed"
name = "Finished"
start = "2020-01-01T00:00:00Z"
end = "2020-02-01T00:00:00Z"
"#;

/// A running server on a fresh data folder.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The data folder (kept across restarts).
    pub dir: PathBuf,
    /// Keeps the temp folder alive.
    pub _tmp: Option<tempfile::TempDir>,
    /// HTTP client.
    pub client: Client,
    /// An organizer's API token.
    pub organizer: String,
    /// The competition file's text.
    pub config: String,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Shared state of the running server (database pool).
    pub state: std::sync::Arc<tailboard::AppState>,
}

/// Settings for a test server on port 0.
pub fn settings(dir: &Path, config: &str, workers: usize) -> Settings {
    std::fs::create_dir_all(dir).unwrap();
    Settings {
        data_dir: dir.to_path_buf(),
        bind: "127.0.0.1:0".into(),
        config: CompetitionConfig::parse(config, Some(dir)).unwrap(),
        workers,
        demo: None,
        limits: scoring::submission::Limits::default(),
        secure_cookies: false,
        job_timeout: std::time::Duration::from_secs(300),
        timeouts: tailboard::Timeouts::default(),
        registrations_per_hour: tailboard::DEFAULT_REGISTRATIONS_PER_HOUR,
    }
}

/// Starts a server with `config` and `workers` scoring workers.
pub async fn spawn_app_with(config: &str, workers: usize) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut app = start(&dir, config, workers, None).await;
    app._tmp = Some(tmp);
    app
}

/// Like [`spawn_app_with`], after writing `files` (name, text) into the data folder, where
/// the competition file can refer to them (e.g. a custom `task.toml`).
pub async fn spawn_app_files(config: &str, workers: usize, files: &[(&str, &str)]) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut app = start(&dir, config, workers, None).await;
    app._tmp = Some(tmp);
    app
}

/// Starts a server with the default test competition and one worker.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(CONFIG, 1).await
}

/// Starts the default test competition with settings changed by `change`.
pub async fn spawn_app_changed(change: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_config_changed(CONFIG, 1, change).await
}

/// Starts `config` with `workers` scoring workers and settings changed by `change`.
pub async fn spawn_app_config_changed(
    config: &str,
    workers: usize,
    change: impl FnOnce(&mut Settings),
) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = settings(&dir, config, workers);
    change(&mut s);
    let mut app = start_settings(s, config, None).await;
    app._tmp = Some(tmp);
    app
}

/// Starts a server on an existing data folder (e.g. a restored backup) whose database
/// already knows the organizer token `organizer`.
pub async fn start_at(dir: &Path, config: &str, workers: usize, organizer: &str) -> TestApp {
    start(dir, config, workers, Some(organizer.to_string())).await
}

async fn start(dir: &Path, config: &str, workers: usize, organizer: Option<String>) -> TestApp {
    start_settings(settings(dir, config, workers), config, organizer).await
}

async fn start_settings(settings: Settings, config: &str, organizer: Option<String>) -> TestApp {
    let dir = settings.data_dir.clone();
    let app = Application::build(settings).await.expect("server starts");
    let state = app.state();
    let organizer = match organizer {
        Some(t) => t,
        None => tailboard::admin::create_organizer(&state.pool, "chief")
            .await
            .unwrap(),
    };
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        dir,
        _tmp: None,
        // Idle connections are dropped before the server's 5 s keep-alive ends them.
        client: Client::builder()
            .cookie_store(true)
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
        organizer,
        config: config.to_string(),
        handle,
        join,
        state,
    }
}

impl TestApp {
    /// Stops the server (workers included) and starts a new one on the same data folder.
    pub async fn restart(self, workers: usize) -> TestApp {
        let TestApp {
            dir,
            _tmp,
            organizer,
            config,
            handle,
            join,
            ..
        } = self;
        handle.stop(true).await;
        join.await.unwrap().unwrap();
        let mut app = start(&dir, &config, workers, Some(organizer)).await;
        app._tmp = _tmp;
        app
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.join.await.unwrap().unwrap();
    }

    /// `GET path` with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `GET path` parsed as JSON.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token).await.json().await.unwrap()
    }

    /// `POST path` with an optional bearer token and empty body.
    pub async fn post(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.post(format!("{}{}", self.address, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{}", self.address, path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Uploads `bytes` as a submission to `phase`.
    pub async fn upload(&self, phase: &str, token: Option<&str>, bytes: &[u8]) -> Response {
        let form = Form::new()
            .part(
                "file",
                Part::bytes(bytes.to_vec()).file_name("predictions.csv"),
            )
            .text("description", "test run");
        let mut req = self
            .client
            .post(format!(
                "{}/api/v1/phases/{phase}/submissions",
                self.address
            ))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Uploads and expects 202; returns the submission id.
    pub async fn submit(&self, phase: &str, token: &str, bytes: &[u8]) -> String {
        let r = self.upload(phase, Some(token), bytes).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "upload refused: {body}");
        assert_eq!(body["status"], "queued");
        body["id"].as_str().unwrap().to_string()
    }

    /// Loads reference labels through the organizer API; returns the version number.
    pub async fn load_reference(&self, phase: &str, csv: &str) -> i64 {
        let form = Form::new().part(
            "file",
            Part::bytes(csv.as_bytes().to_vec()).file_name("labels.csv"),
        );
        let r = self
            .client
            .post(format!("{}/api/v1/phases/{phase}/reference", self.address))
            .bearer_auth(&self.organizer)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["version"]
            .as_i64()
            .unwrap()
    }

    /// Creates an approved team; returns its token.
    pub async fn team(&self, name: &str) -> String {
        tailboard::admin::create_team(&self.state.pool, name)
            .await
            .unwrap()
    }

    /// Waits until the submission is finished or failed (as the organizer sees it), then
    /// until the phase's queue is empty, and returns the organizer's view.
    pub async fn wait_scored(&self, id: &str) -> Value {
        for _ in 0..600 {
            let v: Value = self
                .get(&format!("/api/v1/submissions/{id}"), Some(&self.organizer))
                .await
                .json()
                .await
                .unwrap();
            let done = matches!(v["status"].as_str(), Some("finished") | Some("failed"));
            if done && (v["status"] == "failed" || !v["scores"].is_null()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("submission {id} was not scored in 30 s");
    }

    /// Waits until no job is queued or running.
    pub async fn wait_idle(&self) {
        for _ in 0..1200 {
            let v: Value = self
                .get("/api/v1/queue", Some(&self.organizer))
                .await
                .json()
                .await
                .unwrap();
            if v.as_array().unwrap().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the queue did not drain in 60 s");
    }

    /// The leaderboard as the organizer sees it.
    pub async fn board(&self, phase: &str) -> Value {
        let r = self
            .get(
                &format!("/api/v1/phases/{phase}/leaderboard"),
                Some(&self.organizer),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

/// Files in the data folder's content store (reference versions are stored there too).
pub fn stored_files(app: &TestApp) -> usize {
    let mut n = 0;
    for dir in std::fs::read_dir(app.dir.join("files")).unwrap() {
        n += std::fs::read_dir(dir.unwrap().path()).unwrap().count();
    }
    n
}

/// Files anywhere below `dir` (recursively), so leftovers in subfolders are seen too.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Files left in the data folder's temp directory.
pub fn temp_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.dir.join("tmp")).unwrap().count()
}

/// The one-line message of an error answer.
pub async fn error_of(r: Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["error"].as_str().unwrap().to_string()
}

/// Synthetic Task 3 reference labels and the generator's data for `rows` images.
pub fn task3_data(rows: usize, seed: u64) -> (scoring::demo::DemoData, scoring::Task) {
    let task = scoring::Task::builtin(3).unwrap();
    let data = scoring::demo::generate(
        &task,
        &scoring::demo::DemoOptions {
            rows,
            seed,
            id_columns: false,
        },
    );
    (data, task)
}

/// A submission for the same images with the given signal strength.
pub fn task3_submission(
    data: &scoring::demo::DemoData,
    task: &scoring::Task,
    signal: f64,
    seed: u64,
) -> String {
    scoring::demo::submission_csv(task, data, signal, seed)
}

/// Team names by rank order of a leaderboard JSON (ranked rows only).
pub fn ranked_teams(board: &Value) -> Vec<String> {
    board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["rank"].is_null())
        .map(|r| r["team"].as_str().unwrap().to_string())
        .collect()
}

/// A competition with one custom one-label task (`task.toml` = [`ONE_FINDING_TASK`]) and
/// its phase `dev`, no bootstrap.
pub const ONE_FINDING_CONFIG: &str = r#"
[competition]
id = "ties"
title = "Ties"

[[tasks]]
id = "one"
name = "One finding"
task_toml = "task.toml"

[[tasks.phases]]
id = "dev"
name = "Development"
bootstrap = 0
quota_per_day = 10
"#;

/// The one-label task of [`ONE_FINDING_CONFIG`].
pub const ONE_FINDING_TASK: &str = r#"
name = "One finding"
labels = ["Finding"]
"#;

/// Labels of three images for [`ONE_FINDING_TASK`]: one positive, two negatives.
pub const ONE_FINDING_LABELS: &str = "dicom_id,Finding\nimg-1,1\nimg-2,0\nimg-3,0\n";

/// A `tailboard serve` process of the built binary on a free loopback port, killed when
/// dropped so a failing test leaves none behind.
pub struct ServeProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    log: Option<PathBuf>,
}

impl ServeProcess {
    /// Runs `tailboard serve --bind 127.0.0.1:0 ARGS` and waits for the line with its
    /// address; stderr is appended to `log` (printed if the test panics) or dropped.
    pub fn start(args: &[&std::ffi::OsStr], log: Option<&Path>) -> ServeProcess {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_tailboard"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep reading: a closed pipe would make the server's next line of output fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let address = first
            .trim()
            .strip_prefix("Tailboard is serving ")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .trim_end_matches('/')
            .to_string();
        ServeProcess {
            child,
            address,
            log: log.map(Path::to_path_buf),
        }
    }

    /// SIGKILL: no shutdown code runs, like a power cut of the process.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let (true, Some(path)) = (std::thread::panicking(), &self.log) {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            eprintln!("server log:\n{log}");
        }
    }
}
