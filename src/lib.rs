//! # tailboard: the CXR-LT leaderboard server
//!
//! `tailboard serve` hosts a challenge on top of the [`scoring`] engine. Data flows one way:
//!
//! ```text
//! upload -> routes::upload (stream to tmp/, SHA-256, size limit) -> engine validation
//!        -> quota check + insert in one transaction -> jobs queue (SQLite)
//!        -> worker (engine: point scores, then bootstrap) -> scores rows
//!        -> db::leaderboard (visibility applied for the viewer) -> JSON / CSV / pages
//! ```
//!
//! Modules: [`config`] (competition TOML, built-in CXR-LT 2024), [`domain`] (parsed types:
//! `PhaseId`, `Visibility`, `LeaderboardRule`, `TeamName`, `Viewer`...), [`db`] (every SQL
//! statement; read functions take a `Viewer`), [`routes`] (REST API, pages), [`worker`]
//! (scoring loops), [`export`] (CSV), [`auth`] (passwords, tokens, sessions), [`store`] (the
//! data folder), [`admin`] (the admin commands), [`demo`] (the embedded demo).
//!
//! ## Choices where the spec is silent
//! - **Data folder**: `tailboard.sqlite` (WAL), `files/ab/<sha256>` (each upload and each
//!   reference version stored once by content, written to `tmp/` then fsync + rename),
//!   `tmp/` (cleared at start), `cookie.key` (session signing key, mode 600).
//! - **Ids**: submissions have a public id of 128 random bits (32 hex digits); the internal
//!   sequence number that orders the queue never leaves the server. A submission of another
//!   team answers 404 exactly like an id that does not exist.
//! - **Quotas** (per team and phase): scored uploads per rolling 24 h and in total count every
//!   accepted upload except failed runs, refunded ones and baselines (a crash never costs a
//!   slot). Refused uploads count only against the refused cap, per rolling 24 h; at the cap
//!   further uploads are answered 429 without being validated. The scored-quota check and the
//!   insert share one `BEGIN IMMEDIATE` transaction, so parallel uploads cannot overshoot. The
//!   refused cap is checked before validation without a lock: parallel refused uploads may
//!   pass it by the number in flight, which bounds probing just the same.
//! - **Deadlines**: start inclusive, end exclusive, checked when the upload starts and again
//!   when it has fully arrived.
//! - **Queue**: stage 1 (point scores) before stage 2 (bootstrap), oldest first within a
//!   stage. Results are written with the job's claim token in one transaction: exactly once.
//!   Jobs left `running` are re-queued at start; a job that crashed the scorer 3 times fails;
//!   a stage running longer than `job_timeout` (default 30 min) fails with that reason.
//!   A result the database refuses (a server fault) puts the job back in the queue without
//!   counting the attempt, the reason kept in `jobs.error`; the submission never fails for it.
//!   When recording that outcome (or a failure) is refused too, the worker tries again with a
//!   growing delay (at most 30 s) until it is written; a shutdown stops the attempts and the
//!   next start re-queues the job.
//! - **Faults**: an upload the disk cannot take (tmp/ or files/ unwritable, full, failing)
//!   is answered 507 with one line, records nothing and costs no quota; the database locked
//!   by other writers is waited for (30 s busy timeout, every write transaction `BEGIN
//!   IMMEDIATE`), and only past that answered 503 + `Retry-After`, never 500. SQLite runs
//!   with `synchronous = FULL` so a 202 survives a power cut. Upload leftovers in `tmp/` are
//!   removed at start.
//! - **Reference versions**: a new version queues a re-score of every submission of the
//!   phase; the leaderboard keeps the previous version until all point scores against the new
//!   one are in, then switches and records the rank movements.
//! - **Leaderboard rule `selected`**: a team that selected nothing is shown with its best.
//!   `latest` is the team's latest *scored* submission (a failed one is never shown).
//! - **`own` visibility**: a team sees only its own row, without a rank (a rank would reveal
//!   how others did); anonymous viewers are asked to sign in.
//! - **Double-blind phases** (`anonymous = true`): non-organizers see other teams as
//!   "Anonymous team xxxxxx", a stable pseudonym: a hash of the team id under 256 random
//!   bits kept in the database (`competitions.pseudonym_secret`) that never leave the
//!   server; a team still sees its own name.
//! - **Demo baselines** are scored only against demo labels; loading real labels takes them
//!   off the board instead of failing them.
//! - **Slow, stalled and oversized uploads** (see [`routes::upload`]): the body is read
//!   through a guard that stops at the size limit (413, also decided from `Content-Length`
//!   before reading), after [`Timeouts::upload_idle`] without a byte or
//!   [`Timeouts::upload_total`] in all (408); request heads must arrive within
//!   [`Timeouts::request_head`] (actix answers 408). Oversized uploads count against the
//!   refused cap; malformed or timed-out requests do not (they never reach a check).
//! - **Under load** (see BENCHMARKS.md "Server under load", `scripts/load.sh`): built
//!   leaderboards are reused until SQLite's `data_version` says anything was committed
//!   (by this process or an admin command); validation, scoring and the bootstrap run on
//!   threads at nice 19 and the upload's SHA-256 off the HTTP threads, so readers keep
//!   their cores while 50 uploads are processed.
//! - **Organizer uploads** are baselines of the team "Organizers (baselines)": shown, never
//!   ranked, outside the quotas.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod export;
pub mod routes;
pub mod store;
pub mod worker;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use scoring::submission::Limits;
use sqlx::SqlitePool;
use tokio::sync::{watch, Notify};

