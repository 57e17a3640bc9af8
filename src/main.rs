//! `tailboard`: the CXR-LT leaderboard server and scoring program.
//!
//! Exit codes: 0 success; 1 a refused submission, a bad reference or an I/O failure (the
//! one-line reason is the first line of stderr); 2 a command-line usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use scoring::codalab::{self, ScoreOptions};
use scoring::demo::{self, DemoOptions};
use scoring::submission::Limits;
use scoring::{ScoringError, Task};

#[derive(Parser)]
#[command(
    name = "tailboard",
    version,
    about = "CXR-LT leaderboard server and scoring program"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the leaderboard web server (the CXR-LT 2024 demo when no config is given).
    Serve(tailboard::cli::ServeOptions),
    /// Administer a data folder (works while the server runs).
    #[command(subcommand)]
    Admin(Admin),
    /// CodaLab/Codabench scoring program: score INPUT/res against INPUT/ref into OUTPUT.
    Score {
        /// Folder holding `ref/` (labels.csv [+ task.toml]) and `res/` (the submission).
        input: PathBuf,
        /// Folder receiving scores.txt, scores.json, per_class.csv, detailed_results.html.
        output: PathBuf,
        /// Bootstrap replicates for the confidence intervals (0 turns them off).
        #[arg(long, default_value_t = ScoreOptions::default().bootstrap)]
        bootstrap: usize,
        /// Bootstrap seed (the same seed always gives the same intervals).
        #[arg(long, default_value_t = ScoreOptions::default().seed)]
        seed: u64,
    },
    /// Validate a submission (CSV or zip) before uploading it.
    Check {
        /// The submission file.
        submission: PathBuf,
        /// CXR-LT 2024 task number (1, 2 or 3).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        task: u8,
        /// A CSV with a `dicom_id` column (a sample submission or reference): the submission's
        /// ids must equal its ids.
        #[arg(long)]
        ids: Option<PathBuf>,
    },
    /// Write synthetic reference labels (labels.csv) and a submission (submission.csv).
    DemoData {
        /// CXR-LT 2024 task number (1, 2 or 3).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        task: u8,
        /// Number of images.
        #[arg(long)]
        rows: usize,
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Seed: the same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write subject_id and study_id columns.
        #[arg(long)]
        id_columns: bool,
        /// Decimals of the submission's probabilities (17 or more: unrounded, like a real
        /// model's output; a Task-1-size file is then about 65 MB).
        #[arg(long, default_value_t = demo::DEFAULT_DECIMALS)]
        decimals: u32,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Create a team and print its API token.
    CreateTeam {
        #[arg(long)]
        data: PathBuf,
        name: String,
    },
    /// Create an organizer and print their API token.
    CreateOrganizer {
        #[arg(long)]
        data: PathBuf,
        name: String,
    },
    /// Load a new version of a phase's reference labels (re-scores the phase).
    LoadReference {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        phase: String,
        file: PathBuf,
    },
    /// Make a hidden phase's leaderboard public.
    Reveal {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        phase: String,
    },
    /// Write a consistent copy of the database while the server runs.
    Backup {
        #[arg(long)]
        data: PathBuf,
        out: PathBuf,
    },
}

/// Maps the admin subcommand onto the server library's admin actions.
fn run_admin(admin: Admin) -> ExitCode {
    use tailboard::cli::AdminAction as A;
    let (data, action) = match admin {
        Admin::CreateTeam { data, name } => (data, A::CreateTeam { name }),
        Admin::CreateOrganizer { data, name } => (data, A::CreateOrganizer { name }),
        Admin::LoadReference { data, phase, file } => (data, A::LoadReference { phase, file }),
        Admin::Reveal { data, phase } => (data, A::Reveal { phase }),
        Admin::Backup { data, out } => (data, A::Backup { out }),
    };
    tailboard::cli::admin(&data, action)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(options) => return tailboard::cli::serve(options),
        Command::Admin(admin) => return run_admin(admin),
        Command::Score {
            input,
            output,
            bootstrap,
            seed,
        } => score(&input, &output, bootstrap, seed),
        Command::Check {
            submission,
            task,
            ids,
        } => check(&submission, task, ids.as_deref()),
        Command::DemoData {
            task,
            rows,
            out,
            seed,
            id_columns,
            decimals,
        } => demo_data(task, rows, &out, seed, id_columns, decimals),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The platforms show stderr to the participant: the reason must be its first line.
            eprintln!("{}", one_line(&e.to_string()));
            ExitCode::from(1)
        }
    }
}

/// Engine messages are one line already; this only guards against a stray line break (an
/// I/O error text, say) pushing the reason off the first line. Other spacing is kept: a
/// message may quote a participant's value exactly.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn builtin(task: u8) -> Task {
    Task::builtin(task).expect("clap restricts --task to 1..=3")
}

fn score(input: &Path, output: &Path, bootstrap: usize, seed: u64) -> Result<(), ScoringError> {
    let options = ScoreOptions {
        bootstrap,
        seed,
        ..ScoreOptions::default()
    };
    let scored = codalab::run_scored(input, output, &options)?;
    // The process ends right after this: freeing ~250,000 allocations and unmapping the big
    // buffers one by one would cost ~20 ms of a ~0.3 s run, and the OS reclaims it all anyway.
    std::mem::forget(scored.inputs);
    let report = scored.report;
    for (k, v) in scoring::report::summary(&report) {
        println!("{k}: {v}");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, ScoringError> {
    std::fs::read(path)
        .map_err(|e| ScoringError::Io(format!("cannot read {}: {e}", path.display())))
}

fn check(submission: &Path, task: u8, ids: Option<&Path>) -> Result<(), ScoringError> {
    let task = builtin(task);
    let limits = Limits::default();
    let size = std::fs::metadata(submission)
        .map_err(|e| ScoringError::Io(format!("cannot read {}: {e}", submission.display())))?
        .len();
    if size > limits.max_upload_bytes {
        return Err(ScoringError::refused(format!(
            "the upload is {size} bytes, over the limit of {} bytes",
            limits.max_upload_bytes
        )));
    }
    let ids = match ids {
        Some(p) => Some(codalab::read_ids(&read(p)?)?),
        None => None,
    };
    let predictions = codalab::check(&read(submission)?, &task, ids, &limits)?;
    println!(
        "OK: {} rows, {} labels",
        predictions.ids.len(),
        predictions.scores.len()
    );
    for w in &predictions.warnings {
        println!("warning: {w}");
    }
    Ok(())
}

fn demo_data(
    task: u8,
    rows: usize,
    out: &Path,
    seed: u64,
    id_columns: bool,
    decimals: u32,
) -> Result<(), ScoringError> {
    let options = DemoOptions {
        rows,
        seed,
        id_columns,
    };
    demo::write_dir(&builtin(task), &options, decimals, out).map_err(|e| {
        ScoringError::Io(format!("cannot write demo data to {}: {e}", out.display()))
    })?;
    println!(
        "wrote {} and {} ({rows} rows, task {task}, seed {seed})",
        out.join("labels.csv").display(),
        out.join("submission.csv").display()
    );
    Ok(())
}
