//! Receiving an upload (shared by the REST API and the web form): stream the multipart
//! `file` field to a temp file while hashing it and enforcing the size limit, validate it
//! with the engine on a blocking thread, then check the quotas and store it in one
//! transaction. A refused or over-quota upload leaves no row and no file behind; so does a
//! disk that cannot take the file (answered 507, see [`ApiError::Storage`]).
//!
//! The request body is read through a guard (`Guarded`), which stops reading the socket as soon as
//! the body passes the size limit (plus room for the form's framing and text fields), when
//! no byte arrives for [`Timeouts::upload_idle`], or when the whole body takes longer than
//! [`Timeouts::upload_total`]. Nothing but the text fields (capped at [`MAX_FORM_TEXT`]) and
//! the multipart parser's own 64 KiB buffer is held in memory: the file goes to disk.
//!
//! Answers (each `{"error": "..."}`, one line): 413 over the size limit (decided from
//! `Content-Length` before reading when the client sends one, else while streaming), 408 when
//! the body stalls or trickles past the deadline, 415 when the request is not
//! `multipart/form-data`, 400 for a malformed or interrupted form or oversized text fields,
//! 422 for a form without exactly one `file` field and for everything the engine refuses.

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_multipart::{Multipart, MultipartError};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::time::{Instant, Sleep};

use super::ApiError;
use crate::db;
use crate::db::submissions::{Accepted, NewSubmission};
use crate::domain::{ts, Phase, SubmissionId};
use crate::{AppState, Timeouts};

/// Longest description kept, in bytes.
const MAX_DESCRIPTION: usize = 2000;

/// Most bytes of all text fields of one form together (description, CSRF token, phase).
pub const MAX_FORM_TEXT: usize = 16 << 10;

/// Room for the multipart framing and the text fields on top of the file's size limit.
const FORM_OVERHEAD: u64 = 64 << 10;

/// The body of an upload request, with the headers needed to parse it. Unlike actix's
/// `Multipart` extractor, it lets [`receive`] put limits on the raw byte stream first.
pub struct UploadBody {
    headers: HeaderMap,
    payload: Payload,
}

impl FromRequest for UploadBody {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(UploadBody {
            headers: req.headers().clone(),
            payload: payload.take(),
        }))
    }
}

/// Why [`Guarded`] stopped reading the body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    TooLarge,
    Idle,
    Total,
}

/// The request body with a byte cap, an idle timeout and a total deadline. It records why
/// it stopped in `stop`, because the multipart parser reports every stream error alike.
struct Guarded<S> {
    inner: S,
    read: u64,
    cap: u64,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
    stop: Rc<Cell<Option<Stop>>>,
}

impl<S> Guarded<S> {
    fn fail(&mut self, why: Stop) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.stop.set(Some(why));
        let error = match why {
            Stop::TooLarge => PayloadError::Overflow,
            Stop::Idle | Stop::Total => PayloadError::Io(std::io::ErrorKind::TimedOut.into()),
        };
        Poll::Ready(Some(Err(error)))
    }
}