use crate::config::CompetitionConfig;
use crate::store::DataDir;

/// Everything a request handler or worker needs; shared behind an `Arc`.
pub struct AppState {
    /// The database.
    pub pool: SqlitePool,
    /// The data folder.
    pub store: DataDir,
    /// Signs session cookies.
    pub cookie_key: Key,
    /// Parsed reference versions.
    pub references: worker::References,
    /// Built leaderboards, reused until the database changes.
    pub boards: db::leaderboard::BoardCache,
    /// Wakes a worker when a job is queued.
    pub queue: Notify,
    /// Upload limits handed to the engine.
    pub limits: Limits,
    /// Validations running at once (one per core): a burst of large uploads queues here
    /// instead of holding every file in memory at the same time.
    pub validation_slots: tokio::sync::Semaphore,
    /// Mark cookies `Secure` (set when served behind TLS).
    pub secure_cookies: bool,
    /// A scoring stage running longer than this is failed (stuck-job guard).
    pub job_timeout: Duration,
    /// Failed web sign-ins per client, for the login rate limit.
    pub login_limiter: routes::security::LoginLimiter,
    /// Registrations per client address.
    pub registration_limiter: routes::security::RegistrationLimiter,
    /// How long a client may take to send a request.
    pub timeouts: Timeouts,
}

/// How long a client may take to send its request; a slow or stalled client is answered
/// `408` and disconnected instead of holding a connection and a temp file for ever.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The request line and headers must arrive within this time (default 10 s).
    pub request_head: Duration,
    /// An upload body may pause this long between two reads (default 60 s).
    pub upload_idle: Duration,
    /// A whole upload body must arrive within this time (default 1 h: 200 MB at about
    /// 0.5 Mbit/s).
    pub upload_total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request_head: Duration::from_secs(10),
            upload_idle: Duration::from_secs(60),
            upload_total: Duration::from_secs(60 * 60),
        }
    }
}

