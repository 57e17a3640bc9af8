//! Server-rendered pages (askama templates in `templates/`, one per page, on a shared
//! `base.html`): home, leaderboard, submission detail, and the pieces every page shares
//! (who is signed in, the CSRF token for its forms, error pages, the static files).
//!
//! Pages read through the same `db` functions as the API, with the same [`Viewer`], so a
//! page can never show more than the API would: hidden scores and per-class values stay
//! hidden, and another team's submission is answered exactly like a missing one. Every value
//! reaches the HTML through askama's escaping (no `|safe` anywhere); numbers are formatted
//! here, not in templates. Sign-in, registration and the team page are in
//! [`account`](super::account), organizer pages in [`organizer`](super::organizer), exports in
//! [`exports`](super::exports).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use chrono::{DateTime, Utc};

use super::security::{csrf_ok, csrf_token};
use super::ApiError;
use crate::db;
use crate::db::leaderboard::{Denied, LeaderboardRow};
use crate::domain::{parse_ts, Phase, SubmissionId, Viewer, Visibility};
use crate::AppState;

/// Registers the page routes and the static files.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(leaderboard)
        .service(submission)
        .service(style_css)
        .service(upload_js);
    super::account::configure(cfg);
    super::organizer::configure(cfg);
}

/// What every page knows about the request: who is signed in and the CSRF token its forms
/// carry.
#[derive(Debug, Clone, Default)]
pub struct PageCtx {
    /// The viewer.
    pub viewer: Option<Viewer>,
    /// Login name of the signed-in person.
    pub login: Option<String>,
    /// Team of the signed-in member.
    pub team: Option<String>,
    /// The signed-in person is an organizer.
    pub is_organizer: bool,
    /// CSRF token for the page's forms.
    pub csrf: String,
    /// Competition title.
    pub title: String,
    /// The competition runs on synthetic demo labels.
    pub demo: bool,
    set_cookie: Option<Cookie<'static>>,
}

impl PageCtx {
    /// Gathers the context of a page request.
    pub async fn load(
        req: &HttpRequest,
        state: &AppState,
        viewer: Viewer,
    ) -> Result<PageCtx, PageError> {
        let token = csrf_token(req, state).await?;
        let user_id = match viewer {
            Viewer::Team { user_id, .. } => user_id,
            Viewer::Organizer { user_id } => Some(user_id),
            Viewer::Anonymous => None,
        };
        let login = match user_id {
            Some(id) => db::pages::user_login(&state.pool, id).await?,
            None => None,
        };
        let team = match viewer.team_id() {
            Some(id) => db::people::team(&state.pool, id).await?.map(|t| t.name),
            None => None,
        };
        let competition = db::phases::competition(&state.pool).await?;
        Ok(PageCtx {
            viewer: Some(viewer),
            login,
            team,
            is_organizer: viewer.is_organizer(),
            csrf: token.token,
            title: competition
                .as_ref()
                .map(|c| c.title.clone())
                .unwrap_or_else(|| "Tailboard".into()),
            demo: competition.is_some_and(|c| c.is_demo),
            set_cookie: token.set_cookie,
        })
    }

    /// The viewer (anonymous on error pages).
    pub fn who(&self) -> Viewer {
        self.viewer.unwrap_or(Viewer::Anonymous)
    }

    /// True when someone is signed in.
    pub fn signed_in(&self) -> bool {
        self.who() != Viewer::Anonymous
    }

