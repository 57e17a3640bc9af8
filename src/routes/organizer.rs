//! Organizer pages: teams to approve, new organizer accounts, the scoring queue, phases; per
//! phase the reference versions (with the rank movements each caused), a new labels CSV,
//! reveal, re-score, refunds and the export links. Every action is a CSRF-protected POST
//! answered with a redirect back to the page.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::account::CsrfForm;
use super::pages::{fmt4, phase_or_404, render, see_other, show_ts, PageCtx, PageError, PhaseLine};
use super::upload;
use crate::db;
use crate::domain::{Login, Password, SubmissionId, Viewer, Visibility};
use crate::AppState;

/// Registers the organizer routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(overview)
        .service(approve)
        .service(add_organizer)
        .service(phase_page)
        .service(reveal)
        .service(rescore)
        .service(load_reference)
        .service(refund);
}

fn require_organizer(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.is_organizer() {
        Ok(())
    } else {
        Err(PageError::Forbidden("organizers only".into()))
    }
}

/// Checks the organizer and the CSRF token of a posted form.
async fn organizer_post(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    token: Option<&str>,
) -> Result<(), PageError> {
    PageCtx::check_csrf(req, state, token).await?;
    require_organizer(viewer)
}

/// Fixed messages shown after an action (by code, so no text travels in the URL).
fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "approved" => "Team approved.",
        "organizer" => "Organizer account created.",
        "revealed" => "Phase revealed: its leaderboard, scores and exports are now public.",
        "rescore" => "Every submission of the phase is queued for re-scoring.",
        "reference" => {
            "New reference version loaded; every submission is queued for re-scoring. The \
             leaderboard switches when all are scored."
        }
        "refunded" => "Quota slot refunded.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Msg {
    #[serde(default)]
    msg: String,
}

struct TeamLine {
    id: i64,
    name: String,
    approved: bool,
    created: String,
}

struct QueueLine {
    submission: String,
    phase: String,
    team: String,
    stage: &'static str,
    status: String,
    attempts: i64,
    created: String,
    started: String,
}

#[derive(Template)]
#[template(path = "organizer.html")]
struct OverviewPage {
    ctx: PageCtx,
    message: Option<&'static str>,
    error: Option<String>,
    teams: Vec<TeamLine>,
    queue: Vec<QueueLine>,
    phases: Vec<PhaseLine>,
}

async fn overview_page(
    req: &HttpRequest,
    state: &AppState,
    viewer: Viewer,
    message: Option<&'static str>,
    error: Option<String>,
) -> Result<OverviewPage, PageError> {
    let ctx = PageCtx::load(req, state, viewer).await?;
    let teams = db::people::list_teams(&state.pool)
        .await?
        .into_iter()
        .filter(|t| t.name != db::people::BASELINE_TEAM)
        .map(|t| TeamLine {
            id: t.id,
            name: t.name,
            approved: t.approved,
            created: show_ts(&t.created_at),
        })
        .collect();
    let queue = db::jobs::pending(&state.pool)
        .await?
        .into_iter()
        .map(|j| QueueLine {
            submission: j.submission,
            phase: j.phase,
            team: j.team,
            stage: if j.stage == 1 { "scores" } else { "intervals" },
            status: j.status,
            attempts: j.attempts,
            created: show_ts(&j.created_at),
            started: j.started_at.as_deref().map(show_ts).unwrap_or_default(),
        })
        .collect();
    let now = Utc::now();
    let phases = db::phases::list(&state.pool)
        .await?
        .iter()
        .map(|p| PhaseLine::new(p, now))
        .collect();
    Ok(OverviewPage {
        ctx,
        message,
        error,
        teams,
        queue,
        phases,
    })
}

/// `GET /organizer`: teams (waiting ones first), the queue and the phases.
#[get("/organizer")]
async fn overview(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<Msg>,
) -> Result<HttpResponse, PageError> {
    if viewer == Viewer::Anonymous {
        return Ok(see_other("/login"));
    }
    require_organizer(&viewer)?;
    let page = overview_page(&req, &state, viewer, message(&query.msg), None).await?;
    render(&page.ctx, StatusCode::OK, &page)
}

