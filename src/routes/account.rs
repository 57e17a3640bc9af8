//! Sign-in, sign-out, team registration, and the team page with its upload form.
//!
//! The upload form is a plain `multipart/form-data` POST that works without JavaScript
//! (answered with a redirect to the new submission, or the team page with the one-line
//! refusal). `static/upload.js` sends the same form with `XMLHttpRequest` to show a progress
//! bar; it asks for JSON (`Accept: application/json`) and gets `{"location"}` or `{"error"}`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::pages::{fmt4, phase_or_404, render, see_other, show_time, show_ts, PageCtx, PageError};
use super::security::{client_ip, is_tls, LoginOutcome};
use super::upload::{self, Uploader};
use crate::auth::{session_cookie, session_id, SESSION_COOKIE};
use crate::db;
use crate::domain::{Login, Password, SubmissionId, TeamName, Viewer};
use crate::AppState;

/// Registers the account routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form)
        .service(login_submit)
        .service(logout)
        .service(register_form)
        .service(register_submit)
        .service(team_page)
        .service(team_upload)
        .service(select);
}

/// A form that carries only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// The token.
    #[serde(default)]
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageCtx,
    login: String,
    error: Option<String>,
}

/// `GET /login`.
#[get("/login")]
async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let page = LoginPage {
        ctx,
        login: String::new(),
        error: None,
    };
    render(&page.ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// `POST /login`: checks the password (argon2), opens a session and sets the signed
/// session cookie. Failures are counted per client address and login; over the limit the
/// answer is 429 and the password is not even checked.
#[post("/login")]
async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: Option<web::Form<LoginForm>>,
) -> Result<HttpResponse, PageError> {
    let form = form.map(|f| f.into_inner());
    PageCtx::check_csrf(&req, &state, form.as_ref().map(|f| f.csrf.as_str())).await?;
    let form = form.expect("a form with a valid token");
    let name = form.login.trim().to_string();
    let refuse = |ctx: PageCtx, status: StatusCode, error: String| {
        let page = LoginPage {
            ctx,
            login: name.clone(),
            error: Some(error),
        };
        render(&page.ctx, status, &page)
    };
    let outcome = state
        .login_limiter
        .check(&state.pool, client_ip(&req), &name, &form.password)
        .await?;
    let user_id = match outcome {
        LoginOutcome::Valid(user_id) => user_id,
        LoginOutcome::Wrong => {
            let ctx = PageCtx::load(&req, &state, viewer).await?;
            return refuse(
                ctx,
                StatusCode::UNAUTHORIZED,
                "wrong login or password".into(),
            );
        }
        LoginOutcome::Blocked(wait) => {
            let ctx = PageCtx::load(&req, &state, viewer).await?;
            return refuse(
                ctx,
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed sign-ins; try again in {} s",
                    wait.as_secs() + 1
                ),
            );
        }
    };
    // A new session id at every sign-in (no fixation); the old session, if any, ends.
    if let Some(old) = session_id(&req, &state.cookie_key) {
        db::people::delete_session(&state.pool, &old).await?;
    }
    let (session, _csrf) = db::people::create_session(&state.pool, user_id).await?;
    let cookie = session_cookie(&session, &state.cookie_key, is_tls(&req, &state));
    let is_organizer = matches!(
        db::people::user_owner(&state.pool, user_id).await?,
        Some((db::people::TokenOwner::Organizer(_), _))
    );
    let target = if is_organizer { "/organizer" } else { "/team" };
    let mut response = see_other(target);
    response
        .add_cookie(&cookie)
        .map_err(|e| PageError::Internal(e.into()))?;
    Ok(response)
}

/// `POST /logout`: ends the session (CSRF-protected, so no site can sign a user out).
#[post("/logout")]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    PageCtx::check_csrf(&req, &state, form.as_ref().map(|f| f.csrf.as_str())).await?;
    if let Some(id) = session_id(&req, &state.cookie_key) {
        db::people::delete_session(&state.pool, &id).await?;
    }
    let mut response = see_other("/");
    // The removal carries the same attributes as the cookie it replaces: a browser may
    // ignore a non-Secure cookie that would overwrite a Secure one.
    let mut gone = actix_web::cookie::Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(is_tls(&req, &state))
        .finish();
    gone.make_removal();
    response
        .add_cookie(&gone)
        .map_err(|e| PageError::Internal(e.into()))?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    ctx: PageCtx,
    team: String,
    login: String,
    error: Option<String>,
    done: bool,
}