    /// Fails with 403 unless `submitted` is this browser's CSRF token.
    pub async fn check_csrf(
        req: &HttpRequest,
        state: &AppState,
        submitted: Option<&str>,
    ) -> Result<(), PageError> {
        if csrf_ok(req, state, submitted).await? {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }
}

/// Renders a page with `status`; pages are personal (forms carry tokens), so never cached.
pub fn render<T: Template>(
    ctx: &PageCtx,
    status: StatusCode,
    page: &T,
) -> Result<HttpResponse, PageError> {
    let html = page
        .render()
        .map_err(|e| PageError::Internal(anyhow::anyhow!("template: {e}")))?;
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"));
    if let Some(cookie) = &ctx.set_cookie {
        response.cookie(cookie.clone());
    }
    Ok(response.body(html))
}

/// A 303 redirect after a successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// An error answered with an HTML page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 403: the form's CSRF token is missing or wrong.
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    Csrf,
    /// Any error of the shared API layer, with its status.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// 500.
    #[error("internal error; the organizers have been notified in the server log")]
    Internal(#[source] anyhow::Error),
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        // Through the API error, so a locked database is a 503 on pages too.
        PageError::Api(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    ctx: PageCtx,
    status: u16,
    heading: String,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::Api(e) => e.status_code(),
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Internal(e) => tracing::error!("internal error: {e:#}"),
            PageError::Api(e) => e.log(),
            _ => {}
        }
        let status = self.status_code();
        let page = ErrorPage {
            ctx: PageCtx {
                title: "Tailboard".into(),
                ..PageCtx::default()
            },
            status: status.as_u16(),
            heading: status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.to_string(),
        };
        let body = page.render().unwrap_or_else(|_| self.to_string());
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body)
    }
}

/// `2024-05-01 12:00:00 UTC`: instants are shown to the second with their zone.
pub fn show_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A stored instant shown like [`show_time`].
pub fn show_ts(raw: &str) -> String {
    parse_ts(raw).map(show_time).unwrap_or_else(|| raw.into())
}

/// A metric with four decimals, or a dash when undefined.
pub fn fmt4(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite())
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "–".into())
}

/// A 95 % interval `[low, high]`, empty when not computed (yet).
pub fn fmt_ci(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (Some(l), Some(h)) => format!("[{l:.4}, {h:.4}]"),
        _ => String::new(),
    }
}

/// A phase as listed on the home and organizer pages.
#[derive(Debug, Clone)]
pub struct PhaseLine {
    /// Id.
    pub id: String,
    /// Task name.
    pub task: String,
    /// Phase name.
    pub name: String,
    /// Opening instant.
    pub start: String,
    /// Closing instant.
    pub end: String,
    /// `open`, `closed` or `not yet open`.
    pub state: &'static str,
    /// True when uploads are accepted now.
    pub open: bool,
    /// Visibility as shown (`public`, `own`, `hidden`, `public (revealed)`).
    pub visibility: String,
    /// Hidden from non-organizers right now.
    pub hidden: bool,
    /// Leaderboard rule.
    pub rule: &'static str,
    /// Quotas in words.
    pub quotas: String,
}

impl PhaseLine {
    /// Describes `phase` at `now`.
    pub fn new(phase: &Phase, now: DateTime<Utc>) -> PhaseLine {
        let state = if now < phase.starts_at {
            "not yet open"
        } else if phase.is_open(now) {
            "open"
        } else {
            "closed"
        };
        let visibility = if phase.revealed && phase.visibility != Visibility::Public {
            format!("public (revealed; was {})", phase.visibility.as_str())
        } else {
            phase.visibility.as_str().to_string()
        };
        PhaseLine {
            id: phase.id.to_string(),
            task: phase.task_name.clone(),
            name: phase.name.clone(),
            start: show_time(phase.starts_at),
            end: show_time(phase.ends_at),
            state,
            open: phase.is_open(now),
            visibility,
            hidden: phase.effective_visibility() == Visibility::Hidden,
            rule: phase.rule.as_str(),
            quotas: format!(
                "{} per 24 h, {} in total, {} refused per 24 h",
                phase.quotas.per_day, phase.quotas.total, phase.quotas.refused_per_day
            ),
        }
    }
}

/// The phase named in a URL, or 404.
pub async fn phase_or_404(state: &AppState, raw: &str) -> Result<Phase, PageError> {
    let missing = || PageError::NotFound("no such phase".into());
    state
        .boards
        .phase(&state.pool, raw)
        .await?
        .ok_or_else(missing)
}

struct TaskBlock {
    name: String,
    phases: Vec<PhaseLine>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: PageCtx,
    description: String,
    tasks: Vec<TaskBlock>,
}

/// `GET /`: tasks and phases with deadlines, state and visibility.
#[get("/")]
async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let now = Utc::now();
    let mut tasks: Vec<TaskBlock> = Vec::new();
    for phase in db::phases::list(&state.pool).await? {
        let line = PhaseLine::new(&phase, now);
        match tasks.last_mut() {
            Some(t) if t.name == phase.task_name => t.phases.push(line),
            _ => tasks.push(TaskBlock {
                name: phase.task_name.clone(),
                phases: vec![line],
            }),
        }
    }
    let description = db::phases::competition(&state.pool)
        .await?
        .map(|c| c.description)
        .unwrap_or_default();
    let page = HomePage {
        ctx,
        description,
        tasks,
    };
    render(&page.ctx, StatusCode::OK, &page)
}

