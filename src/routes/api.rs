//! The REST API, `/api/v1/...`, as specified in server.md, plus the organizer and account
//! endpoints the web pages also offer (registration, tokens, approval, reveal, reference
//! upload). Every read goes through a `db` function that applies visibility for the viewer.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::upload::{self, Uploader};
use super::ApiError;
use crate::db;
use crate::db::leaderboard::Denied;
use crate::domain::{Login, Password, Phase, SubmissionId, TeamName, Viewer};
use crate::export;
use crate::AppState;

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(competition)
            .service(sample_submission)
            .service(create_submission)
            .service(list_submissions)
            .service(get_submission)
            .service(select_submission)
            .service(leaderboard_json)
            .service(leaderboard_csv)
            .service(register)
            .service(create_token)
            .service(list_teams)
            .service(approve_team)
            .service(reveal)
            .service(load_reference)
            .service(list_references)
            .service(quota)
            .service(refund)
            .service(mark_baseline)
            .service(rescore)
            .service(queue),
    );
}

async fn phase_or_404(state: &AppState, raw: &str) -> Result<Phase, ApiError> {
    let missing = || {
        ApiError::NotFound(format!(
            "no phase \"{}\"",
            raw.chars().take(64).collect::<String>()
        ))
    };
    state
        .boards
        .phase(&state.pool, raw)
        .await?
        .ok_or_else(missing)
}

fn require_organizer(viewer: &Viewer) -> Result<(), ApiError> {
    match viewer {
        Viewer::Organizer { .. } => Ok(()),
        Viewer::Anonymous => Err(ApiError::Unauthorized),
        Viewer::Team { .. } => Err(ApiError::Forbidden("organizers only".into())),
    }
}

/// The phase named in the path, for an organizer-only route.
async fn organizer_phase(state: &AppState, raw: &str, viewer: &Viewer) -> Result<Phase, ApiError> {
    require_organizer(viewer)?;
    phase_or_404(state, raw).await
}

fn require_team(viewer: &Viewer) -> Result<i64, ApiError> {
    match viewer {
        Viewer::Team { team_id, .. } => Ok(*team_id),
        Viewer::Anonymous => Err(ApiError::Unauthorized),
        Viewer::Organizer { .. } => Err(ApiError::Forbidden("teams only".into())),
    }
}

#[derive(Serialize)]
struct PhaseJson {
    id: String,
    task: String,
    name: String,
    start: String,
    end: String,
    visibility: &'static str,
    open: bool,
    rule: &'static str,
    anonymous: bool,
    quotas: crate::domain::Quotas,
    labels: Vec<String>,
    reference_version: Option<i64>,
    demo_reference: bool,
}

/// `GET /api/v1/competition`: tasks and phases with their deadlines, policies and labels.
#[get("/competition")]
async fn competition(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let info = db::phases::competition(&state.pool).await?;
    let now = chrono::Utc::now();
    let mut tasks: Vec<serde_json::Value> = Vec::new();
    let mut current: Option<(String, String, Vec<serde_json::Value>)> = None;
    let mut any_demo = false;
    for phase in db::phases::list(&state.pool).await? {
        let version = match phase.active_reference_id {
            Some(id) => db::references::get(&state.pool, id).await?,
            None => None,
        };
        let json = PhaseJson {
            id: phase.id.to_string(),
            task: phase.task_id.clone(),
            name: phase.name.clone(),
            start: crate::domain::ts(phase.starts_at),
            end: crate::domain::ts(phase.ends_at),
            visibility: phase.effective_visibility().as_str(),
            open: phase.is_open(now),
            rule: phase.rule.as_str(),
            anonymous: phase.anonymous,
            quotas: phase.quotas,
            labels: phase.task.task().labels,
            reference_version: version.as_ref().map(|v| v.version),
            demo_reference: version.is_some_and(|v| v.is_demo),
        };
        any_demo |= json.demo_reference;
        let json = serde_json::to_value(json).expect("serializable");
        match &mut current {
            Some((id, _, phases)) if *id == phase.task_id => phases.push(json),
            _ => {
                if let Some((id, name, phases)) = current.take() {
                    tasks.push(serde_json::json!({"id": id, "name": name, "phases": phases}));
                }
                current = Some((phase.task_id.clone(), phase.task_name.clone(), vec![json]));
            }
        }
    }
    if let Some((id, name, phases)) = current {
        tasks.push(serde_json::json!({"id": id, "name": name, "phases": phases}));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": info.as_ref().map(|i| i.id.clone()),
        "title": info.as_ref().map(|i| i.title.clone()),
        "description": info.as_ref().map(|i| i.description.clone()),
        // Demo while any phase still shows synthetic labels.
        "demo": any_demo,
        "time_zone": "UTC",
        "tasks": tasks,
    })))
}