impl<S> Stream for Guarded<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.stop.get().is_some() {
            return Poll::Ready(None);
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len() as u64;
                if this.read > this.cap {
                    return this.fail(Stop::TooLarge);
                }
                if this.deadline.is_elapsed() {
                    return this.fail(Stop::Total);
                }
                let next = Instant::now() + this.idle;
                this.idle_timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => {
                // Both timers are registered with this task's waker, so a client that
                // stops sending wakes us up here instead of holding the request for ever.
                if this.deadline.as_mut().poll(cx).is_ready() {
                    return this.fail(Stop::Total);
                }
                if this.idle_timer.as_mut().poll(cx).is_ready() {
                    return this.fail(Stop::Idle);
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

/// A multipart upload received into a temp file (removed when dropped unless adopted).
#[derive(Debug)]
pub struct ReceivedUpload {
    /// Temp file holding the upload.
    pub temp: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// File name as sent (display only, never used as a path).
    pub file_name: String,
    /// The `description` field.
    pub description: String,
    /// Other short text fields (e.g. the web form's CSRF token), name -> value.
    pub fields: Vec<(String, String)>,
}

impl Drop for ReceivedUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

fn too_large(max_bytes: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "upload is larger than the limit of {max_bytes} bytes"
    ))
}

/// The one-line answer to a broken form, or to the reason [`Guarded`] stopped reading.
fn form_error(e: MultipartError, stop: Option<Stop>, max_bytes: u64, t: &Timeouts) -> ApiError {
    match stop {
        Some(Stop::TooLarge) => return too_large(max_bytes),
        Some(Stop::Idle) => {
            return ApiError::Timeout(format!(
                "upload timed out: no data arrived for {} s",
                t.upload_idle.as_secs_f64()
            ))
        }
        Some(Stop::Total) => {
            return ApiError::Timeout(format!(
                "upload timed out: the body was not complete after {} s",
                t.upload_total.as_secs_f64()
            ))
        }
        None => {}
    }
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ApiError::UnsupportedMedia(
            "send the upload as multipart/form-data with the file in the field \"file\"".into(),
        ),
        MultipartError::BoundaryMissing => ApiError::BadRequest(
            "malformed upload: the multipart/form-data Content-Type has no boundary".into(),
        ),
        MultipartError::Payload(PayloadError::Overflow) => ApiError::BadRequest(
            "malformed upload: a multipart part header (or the text before the first part) is longer than 64 KiB"
                .into(),
        ),
        MultipartError::Payload(PayloadError::Incomplete(_) | PayloadError::Io(_)) => {
            ApiError::BadRequest(
                "upload interrupted: the connection closed before the whole body arrived".into(),
            )
        }
        MultipartError::Incomplete => ApiError::BadRequest(
            "malformed upload: the body ended before the multipart form was complete (does it use the boundary given in the Content-Type?)"
                .into(),
        ),
        MultipartError::ContentDispositionMissing => ApiError::BadRequest(
            "malformed upload: a part has no valid \"Content-Disposition: form-data\" header (its name and file name must be UTF-8)"
                .into(),
        ),
        MultipartError::ContentDispositionNameMissing => ApiError::BadRequest(
            "malformed upload: a part's Content-Disposition has no name".into(),
        ),
        MultipartError::Nested => ApiError::BadRequest(
            "malformed upload: a part is itself multipart; send the file as one part".into(),
        ),
        other => ApiError::BadRequest(format!("malformed upload: {other}")),
    }
}