/// One leaderboard line, formatted.
struct BoardLine {
    rank: String,
    team: String,
    baseline: bool,
    mine: bool,
    description: String,
    map: String,
    map_ci: String,
    mauroc: String,
    mf1: String,
    mece: String,
    head: String,
    medium: String,
    tail: String,
    entries: String,
    last: String,
    link: Option<String>,
}

impl BoardLine {
    fn new(row: &LeaderboardRow, viewer: &Viewer) -> BoardLine {
        let s = &row.scores;
        let mine = viewer.team_id() == Some(row.team_id);
        BoardLine {
            rank: row.rank.map(|r| r.to_string()).unwrap_or_default(),
            team: row.team.clone(),
            baseline: row.baseline,
            mine,
            description: row.description.clone(),
            map: fmt4(s.map),
            map_ci: fmt_ci(s.map_ci_low, s.map_ci_high),
            mauroc: fmt4(s.mauroc),
            mf1: fmt4(s.mf1),
            mece: fmt4(s.mece),
            head: fmt4(s.map_head),
            medium: fmt4(s.map_medium),
            tail: fmt4(s.map_tail),
            entries: if row.baseline {
                String::new()
            } else {
                row.entries.to_string()
            },
            last: show_ts(&row.last_submission),
            link: (mine || viewer.is_organizer())
                .then(|| format!("/submissions/{}", row.submission)),
        }
    }
}

#[derive(Template)]
#[template(path = "leaderboard.html")]
struct LeaderboardPage {
    ctx: PageCtx,
    phase: PhaseLine,
    notice: Option<String>,
    rows: Vec<BoardLine>,
    own_only: bool,
    reference: String,
    demo_reference: bool,
    exports: bool,
}

/// `GET /phases/{phase}`: the leaderboard as the viewer may see it.
#[get("/phases/{phase}")]
async fn leaderboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let phase = phase_or_404(&state, &path).await?;
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let visibility = phase.effective_visibility();
    let mut page = LeaderboardPage {
        ctx,
        phase: PhaseLine::new(&phase, Utc::now()),
        notice: None,
        rows: Vec::new(),
        own_only: visibility == Visibility::Own && !viewer.is_organizer(),
        reference: String::new(),
        demo_reference: false,
        exports: viewer.is_organizer() || visibility == Visibility::Public,
    };
    match db::leaderboard::for_viewer(&state.pool, &state.boards, &phase, &viewer).await? {
        Ok(board) => {
            page.rows = board
                .rows
                .iter()
                .map(|r| BoardLine::new(r, &viewer))
                .collect();
            page.reference = board
                .reference_version
                .map(|v| format!("reference labels version {v}"))
                .unwrap_or_else(|| "no scores yet".into());
            page.demo_reference = board.demo_reference;
        }
        Err(Denied::Hidden) => {
            page.notice = Some(
                "This leaderboard is hidden until the organizers reveal it. Your submissions \
                 are scored; their status is on your team page."
                    .into(),
            )
        }
        Err(Denied::SignInRequired) => {
            page.notice = Some(
                "In this phase each team sees only its own scores: sign in to see yours.".into(),
            )
        }
    }
    render(&page.ctx, StatusCode::OK, &page)
}

/// One per-class line, formatted.
struct ClassLine {
    label: String,
    group: String,
    critical: bool,
    positives: i64,
    negatives: i64,
    ap: String,
    ap_ci: String,
    auroc: String,
    f1: String,
    ece: String,
    fnr: String,
}

/// One summary metric, formatted.
struct MetricLine {
    name: &'static str,
    value: String,
    ci: String,
}

#[derive(Template)]
#[template(path = "submission.html")]
struct SubmissionPage {
    ctx: PageCtx,
    id: String,
    phase_id: String,
    phase_name: String,
    team: String,
    status: String,
    created: String,
    queue_position: Option<i64>,
    error: Option<String>,
    warnings: Vec<String>,
    description: String,
    file_name: String,
    file_sha256: String,
    baseline: bool,
    selected: bool,
    can_select: bool,
    metrics: Vec<MetricLine>,
    classes: Vec<ClassLine>,
    scores_note: Option<String>,
}