/// `GET /api/v1/phases/{phase}/sample-submission.csv`: a valid submission (every reference
/// id, 0.5 everywhere) for teams and organizers.
#[get("/phases/{phase}/sample-submission.csv")]
async fn sample_submission(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    if viewer == Viewer::Anonymous {
        return Err(ApiError::Unauthorized);
    }
    let phase = phase_or_404(&state, &path).await?;
    let version = db::references::latest(&state.pool, phase.id.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("phase {} has no reference labels yet", phase.id))
        })?;
    let reference = state
        .references
        .get(&state, version.id)
        .await
        .map_err(ApiError::Internal)?;
    let body = web::block(move || export::sample_submission(&reference))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-sample-submission.csv\"",
                phase.id
            ),
        ))
        .body(body))
}

/// `POST /api/v1/phases/{phase}/submissions`: multipart `file` (+ `description`).
/// 202 queued, 422 refused, 429 over quota, 409 closed, 401 without a valid token.
/// An organizer's upload is stored as a baseline (shown, never ranked).
#[post("/phases/{phase}/submissions")]
async fn create_submission(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    payload: upload::UploadBody,
) -> Result<HttpResponse, ApiError> {
    let uploader = match viewer {
        Viewer::Anonymous => return Err(ApiError::Unauthorized),
        Viewer::Team {
            approved: false, ..
        } => {
            return Err(ApiError::Forbidden(
                "your team is waiting for an organizer's approval".into(),
            ))
        }
        Viewer::Team {
            team_id, user_id, ..
        } => Uploader {
            team_id,
            user_id,
            baseline: false,
        },
        Viewer::Organizer { user_id } => Uploader {
            team_id: db::people::baseline_team(&state.pool).await?,
            user_id: Some(user_id),
            baseline: true,
        },
    };
    let phase = phase_or_404(&state, &path).await?;
    if !uploader.baseline {
        upload::precheck(&state, &phase, uploader.team_id).await?;
    }
    let received = match upload::receive(&state, payload, state.limits.max_upload_bytes).await {
        Err(e @ (ApiError::Refused(_) | ApiError::TooLarge(_))) if !uploader.baseline => {
            // An oversized form or one without its file counts against the refused-upload
            // cap too (a malformed or timed-out request does not: it never reached a check).
            let phase_id = phase.id.as_str();
            let why = e.to_string();
            db::submissions::record_refused(&state.pool, phase_id, uploader.team_id, &why).await?;
            return Err(e);
        }
        other => other?,
    };
    let id = upload::submit(&state, &phase, uploader, received).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"id": id, "status": "queued"})))
}

/// `GET /api/v1/phases/{phase}/submissions`: the viewer's team's submissions (organizers:
/// every submission), scores only where visible.
#[get("/phases/{phase}/submissions")]
async fn list_submissions(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let phase = phase_or_404(&state, &path).await?;
    let rows = match viewer {
        Viewer::Anonymous => return Err(ApiError::Unauthorized),
        Viewer::Organizer { .. } => db::submissions::list_for_phase(&state.pool, &phase).await?,
        Viewer::Team { team_id, .. } => {
            db::submissions::list_for_team(&state.pool, &phase, team_id, &viewer).await?
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({"phase": phase.id, "submissions": rows})))
}