/// `POST /organizer/teams/{id}/approve`.
#[post("/organizer/teams/{id}/approve")]
async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    viewer: Viewer,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    organizer_post(
        &req,
        &state,
        &viewer,
        form.as_ref().map(|f| f.csrf.as_str()),
    )
    .await?;
    if !db::people::approve_team(&state.pool, *path).await? {
        return Err(PageError::NotFound("no such team".into()));
    }
    Ok(see_other("/organizer?msg=approved"))
}

#[derive(Deserialize)]
struct OrganizerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// `POST /organizer/organizers`: another organizer account with a password.
#[post("/organizer/organizers")]
async fn add_organizer(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: Option<web::Form<OrganizerForm>>,
) -> Result<HttpResponse, PageError> {
    organizer_post(
        &req,
        &state,
        &viewer,
        form.as_ref().map(|f| f.csrf.as_str()),
    )
    .await?;
    let form = form.expect("checked above").into_inner();
    let created = match (Login::parse(&form.login), Password::parse(&form.password)) {
        (Ok(login), Ok(password)) => {
            db::people::create_organizer(&state.pool, &login, Some(&password))
                .await?
                .map(|_| ())
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match created {
        Ok(()) => Ok(see_other("/organizer?msg=organizer")),
        Err(e) => {
            let page = overview_page(&req, &state, viewer, None, Some(e.0)).await?;
            render(&page.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

struct VersionLine {
    version: i64,
    rows: i64,
    demo: bool,
    active: bool,
    created: String,
    activated: String,
    changes: Vec<String>,
}

struct SubmissionLine {
    id: String,
    team: String,
    created: String,
    status: String,
    file_name: String,
    map: String,
    baseline: bool,
    refunded: bool,
}

#[derive(Template)]
#[template(path = "organizer_phase.html")]
struct PhasePage {
    ctx: PageCtx,
    phase: PhaseLine,
    message: Option<&'static str>,
    error: Option<String>,
    can_reveal: bool,
    versions: Vec<VersionLine>,
    submissions: Vec<SubmissionLine>,
    counts: String,
}

async fn phase_page_for(
    req: &HttpRequest,
    state: &AppState,
    viewer: Viewer,
    raw: &str,
    message: Option<&'static str>,
    error: Option<String>,
) -> Result<PhasePage, PageError> {
    let phase = phase_or_404(state, raw).await?;
    let ctx = PageCtx::load(req, state, viewer).await?;
    let versions = db::references::list(&state.pool, phase.id.as_str())
        .await?
        .into_iter()
        .map(|v| VersionLine {
            version: v.version,
            rows: v.rows,
            demo: v.is_demo,
            active: phase.active_reference_id == Some(v.id),
            created: show_ts(&v.created_at),
            activated: v.activated_at.as_deref().map(show_ts).unwrap_or_default(),
            changes: v
                .rank_changes
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let rank = |r: Option<u32>| r.map(|r| r.to_string()).unwrap_or("–".into());
                    format!("{}: {} → {}", c.team, rank(c.before), rank(c.after))
                })
                .collect(),
        })
        .collect();
    let refunded = db::pages::refunded_ids(&state.pool, phase.id.as_str()).await?;
    let mut by_status: HashMap<String, usize> = HashMap::new();
    let submissions: Vec<SubmissionLine> = db::submissions::list_for_phase(&state.pool, &phase)
        .await?
        .into_iter()
        .rev()
        .map(|s| {
            *by_status.entry(s.status.clone()).or_default() += 1;
            SubmissionLine {
                refunded: refunded.contains(&s.id),
                map: s.scores.as_ref().map(|x| fmt4(x.map)).unwrap_or_default(),
                id: s.id,
                team: s.team,
                created: show_ts(&s.created_at),
                status: s.status,
                file_name: s.file_name,
                baseline: s.baseline,
            }
        })
        .collect();
    let mut counts: Vec<String> = by_status
        .into_iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    counts.sort();
    Ok(PhasePage {
        ctx,
        can_reveal: phase.effective_visibility() != Visibility::Public,
        phase: PhaseLine::new(&phase, Utc::now()),
        message,
        error,
        versions,
        submissions,
        counts: counts.join(", "),
    })
}

/// `GET /organizer/phases/{phase}`.
#[get("/organizer/phases/{phase}")]
async fn phase_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    query: web::Query<Msg>,
) -> Result<HttpResponse, PageError> {
    if viewer == Viewer::Anonymous {
        return Ok(see_other("/login"));
    }
    require_organizer(&viewer)?;
    let page = phase_page_for(&req, &state, viewer, &path, message(&query.msg), None).await?;
    render(&page.ctx, StatusCode::OK, &page)
}

/// `POST /organizer/phases/{phase}/reveal`.
#[post("/organizer/phases/{phase}/reveal")]
async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    organizer_post(
        &req,
        &state,
        &viewer,
        form.as_ref().map(|f| f.csrf.as_str()),
    )
    .await?;
    let phase = phase_or_404(&state, &path).await?;
    db::phases::reveal(&state.pool, &phase.id).await?;
    Ok(see_other(&format!(
        "/organizer/phases/{}?msg=revealed",
        phase.id
    )))
}

/// `POST /organizer/phases/{phase}/rescore`.
#[post("/organizer/phases/{phase}/rescore")]
async fn rescore(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    organizer_post(
        &req,
        &state,
        &viewer,
        form.as_ref().map(|f| f.csrf.as_str()),
    )
    .await?;
    let phase = phase_or_404(&state, &path).await?;
    db::references::rescore(&state.pool, &phase.id).await?;
    state.queue.notify_one();
    Ok(see_other(&format!(
        "/organizer/phases/{}?msg=rescore",
        phase.id
    )))
}

/// `POST /organizer/phases/{phase}/reference` (multipart `csrf`, `file`): a new version of
/// the reference labels, checked by the engine; a refused file changes nothing.
#[post("/organizer/phases/{phase}/reference")]
async fn load_reference(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    payload: upload::UploadBody,
) -> Result<HttpResponse, PageError> {
    require_organizer(&viewer)?;
    let received = upload::receive(&state, payload, state.limits.max_csv_bytes).await?;
    let token = received
        .fields
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.as_str());
    PageCtx::check_csrf(&req, &state, token).await?;
    let phase = phase_or_404(&state, &path).await?;
    let bytes = std::fs::read(&received.temp).map_err(|e| PageError::Internal(e.into()))?;
    match crate::admin::add_reference(&state.pool, &state.store, &phase, bytes, false).await {
        Ok(_) => {
            state.queue.notify_one();
            Ok(see_other(&format!(
                "/organizer/phases/{}?msg=reference",
                phase.id
            )))
        }
        Err(crate::admin::AdminError::Refused(why)) => {
            let page = phase_page_for(&req, &state, viewer, &path, None, Some(why)).await?;
            render(&page.ctx, StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(PageError::Internal(e.into())),
    }
}

/// `POST /organizer/submissions/{id}/refund`: gives the team its quota slot back.
#[post("/organizer/submissions/{id}/refund")]
async fn refund(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    organizer_post(
        &req,
        &state,
        &viewer,
        form.as_ref().map(|f| f.csrf.as_str()),
    )
    .await?;
    let not_found = || PageError::NotFound("no such submission".into());
    let id = SubmissionId::parse(&path).ok_or_else(not_found)?;
    let (phase, _) = db::submissions::get_for_viewer(&state.pool, &id, &viewer, false)
        .await?
        .ok_or_else(not_found)?;
    db::submissions::refund(&state.pool, &id).await?;
    Ok(see_other(&format!(
        "/organizer/phases/{}?msg=refunded",
        phase.id
    )))
}