/// `GET /submissions/{id}`: status, queue position, error, scores and the per-class table,
/// under exactly the API's rules. Another team's submission is a 404 like a missing one.
#[get("/submissions/{id}")]
async fn submission(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    if viewer == Viewer::Anonymous {
        return Ok(see_other("/login"));
    }
    let not_found = || PageError::NotFound("no such submission".into());
    let id = SubmissionId::parse(&path).ok_or_else(not_found)?;
    let (phase, view) = db::submissions::get_for_viewer(&state.pool, &id, &viewer, true)
        .await?
        .ok_or_else(not_found)?;
    let ctx = PageCtx::load(&req, &state, viewer).await?;
    let metrics = match &view.scores {
        Some(s) => vec![
            MetricLine {
                name: "mAP (ranking)",
                value: fmt4(s.map),
                ci: fmt_ci(s.map_ci_low, s.map_ci_high),
            },
            MetricLine {
                name: "mAUROC",
                value: fmt4(s.mauroc),
                ci: fmt_ci(s.mauroc_ci_low, s.mauroc_ci_high),
            },
            MetricLine {
                name: "mF1",
                value: fmt4(s.mf1),
                ci: String::new(),
            },
            MetricLine {
                name: "micro F1",
                value: fmt4(s.micro_f1),
                ci: String::new(),
            },
            MetricLine {
                name: "mECE",
                value: fmt4(s.mece),
                ci: String::new(),
            },
            MetricLine {
                name: "mAP head",
                value: fmt4(s.map_head),
                ci: String::new(),
            },
            MetricLine {
                name: "mAP medium",
                value: fmt4(s.map_medium),
                ci: String::new(),
            },
            MetricLine {
                name: "mAP tail",
                value: fmt4(s.map_tail),
                ci: String::new(),
            },
        ],
        None => Vec::new(),
    };
    let scores_note = match (&view.scores, view.status.as_str()) {
        (Some(_), _) => None,
        (None, "finished") if !db::submissions::scores_visible(&phase, &viewer, view.team_id) => {
            Some(
                "Scored. Scores of this phase stay hidden until the organizers reveal them.".into(),
            )
        }
        (None, "failed") => None,
        (None, _) => Some("Not scored yet.".into()),
    };
    let classes = view
        .classes
        .iter()
        .flatten()
        .map(|c| ClassLine {
            label: c.label.clone(),
            group: c.group.clone().unwrap_or_default(),
            critical: c.critical,
            positives: c.positives,
            negatives: c.negatives,
            ap: fmt4(c.ap),
            ap_ci: fmt_ci(c.ap_ci_low, c.ap_ci_high),
            auroc: fmt4(c.auroc),
            f1: fmt4(c.f1),
            ece: fmt4(c.ece),
            fnr: if c.critical {
                fmt4(c.fnr)
            } else {
                String::new()
            },
        })
        .collect();
    let page = SubmissionPage {
        ctx,
        id: view.id.clone(),
        phase_id: phase.id.to_string(),
        phase_name: format!("{} – {}", phase.task_name, phase.name),
        team: view.team.clone(),
        status: view.status.clone(),
        created: show_ts(&view.created_at),
        queue_position: view.queue_position,
        error: view.error.clone(),
        warnings: view.warnings.clone(),
        description: view.description.clone(),
        file_name: view.file_name.clone(),
        file_sha256: view.file_sha256.clone(),
        baseline: view.baseline,
        selected: view.selected,
        can_select: phase.rule == crate::domain::LeaderboardRule::Selected
            && viewer.team_id() == Some(view.team_id)
            && view.status == "finished",
        metrics,
        classes,
        scores_note,
    };
    render(&page.ctx, StatusCode::OK, &page)
}

/// `GET /static/style.css` (compiled in, so the binary runs from any folder).
#[get("/static/style.css")]
async fn style_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(include_str!("../../static/style.css"))
}

/// `GET /static/upload.js`: the upload progress bar (the form works without it).
#[get("/static/upload.js")]
async fn upload_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(include_str!("../../static/upload.js"))
}