/// Reads the multipart body. The `file` field is streamed to disk and refused (413) as soon
/// as it passes `max_bytes`; text fields are capped at `MAX_DESCRIPTION` bytes each and
/// [`MAX_FORM_TEXT`] together; see the module doc for every other answer.
pub async fn receive(
    state: &AppState,
    body: UploadBody,
    max_bytes: u64,
) -> Result<ReceivedUpload, ApiError> {
    let cap = max_bytes.saturating_add(FORM_OVERHEAD);
    let declared = body
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        // Refused before reading a byte of the body.
        return Err(too_large(max_bytes));
    }
    let t = state.timeouts;
    let stop = Rc::new(Cell::new(None));
    let guarded = Guarded {
        inner: body.payload,
        read: 0,
        cap,
        idle: t.upload_idle,
        idle_timer: Box::pin(tokio::time::sleep(t.upload_idle)),
        deadline: Box::pin(tokio::time::sleep(t.upload_total)),
        stop: stop.clone(),
    };
    let mut payload = Multipart::new(&body.headers, guarded);
    let fail = |e: MultipartError| form_error(e, stop.get(), max_bytes, &t);

    let temp = state.store.temp_path();
    let mut upload = ReceivedUpload {
        temp: temp.clone(),
        sha256: String::new(),
        bytes: 0,
        file_name: String::new(),
        description: String::new(),
        fields: Vec::new(),
    };
    let mut got_file = false;
    let mut text_bytes = 0;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(fail)?;
        let name = field.name().unwrap_or_default().to_string();
        let has_file_name = field
            .content_disposition()
            .is_some_and(|cd| cd.get_filename().is_some());
        if name != "file" && has_file_name {
            return Err(ApiError::Refused(format!(
                "the file was sent in the field {}; send the submission in the multipart field \"file\"",
                quoted(&name)
            )));
        }
        if name == "file" {
            if got_file {
                return Err(ApiError::Refused("send exactly one file per upload".into()));
            }
            got_file = true;
            upload.file_name = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
                .unwrap_or_else(|| "upload".into());
            // Hashing and writing ~70 MB is CPU work: it runs on a thread of its own at lower
            // priority (worker::priority), fed through a short channel, so the HTTP threads
            // keep answering other requests. With 50 uploads at once, hashing on the HTTP
            // threads, or on 50 threads of normal priority, stalled every reader for seconds.
            let file = std::fs::File::create(&temp).map_err(ApiError::Storage)?;
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            let writer = crate::worker::priority::spawn(move || write_hashed(file, rx));
            let streamed = async {
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(fail)?;
                    upload.bytes += chunk.len() as u64;
                    if upload.bytes > max_bytes {
                        return Err(too_large(max_bytes));
                    }
                    if tx.send(chunk).await.is_err() {
                        // The writer stopped on a disk error; its result says which.
                        break;
                    }
                    // A client on a fast link keeps the socket full, and actix would go on
                    // reading it in one poll for as long as bytes are there: 50 such
                    // uploads held both HTTP threads for seconds and every other request
                    // on them waited. Yielding after each chunk lets them take turns.
                    tokio::task::yield_now().await;
                }
                Ok(())
            }
            .await;
            drop(tx);
            // Wait for the writer even on refusal, so nothing is written after the temp file
            // is removed.
            let written = writer.await.map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("writing the upload panicked: {e}"))
            })?;
            streamed?;
            upload.sha256 = written.map_err(ApiError::Storage)?;
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(fail)?;
                if value.len() + chunk.len() > MAX_DESCRIPTION {
                    return Err(ApiError::BadRequest(format!(
                        "field {} is longer than {MAX_DESCRIPTION} bytes",
                        quoted(&name)
                    )));
                }
                value.extend_from_slice(&chunk);
            }
            text_bytes += name.len() + value.len();
            if text_bytes > MAX_FORM_TEXT {
                return Err(ApiError::BadRequest(format!(
                    "the form's text fields hold more than {MAX_FORM_TEXT} bytes together"
                )));
            }
            let value = String::from_utf8_lossy(&value).into_owned();
            if name == "description" {
                upload.description = value.trim().to_string();
            } else {
                upload.fields.push((name, value));
            }
        }
    }
    if !got_file {
        return Err(ApiError::Refused(
            "no file: send the submission in the multipart field \"file\"".into(),
        ));
    }
    Ok(upload)
}

/// A field name for a message: quoted, control characters dropped, at most 40 characters.
fn quoted(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{clean:?}")
}

/// Writes the chunks of an upload to `file` and returns their SHA-256 (hex).
fn write_hashed(
    mut file: std::fs::File,
    mut chunks: tokio::sync::mpsc::Receiver<Bytes>,
) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    while let Some(chunk) = chunks.blocking_recv() {
        hasher.update(&chunk);
        file.write_all(&chunk)?;
    }
    file.flush()?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks before reading the body: the phase is open, the team approved, and neither the