/// How to start the server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data folder (created when missing).
    pub data_dir: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8080` (`127.0.0.1:0` picks a free port).
    pub bind: String,
    /// The competition.
    pub config: CompetitionConfig,
    /// Scoring worker loops (0 = none, e.g. to inspect the queue in tests).
    pub workers: usize,
    /// Install the synthetic demo labels and baselines where a phase has no labels yet.
    pub demo: Option<demo::DemoSizes>,
    /// Upload limits.
    pub limits: Limits,
    /// Mark session cookies `Secure`.
    pub secure_cookies: bool,
    /// A scoring stage running longer than this is failed with a clear reason, so no
    /// submission sits in `running` for ever.
    pub job_timeout: Duration,
    /// Client timeouts (request head, upload body).
    pub timeouts: Timeouts,
    /// Registrations allowed per client address per hour (web form and API together).
    pub registrations_per_hour: usize,
}

impl Settings {
    /// The defaults of `tailboard serve` with no arguments: `./tailboard-data`,
    /// `127.0.0.1:8080`, the built-in CXR-LT 2024 competition with the demo, one worker per
    /// core.
    pub fn embedded_default() -> Settings {
        Settings {
            data_dir: PathBuf::from("tailboard-data"),
            bind: "127.0.0.1:8080".into(),
            config: CompetitionConfig::cxr_lt_2024(),
            workers: default_workers(),
            demo: Some(demo::DemoSizes::default()),
            limits: Limits::default(),
            secure_cookies: false,
            job_timeout: Duration::from_secs(30 * 60),
            timeouts: Timeouts::default(),
            registrations_per_hour: DEFAULT_REGISTRATIONS_PER_HOUR,
        }
    }
}

/// Registrations per client address and hour unless configured.
pub const DEFAULT_REGISTRATIONS_PER_HOUR: usize = 20;

/// One worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A bound, ready-to-run server with its workers.
pub struct Application {
    port: u16,
    server: Server,
    state: Arc<AppState>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
    /// Held while serving: one server per data folder (admin commands need no lock).
    _lock: std::fs::File,
    /// Login and password of the organizer account created at this start (first start only).
    pub first_organizer: Option<(String, String)>,
}

impl Application {
    /// Opens the data folder, migrates and seeds the database, re-queues interrupted jobs,
    /// installs the demo when asked, binds the address and starts the workers.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        worker::priority::lower_rayon_pool();
        let store = DataDir::open(&settings.data_dir)?;
        let lock = store.lock_server()?;
        store.clear_temp()?;
        let pool = db::connect(&store.database()).await?;
        db::seed::seed(&pool, &settings.config, settings.demo.is_some()).await?;
        let requeued = db::jobs::requeue_running(&pool).await?;
        if requeued > 0 {
            tracing::info!("re-queued {requeued} scoring jobs interrupted by the last stop");
        }
        let first_organizer = demo::ensure_organizer(&pool).await?;
        if let Some(sizes) = &settings.demo {
            demo::install(&pool, &store, sizes).await?;
        }
        let cookie_key = auth::load_or_create_key(&store.cookie_key())?;
        let boards =
            db::leaderboard::BoardCache::new(db::single_connection(&store.database()).await?);
        let state = Arc::new(AppState {
            pool,
            store,
            cookie_key,
            references: worker::References::default(),
            boards,
            queue: Notify::new(),
            validation_slots: tokio::sync::Semaphore::new(default_workers()),
            limits: settings.limits.clone(),
            secure_cookies: settings.secure_cookies,
            job_timeout: settings.job_timeout,
            login_limiter: Default::default(),
            registration_limiter: routes::security::RegistrationLimiter::new(
                settings.registrations_per_hour,
            ),
            timeouts: settings.timeouts,
        });
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(state.clone());
        let tls = settings.secure_cookies;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(routes::security::headers(tls))
                .configure(routes::exports::configure)
                .configure(routes::api::configure)
                .configure(routes::pages::configure)
        })
        .client_request_timeout(settings.timeouts.request_head)
        .listen(listener)?
        .run();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let workers = worker::spawn(state.clone(), settings.workers, shutdown_rx);
        Ok(Application {
            port,
            server,
            state,
            workers,
            shutdown,
            _lock: lock,
            first_organizer,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state (database pool, data folder).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// A handle that stops the HTTP server (the workers stop with it).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then stops the workers and waits for them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        self.state.pool.close().await;
        result
    }
}