/// `GET /register`.
#[get("/register")]
async fn register_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let page = RegisterPage {
        ctx,
        team: String::new(),
        login: String::new(),
        error: None,
        done: false,
    };
    render(&page.ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

/// `POST /register`: a new team and its first member, waiting for an organizer's approval.
#[post("/register")]
async fn register_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    form: Option<web::Form<RegisterForm>>,
) -> Result<HttpResponse, PageError> {
    let form = form.map(|f| f.into_inner());
    PageCtx::check_csrf(&req, &state, form.as_ref().map(|f| f.csrf.as_str())).await?;
    let form = form.expect("a form with a valid token");
    let allowed = state.registration_limiter.attempt(client_ip(&req));
    let outcome = match (
        allowed,
        TeamName::parse(&form.team),
        Login::parse(&form.login),
        Password::parse(&form.password),
    ) {
        (Err(wait), ..) => Err((
            StatusCode::TOO_MANY_REQUESTS,
            super::security::registration_wait_message(wait),
        )),
        (Ok(()), Ok(team), Ok(login), Ok(password)) => {
            db::people::register_team(&state.pool, &team, &login, &password)
                .await?
                .map(|_| ())
                .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.0))
        }
        (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            Err((StatusCode::UNPROCESSABLE_ENTITY, e.0))
        }
    };
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let (status, error) = match outcome {
        Ok(()) => (StatusCode::CREATED, None),
        Err((status, message)) => (status, Some(message)),
    };
    let page = RegisterPage {
        ctx,
        done: error.is_none(),
        team: form.team,
        login: form.login,
        error,
    };
    render(&page.ctx, status, &page)
}

/// One phase's quota on the team page.
struct QuotaLine {
    id: String,
    phase: String,
    state: &'static str,
    remaining: u32,
    used_today: u32,
    per_day: u32,
    used_total: u32,
    total: u32,
    refused_today: u32,
    refused_cap: u32,
    next_slot: String,
}

/// One submission in the team's history.
struct HistoryLine {
    id: String,
    phase: String,
    created: String,
    status: String,
    queue_position: Option<i64>,
    file_name: String,
    description: String,
    map: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    ctx: PageCtx,
    team: String,
    approved: bool,
    open_phases: Vec<(String, String)>,
    chosen: String,
    quotas: Vec<QuotaLine>,
    history: Vec<HistoryLine>,
    error: Option<String>,
    max_mb: u64,
}

async fn team_page_for(
    req: &HttpRequest,
    state: &AppState,
    viewer: Viewer,
    team_id: i64,
    error: Option<String>,
    chosen: String,
) -> Result<TeamPage, PageError> {
    let ctx = PageCtx::load(req, state, viewer).await?;
    let team = db::people::team(&state.pool, team_id)
        .await?
        .ok_or_else(|| PageError::NotFound("no such team".into()))?;
    let now = Utc::now();
    let mut page = TeamPage {
        ctx,
        team: team.name,
        approved: team.approved,
        open_phases: Vec::new(),
        chosen,
        quotas: Vec::new(),
        history: Vec::new(),
        error,
        max_mb: state.limits.max_upload_bytes.div_ceil(1 << 20),
    };
    let mut conn = state.pool.acquire().await?;
    for phase in db::phases::list(&state.pool).await? {
        let label = format!("{} – {}", phase.task_name, phase.name);
        let status = db::submissions::quota_status(&mut conn, &phase, team_id, now).await?;
        let state_word = if phase.is_open(now) {
            page.open_phases.push((phase.id.to_string(), label.clone()));
            "open"
        } else if now < phase.starts_at {
            "not yet open"
        } else {
            "closed"
        };
        let next_slot = match (status.remaining(), status.next_slot_at) {
            (0, _) if status.used_total >= status.quotas.total => "none: phase quota used".into(),
            (0, Some(t)) => show_time(t),
            (_, _) => "now".into(),
        };
        page.quotas.push(QuotaLine {
            id: phase.id.to_string(),
            phase: label.clone(),
            state: state_word,
            remaining: status.remaining(),
            used_today: status.used_today,
            per_day: status.quotas.per_day,
            used_total: status.used_total,
            total: status.quotas.total,
            refused_today: status.refused_today,
            refused_cap: status.quotas.refused_per_day,
            next_slot,
        });
        for s in db::submissions::list_for_team(&state.pool, &phase, team_id, &viewer).await? {
            page.history.push(HistoryLine {
                id: s.id.clone(),
                phase: label.clone(),
                created: show_ts(&s.created_at),
                status: s.status.clone(),
                queue_position: s.queue_position,
                file_name: s.file_name.clone(),
                description: s.description.clone(),
                map: match &s.scores {
                    Some(x) => fmt4(x.map),
                    None if s.status == "finished" => "hidden".into(),
                    None => String::new(),
                },
                error: s.error.clone(),
            });
        }
    }
    page.history.sort_by(|a, b| b.created.cmp(&a.created));
    Ok(page)
}