/// scored quota nor the refused-upload cap is used up.
pub async fn precheck(state: &AppState, phase: &Phase, team_id: i64) -> Result<(), ApiError> {
    let now = Utc::now();
    if now < phase.starts_at {
        return Err(ApiError::Conflict(format!(
            "phase {} opens at {}",
            phase.id,
            ts(phase.starts_at)
        )));
    }
    if now >= phase.ends_at {
        return Err(ApiError::Conflict(format!(
            "phase {} closed at {}",
            phase.id,
            ts(phase.ends_at)
        )));
    }
    let mut conn = state.pool.acquire().await?;
    let status = db::submissions::quota_status(&mut conn, phase, team_id, now).await?;
    if let Some(why) = status.refused_cap().or_else(|| status.refusal()) {
        return Err(ApiError::TooMany(why));
    }
    Ok(())
}

/// Who an accepted upload belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Uploader {
    /// Team.
    pub team_id: i64,
    /// Member, when known.
    pub user_id: Option<i64>,
    /// Organizer baseline.
    pub baseline: bool,
}

/// Validates a received upload against the phase's newest reference and stores it under
/// the quotas. Returns the new submission's id.
pub async fn submit(
    state: &AppState,
    phase: &Phase,
    uploader: Uploader,
    upload: ReceivedUpload,
) -> Result<SubmissionId, ApiError> {
    if Utc::now() >= phase.ends_at && !uploader.baseline {
        // The deadline is enforced on arrival of the whole file, to the second.
        return Err(ApiError::Conflict(format!(
            "phase {} closed at {}",
            phase.id,
            ts(phase.ends_at)
        )));
    }
    let version = db::references::latest(&state.pool, phase.id.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "phase {} has no reference labels yet; try again later",
                phase.id
            ))
        })?;
    let reference = state
        .references
        .get(state, version.id)
        .await
        .map_err(ApiError::Internal)?;
    let _slot = state
        .validation_slots
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if !uploader.baseline {
        // Uploads that waited for a slot may have been overtaken by the team's own: refuse
        // those over quota now rather than validate them for nothing.
        precheck(state, phase, uploader.team_id).await?;
    }
    let task = reference.task.clone();
    let limits = state.limits.clone();
    let temp = upload.temp.clone();
    // At lower priority, like scoring: leaderboard readers come first.
    let checked = crate::worker::priority::run(move || {
        // A disk fault reading the file back is the server's, never a refused upload.
        let bytes = std::fs::read(&temp).map_err(ApiError::Storage)?;
        Ok::<_, ApiError>(
            scoring::submission::validate_upload(&bytes, &task, Some(&reference), &limits)
                .map_err(|e| e.to_string()),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("validation failed: {e}")))??;
    let predictions = match checked {
        Ok(p) => p,
        Err(why) => {
            if !uploader.baseline {
                db::submissions::record_refused(
                    &state.pool,
                    phase.id.as_str(),
                    uploader.team_id,
                    &why,
                )
                .await?;
            }
            return Err(ApiError::Refused(why));
        }
    };
    let id = SubmissionId::random();
    let new = NewSubmission {
        id: id.clone(),
        phase_id: phase.id.to_string(),
        team_id: uploader.team_id,
        user_id: uploader.user_id,
        description: upload.description.clone(),
        file_name: upload.file_name.clone(),
        file_sha256: upload.sha256.clone(),
        file_bytes: upload.bytes,
        reference_id: version.id,
        is_baseline: uploader.baseline,
        is_demo: false,
        warnings: predictions.warnings,
    };
    // The file goes into the store before the row: a crash in between leaves an unused
    // file (harmless, content-addressed), never a row without its file.
    let store = state.store.clone();
    let (temp, sha) = (upload.temp.clone(), upload.sha256.clone());
    tokio::task::spawn_blocking(move || store.adopt(&temp, &sha))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("storing panicked: {e}")))?
        .map_err(ApiError::Storage)?;
    match db::submissions::accept(&state.pool, phase, &new).await? {
        Accepted::Queued { .. } => {
            state.queue.notify_one();
            Ok(id)
        }
        Accepted::OverQuota(why) => Err(ApiError::TooMany(why)),
    }
}
