//! HTTP routes: the REST API ([`api`]) and, next to it, the server-rendered pages. Routes
//! parse input, call `db` and the engine (off the async executor), and render; they never
//! compute a metric and never decide visibility themselves (the `db` read functions do).

pub mod account;
pub mod api;
pub mod exports;
pub mod organizer;
pub mod pages;
pub mod security;
pub mod upload;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// An error answered as `{"error": "..."}` with its status code. The message is the one
/// line the client reads; internal errors are logged and answered with a generic line.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no, bad or expired credentials.
    #[error("missing or invalid API token")]
    Unauthorized,
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing (or not visible to the viewer: the two look the same).
    #[error("{0}")]
    NotFound(String),
    /// 409: the phase is closed or not ready.
    #[error("{0}")]
    Conflict(String),
    /// 400: malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// 408: the request body stalled or took too long.
    #[error("{0}")]
    Timeout(String),
    /// 413: the upload is over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body is not the expected kind (e.g. not multipart/form-data).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// 422: the upload was refused by validation.
    #[error("{0}")]
    Refused(String),
    /// 429: over a quota.
    #[error("{0}")]
    TooMany(String),
    /// 503: the database stayed locked by other writers for longer than the busy timeout
    /// (30 s of retries). The statement that hit it changed nothing; the client may retry.
    #[error("the server is busy; nothing was changed; try again in a few seconds")]
    Busy(#[source] sqlx::Error),
    /// 507: an upload could not be written to the server's disk (full, read-only or
    /// failing). Nothing was recorded and no quota was used; details go to the log only.
    #[error(
        "the server could not write the upload to its disk; nothing was stored and no quota \
         was used; try again later or tell the organizers"
    )]
    Storage(#[source] std::io::Error),
    /// 500: a bug or a broken disk; details go to the log only.
    #[error("internal error; the organizers have been notified in the server log")]
    Internal(#[source] anyhow::Error),
}

/// Is this the database staying locked (SQLITE_BUSY / SQLITE_LOCKED after the busy
/// timeout, or no pooled connection free in time)? Those are load, not bugs: answered 503.
pub fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            // Extended result codes keep the primary code in the low byte: 5 BUSY, 6 LOCKED.
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if is_busy(&e) {
            ApiError::Busy(e)
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl ApiError {
    /// Writes the details of a server-side fault (never shown to the client) to the log.
    pub fn log(&self) {
        match self {
            ApiError::Internal(e) => tracing::error!("internal error: {e:#}"),
            ApiError::Busy(e) => tracing::warn!("database busy: {e}"),
            ApiError::Storage(e) => tracing::error!("cannot write an upload to disk: {e}"),
            _ => {}
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Storage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::Busy(_) => {
                response.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