/// `GET /api/v1/submissions/{id}`: status, scores (when visible), per-class table (same
/// rule), error. Other teams' submissions answer 404, like ids that do not exist.
#[get("/submissions/{id}")]
async fn get_submission(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    if viewer == Viewer::Anonymous {
        return Err(ApiError::Unauthorized);
    }
    let not_found = || ApiError::NotFound("no such submission".into());
    let id = SubmissionId::parse(&path).ok_or_else(not_found)?;
    let (_, view) = db::submissions::get_for_viewer(&state.pool, &id, &viewer, true)
        .await?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/submissions/{id}/select`: the team's choice for a `selected` leaderboard.
#[post("/submissions/{id}/select")]
async fn select_submission(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let team_id = require_team(&viewer)?;
    let not_found = || ApiError::NotFound("no such submission".into());
    let id = SubmissionId::parse(&path).ok_or_else(not_found)?;
    if !db::submissions::select(&state.pool, &id, team_id).await? {
        return Err(not_found());
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": id, "selected": true})))
}

async fn board(
    state: &AppState,
    raw: &str,
    viewer: &Viewer,
) -> Result<db::leaderboard::Leaderboard, ApiError> {
    let phase = phase_or_404(state, raw).await?;
    match db::leaderboard::for_viewer(&state.pool, &state.boards, &phase, viewer).await? {
        Ok(board) => Ok(board),
        Err(Denied::Hidden) => Err(ApiError::Forbidden(format!(
            "the leaderboard of phase {} is hidden until the organizers reveal it",
            phase.id
        ))),
        Err(Denied::SignInRequired) => Err(ApiError::Unauthorized),
    }
}

/// `GET /api/v1/phases/{phase}/leaderboard`.
#[get("/phases/{phase}/leaderboard")]
async fn leaderboard_json(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(board(&state, &path, &viewer).await?))
}

/// `GET /api/v1/phases/{phase}/leaderboard.csv`: the same rows as CSV.
#[get("/phases/{phase}/leaderboard.csv")]
async fn leaderboard_csv(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let board = board(&state, &path, &viewer).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}-leaderboard.csv\"", board.phase),
        ))
        .body(export::leaderboard_csv(&board.rows)))
}

#[derive(Deserialize)]
struct Registration {
    team: String,
    login: String,
    password: String,
}

/// `POST /api/v1/register` `{"team","login","password"}`: a new team waiting for approval.
#[post("/register")]
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Registration>,
) -> Result<HttpResponse, ApiError> {
    state
        .registration_limiter
        .attempt(super::security::client_ip(&req))
        .map_err(|wait| ApiError::TooMany(super::security::registration_wait_message(wait)))?;
    let bad = |e: crate::domain::NameError| ApiError::BadRequest(e.0);
    let team = TeamName::parse(&body.team).map_err(bad)?;
    let login = Login::parse(&body.login).map_err(bad)?;
    let password = Password::parse(&body.password).map_err(bad)?;
    let (team_id, _) = db::people::register_team(&state.pool, &team, &login, &password)
        .await?
        .map_err(|e| ApiError::Conflict(e.0))?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "team": team.as_str(), "team_id": team_id, "status": "waiting for approval"
    })))
}

#[derive(Deserialize)]
struct Credentials {
    login: String,
    password: String,
    #[serde(default)]
    label: Option<String>,
}

/// `POST /api/v1/tokens` `{"login","password"}`: a new API token for the member's team (or
/// the organizer), shown this once. Refused until the team is approved.
#[post("/tokens")]
async fn create_token(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Credentials>,
) -> Result<HttpResponse, ApiError> {
    // The same rate limit as the sign-in form (routes::security).
    let ip = super::security::client_ip(&req);
    let user_id = match state
        .login_limiter
        .check(&state.pool, ip, &body.login, &body.password)
        .await?
    {
        super::security::LoginOutcome::Valid(user_id) => user_id,
        super::security::LoginOutcome::Wrong => return Err(ApiError::Unauthorized),
        super::security::LoginOutcome::Blocked(wait) => {
            return Err(ApiError::TooMany(format!(
                "too many failed sign-ins; try again in {} s",
                wait.as_secs() + 1
            )))
        }
    };
    let owner = match db::people::user_owner(&state.pool, user_id).await? {
        Some((owner, true)) => owner,
        Some((_, false)) => {
            return Err(ApiError::Forbidden(
                "your team is waiting for an organizer's approval".into(),
            ))
        }
        None => return Err(ApiError::Unauthorized),
    };
    let label = body.label.clone().unwrap_or_else(|| "api".into());
    let token = db::people::create_token(&state.pool, owner, &label).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "token": token })))
}

/// `GET /api/v1/teams` (organizers): every team, waiting ones first.
#[get("/teams")]
async fn list_teams(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, ApiError> {
    require_organizer(&viewer)?;
    Ok(HttpResponse::Ok().json(db::people::list_teams(&state.pool).await?))
}

/// `POST /api/v1/teams/{id}/approve` (organizers).
#[post("/teams/{id}/approve")]
async fn approve_team(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    require_organizer(&viewer)?;
    if !db::people::approve_team(&state.pool, *path).await? {
        return Err(ApiError::NotFound("no such team".into()));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"team_id": *path, "approved": true})))
}

/// `POST /api/v1/phases/{phase}/reveal` (organizers): makes a hidden or own phase public.
#[post("/phases/{phase}/reveal")]
async fn reveal(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let phase = organizer_phase(&state, &path, &viewer).await?;
    db::phases::reveal(&state.pool, &phase.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"phase": phase.id, "visibility": "public"})))
}

/// `POST /api/v1/phases/{phase}/reference` (organizers, multipart `file`): a new version of
/// the reference labels; every submission of the phase is re-scored against it.
#[post("/phases/{phase}/reference")]
async fn load_reference(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    payload: upload::UploadBody,
) -> Result<HttpResponse, ApiError> {
    let phase = organizer_phase(&state, &path, &viewer).await?;
    let received = upload::receive(&state, payload, state.limits.max_csv_bytes).await?;
    let bytes = std::fs::read(&received.temp)?;
    let version = crate::admin::add_reference(&state.pool, &state.store, &phase, bytes, false)
        .await
        .map_err(|e| match e {
            crate::admin::AdminError::Refused(why) => ApiError::Refused(why),
            other => ApiError::Internal(other.into()),
        })?;
    state.queue.notify_one();
    Ok(HttpResponse::Created().json(serde_json::json!({
        "phase": phase.id, "version": version.version, "rows": version.rows
    })))
}

/// `GET /api/v1/queue` (organizers): waiting and running jobs in the order they run.
#[get("/queue")]
async fn queue(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, ApiError> {
    require_organizer(&viewer)?;
    Ok(HttpResponse::Ok().json(db::jobs::pending(&state.pool).await?))
}

/// `GET /api/v1/phases/{phase}/references` (organizers): reference versions, newest first,
/// with the rank movements recorded when each became active.
#[get("/phases/{phase}/references")]
async fn list_references(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let phase = organizer_phase(&state, &path, &viewer).await?;
    let versions = db::references::list(&state.pool, phase.id.as_str()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "phase": phase.id,
        "active_reference_id": phase.active_reference_id,
        "versions": versions,
    })))
}

/// `POST /api/v1/phases/{phase}/rescore` (organizers): score every submission of the phase
/// again against its newest reference version (e.g. after an engine fix).
#[post("/phases/{phase}/rescore")]
async fn rescore(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let phase = organizer_phase(&state, &path, &viewer).await?;
    let queued = db::references::rescore(&state.pool, &phase.id).await?;
    state.queue.notify_one();
    Ok(HttpResponse::Accepted().json(serde_json::json!({"phase": phase.id, "queued": queued})))
}

/// `GET /api/v1/phases/{phase}/quota` (teams): used and remaining uploads, and when the
/// next daily slot frees up.
#[get("/phases/{phase}/quota")]
async fn quota(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let team_id = require_team(&viewer)?;
    let phase = phase_or_404(&state, &path).await?;
    let mut conn = state.pool.acquire().await?;
    let status =
        db::submissions::quota_status(&mut conn, &phase, team_id, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "phase": phase.id,
        "remaining": status.remaining(),
        "status": status,
    })))
}

/// The submission named in the path, for an organizer-only route.
fn organizer_submission(raw: &str, viewer: &Viewer) -> Result<SubmissionId, ApiError> {
    require_organizer(viewer)?;
    SubmissionId::parse(raw).ok_or_else(|| ApiError::NotFound("no such submission".into()))
}

/// `POST /api/v1/submissions/{id}/refund` (organizers): gives the submission's quota slot
/// back to the team (e.g. after a run the team could not be blamed for).
#[post("/submissions/{id}/refund")]
async fn refund(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, ApiError> {
    let id = organizer_submission(&path, &viewer)?;
    if !db::submissions::refund(&state.pool, &id).await? {
        return Err(ApiError::NotFound("no such submission".into()));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": id, "refunded": true})))
}

#[derive(Deserialize)]
struct BaselineFlag {
    baseline: bool,
}

/// `POST /api/v1/submissions/{id}/baseline` `{"baseline": true}` (organizers): marks an
/// entry as a baseline (shown, not ranked) or back.
#[post("/submissions/{id}/baseline")]
async fn mark_baseline(
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    body: web::Json<BaselineFlag>,
) -> Result<HttpResponse, ApiError> {
    let id = organizer_submission(&path, &viewer)?;
    if !db::submissions::set_baseline(&state.pool, &id, body.baseline).await? {
        return Err(ApiError::NotFound("no such submission".into()));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": id, "baseline": body.baseline})))
}
