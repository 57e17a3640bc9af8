//! What `tailboard serve` and `tailboard admin ...` do; `main.rs` only parses arguments and
//! calls these. Each returns the process exit code and prints one-line errors to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::CompetitionConfig;
use crate::{admin, db, Application, Settings};

/// The options of `tailboard serve`.
#[derive(Debug, clap::Args)]
pub struct ServeOptions {
    /// Data folder (SQLite database and stored files).
    #[arg(long, default_value = "tailboard-data")]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Competition definition (TOML); the built-in CXR-LT 2024 competition when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Mark every cookie `Secure` (browsers then send them over HTTPS only). Use it
    /// when a TLS proxy serves the site; without it cookies are still `Secure` on
    /// requests the proxy marks `X-Forwarded-Proto: https`.
    #[arg(long)]
    pub secure_cookies: bool,
    /// Scoring workers (jobs scored at once); one per core when absent.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Registrations allowed per client address and hour (20 when absent). Behind a
    /// reverse proxy every client shares the proxy's address: raise it for the
    /// registration rush.
    #[arg(long)]
    pub registrations_per_hour: Option<usize>,
}

/// `tailboard serve`: without `--config` the built-in CXR-LT 2024 competition is served with
/// synthetic demo labels.
pub fn serve(options: ServeOptions) -> ExitCode {
    init_tracing();
    let mut settings = Settings::embedded_default();
    settings.data_dir = options.data;
    settings.bind = options.bind;
    settings.secure_cookies = options.secure_cookies;
    settings.workers = options.workers.unwrap_or(settings.workers);
    settings.registrations_per_hour = options
        .registrations_per_hour
        .unwrap_or(settings.registrations_per_hour);
    if let Some(path) = options.config {
        match CompetitionConfig::load(&path) {
            Ok(c) => settings.config = c,
            Err(e) => return fail(&format!("{}: {e}", path.display())),
        }
        settings.demo = None;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    runtime.block_on(async move {
        let bind = settings.bind.clone();
        let data = settings.data_dir.clone();
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => return fail(&format!("cannot start: {e:#}")),
        };
        let host = bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
        println!("Tailboard is serving http://{host}:{}/", app.port());
        println!("Data folder: {}", data.display());
        if let Some((login, password)) = &app.first_organizer {
            println!("Organizer login (shown only this once): {login} / {password}");
        }
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        }
    })
}

/// One admin action on a data folder.
#[derive(Debug, Clone)]
pub enum AdminAction {
    /// Create an approved team; print its API token.
    CreateTeam {
        /// Team name.
        name: String,
    },
    /// Create an organizer; print their API token.
    CreateOrganizer {
        /// Organizer login.
        name: String,
    },
    /// Load a new version of a phase's reference labels.
    LoadReference {
        /// Phase id.
        phase: String,
        /// The labels CSV.
        file: PathBuf,
    },
    /// Make a phase's leaderboard public.
    Reveal {
        /// Phase id.
        phase: String,
    },
    /// Write a consistent copy of the database.
    Backup {
        /// Destination file (must not exist).
        out: PathBuf,
    },
}

/// `tailboard admin ... --data DIR ...`: works while a server runs on the same folder.
pub fn admin(data: &Path, action: AdminAction) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    runtime.block_on(async move {
        let (store, pool) = match admin::open(data).await {
            Ok(x) => x,
            Err(e) => return fail(&e.to_string()),
        };
        let result: Result<String, admin::AdminError> = match action {
            AdminAction::CreateTeam { name } => admin::create_team(&pool, &name).await,
            AdminAction::CreateOrganizer { name } => admin::create_organizer(&pool, &name).await,
            AdminAction::LoadReference { phase, file } => {
                admin::load_reference(&store, &pool, &phase, &file)
                    .await
                    .map(|v| {
                        format!(
                            "phase {phase}: reference version {} loaded ({} images); every \
                             submission of the phase is queued for re-scoring",
                            v.version, v.rows
                        )
                    })
            }
            AdminAction::Reveal { phase } => admin::reveal(&pool, &phase)
                .await
                .map(|_| format!("phase {phase} is now public")),
            AdminAction::Backup { out } => db::backup(&pool, &out)
                .await
                .map(|_| format!("backup written to {}", out.display()))
                .map_err(admin::AdminError::Other),
        };
        pool.close().await;
        match result {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        }
    })
}

fn fail(message: &str) -> ExitCode {
    eprintln!("tailboard: {message}");
    ExitCode::FAILURE
}

fn init_tracing() {
    let filter = tracing_subscriber::filter::LevelFilter::INFO;
    let _ = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
