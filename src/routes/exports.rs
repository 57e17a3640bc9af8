//! Export downloads for reviewers, at `/phases/{phase}/export/{file}` and the same path under
//! `/api/v1/` (a browser session or a bearer token both work):
//!
//! | file | content |
//! |---|---|
//! | `rankings.csv`, `rankings.json` | the final leaderboard with ids, times, SHA-256, every metric and CI |
//! | `per-class.csv` | per-class results of the ranked submissions |
//! | `submissions.csv` | every submission of the phase, with status, error and scores |
//! | `rankings.tex` | a LaTeX table like the paper's Tables 4-7 |
//!
//! Who may download: organizers always. Anyone else only once the phase is public (public
//! from the start, or revealed); an `own` or `hidden` phase exports nothing to teams or
//! anonymous readers before the reveal. `submissions.csv` lists every upload of every team,
//! which is more than the leaderboard shows, so non-organizers get it only after the phase
//! has closed as well, and never in a double-blind (`anonymous`) phase, where it would tie
//! pseudonyms to names; the other files carry the leaderboard's pseudonyms there.

use actix_web::{routes, web, HttpResponse};
use chrono::Utc;

use super::ApiError;
use crate::db;
use crate::db::leaderboard::Leaderboard;
use crate::domain::{Phase, Viewer, Visibility};
use crate::export::reviewers;
use crate::AppState;

/// Registers the export routes (before the API scope, which would otherwise answer 404).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(export_file);
}

/// The files one can export, by name.
pub const FILES: [&str; 5] = [
    "rankings.csv",
    "rankings.json",
    "per-class.csv",
    "submissions.csv",
    "rankings.tex",
];

async fn phase_for_export(state: &AppState, raw: &str, viewer: &Viewer) -> Result<Phase, ApiError> {
    let missing = || ApiError::NotFound("no such phase".into());
    let phase = state
        .boards
        .phase(&state.pool, raw)
        .await?
        .ok_or_else(missing)?;
    if !viewer.is_organizer() && phase.effective_visibility() != Visibility::Public {
        return Err(ApiError::Forbidden(format!(
            "exports of phase {} are for organizers until the phase is revealed",
            phase.id
        )));
    }
    Ok(phase)
}

async fn board(state: &AppState, phase: &Phase, viewer: &Viewer) -> Result<Leaderboard, ApiError> {
    db::leaderboard::for_viewer(&state.pool, &state.boards, phase, viewer)
        .await?
        .map_err(|_| ApiError::Forbidden("this leaderboard is not visible to you".into()))
}

fn download(content_type: &str, phase: &Phase, file: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}-{file}\"", phase.id),
        ))
        .body(body)
}

async fn export(
    state: &AppState,
    phase_raw: &str,
    file: &str,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    if !FILES.contains(&file) {
        return Err(ApiError::NotFound(format!(
            "no such export; choose one of {}",
            FILES.join(", ")
        )));
    }
    let phase = phase_for_export(state, phase_raw, &viewer).await?;
    const CSV: &str = "text/csv; charset=utf-8";
    Ok(match file {
        "rankings.csv" => {
            let board = board(state, &phase, &viewer).await?;
            download(
                CSV,
                &phase,
                file,
                crate::export::leaderboard_csv(&board.rows),
            )
        }
        "rankings.json" => {
            let board = board(state, &phase, &viewer).await?;
            let json = reviewers::rankings_json(&phase, &board);
            download(
                "application/json",
                &phase,
                file,
                serde_json::to_string_pretty(&json).expect("serializable"),
            )
        }
        "rankings.tex" => {
            let board = board(state, &phase, &viewer).await?;
            download(
                "application/x-tex; charset=utf-8",
                &phase,
                file,
                reviewers::rankings_latex(&phase, &board),
            )
        }
        "per-class.csv" => {
            let board = board(state, &phase, &viewer).await?;
            let mut rows = Vec::new();
            if let Some(reference_id) = phase.active_reference_id {
                for row in board.rows.iter().filter(|r| r.rank.is_some()) {
                    let classes =
                        db::submissions::class_rows(&state.pool, row.seq, reference_id).await?;
                    rows.push((row, classes));
                }
            }
            download(CSV, &phase, file, reviewers::per_class_csv(&rows))
        }
        _ => {
            let closed = Utc::now() >= phase.ends_at;
            if !viewer.is_organizer() && (!closed || phase.anonymous) {
                return Err(ApiError::Forbidden(format!(
                    "the list of every submission of phase {} is for organizers until the \
                     phase closes (always, in a double-blind phase)",
                    phase.id
                )));
            }
            let subs = db::submissions::list_for_phase(&state.pool, &phase).await?;
            let refunded = db::pages::refunded_ids(&state.pool, phase.id.as_str()).await?;
            download(
                CSV,
                &phase,
                file,
                reviewers::submissions_csv(&subs, &refunded),
            )
        }
    })
}

/// `GET /phases/{phase}/export/{file}`, also under `/api/v1/` for scripts: one handler, so
/// the two paths cannot drift apart in what they let a viewer see.
#[routes]
#[get("/phases/{phase}/export/{file}")]
#[get("/api/v1/phases/{phase}/export/{file}")]
async fn export_file(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let (phase, file) = path.into_inner();
    export(&state, &phase, &file, viewer).await
}