/// `GET /team`: upload form, quotas with the next free slot, and the history.
#[get("/team")]
async fn team_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let team_id = match viewer {
        Viewer::Team { team_id, .. } => team_id,
        Viewer::Organizer { .. } => return Ok(see_other("/organizer")),
        Viewer::Anonymous => return Ok(see_other("/login")),
    };
    let page = team_page_for(&req, &state, viewer, team_id, None, String::new()).await?;
    render(&page.ctx, StatusCode::OK, &page)
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `POST /team/upload` (multipart: `csrf`, `phase`, `description`, `file`): the web upload.
/// Same checks as the API (open phase, quotas, refused cap, engine validation).
#[post("/team/upload")]
async fn team_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    payload: upload::UploadBody,
) -> Result<HttpResponse, PageError> {
    let (team_id, user_id) = match viewer {
        Viewer::Team {
            team_id,
            user_id,
            approved: true,
        } => (team_id, user_id),
        Viewer::Team { .. } => {
            return Err(PageError::Forbidden(
                "your team is waiting for an organizer's approval".into(),
            ))
        }
        _ => {
            return Err(PageError::Forbidden(
                "sign in as a team member to upload".into(),
            ))
        }
    };
    let json = wants_json(&req);
    let mut chosen = String::new();
    let outcome: Result<SubmissionId, PageError> = async {
        let received = upload::receive(&state, payload, state.limits.max_upload_bytes).await?;
        let field = |name: &str| {
            received
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        PageCtx::check_csrf(&req, &state, field("csrf").as_deref()).await?;
        chosen = field("phase").unwrap_or_default();
        let phase = phase_or_404(&state, &chosen).await?;
        upload::precheck(&state, &phase, team_id).await?;
        let uploader = Uploader {
            team_id,
            user_id,
            baseline: false,
        };
        Ok(upload::submit(&state, &phase, uploader, received).await?)
    }
    .await;
    match outcome {
        Ok(id) => {
            let location = format!("/submissions/{id}");
            if json {
                Ok(HttpResponse::Ok().json(serde_json::json!({ "location": location })))
            } else {
                Ok(see_other(&location))
            }
        }
        // A forged form never gets a page with a fresh token.
        Err(PageError::Csrf) => Err(PageError::Csrf),
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            match &e {
                PageError::Internal(inner) => tracing::error!("upload failed: {inner:#}"),
                PageError::Api(api) => api.log(),
                _ => {}
            }
            if json {
                return Ok(
                    HttpResponse::build(status).json(serde_json::json!({ "error": e.to_string() }))
                );
            }
            let page =
                team_page_for(&req, &state, viewer, team_id, Some(e.to_string()), chosen).await?;
            render(&page.ctx, status, &page)
        }
    }
}

/// `POST /submissions/{id}/select`: the team's choice for a `selected` leaderboard.
#[post("/submissions/{id}/select")]
async fn select(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
    form: Option<web::Form<CsrfForm>>,
) -> Result<HttpResponse, PageError> {
    PageCtx::check_csrf(&req, &state, form.as_ref().map(|f| f.csrf.as_str())).await?;
    let not_found = || PageError::NotFound("no such submission".into());
    let team_id = viewer.team_id().ok_or_else(not_found)?;
    let id = SubmissionId::parse(&path).ok_or_else(not_found)?;
    if !db::submissions::select(&state.pool, &id, team_id).await? {
        return Err(not_found());
    }
    Ok(see_other(&format!("/submissions/{id}")))
}
