//! Receiving an upload (shared by the REST API and the web form): stream the multipart
//! `file` field to a temp file while hashing it and enforcing the size limit, validate it
//! with the engine on a blocking thread, then check the quotas and store it in one
//! transaction. A refused or over-quota upload leaves no row and no file behind.

use std::io::Write;
use std::path::PathBuf;

use actix_multipart::Multipart;
use chrono::Utc;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::db;
use crate::db::submissions::{Accepted, NewSubmission};
use crate::domain::{ts, Phase, SubmissionId};
use crate::AppState;

/// Longest description kept, in bytes.
const MAX_DESCRIPTION: usize = 2000;

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

/// Reads the multipart body. The `file` field is streamed to disk and refused (422) as soon
/// as it passes `max_bytes`; text fields are capped at a few kilobytes.
pub async fn receive(
    state: &AppState,
    mut payload: Multipart,
    max_bytes: u64,
) -> Result<ReceivedUpload, ApiError> {
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
    while let Some(field) = payload.next().await {
        let mut field =
            field.map_err(|e| ApiError::BadRequest(format!("malformed upload: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
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
            let mut file = std::fs::File::create(&temp)?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
                upload.bytes += chunk.len() as u64;
                if upload.bytes > max_bytes {
                    return Err(ApiError::Refused(format!(
                        "upload is larger than the limit of {} bytes",
                        max_bytes
                    )));
                }
                hasher.update(&chunk);
                file.write_all(&chunk)?;
            }
            file.flush()?;
            upload.sha256 = hex::encode(hasher.finalize());
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::BadRequest(format!("upload interrupted: {e}")))?;
                if value.len() + chunk.len() > MAX_DESCRIPTION {
                    return Err(ApiError::BadRequest(format!(
                        "field \"{name}\" is longer than {MAX_DESCRIPTION} bytes"
                    )));
                }
                value.extend_from_slice(&chunk);
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
    let checked = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&temp).map_err(|e| e.to_string())?;
        scoring::submission::validate_upload(&bytes, &task, Some(&reference), &limits)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("validation panicked: {e}")))?;
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
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("storing panicked: {e}")))??;
    match db::submissions::accept(&state.pool, phase, &new).await? {
        Accepted::Queued { .. } => {
            state.queue.notify_one();
            Ok(id)
        }
        Accepted::OverQuota(why) => Err(ApiError::TooMany(why)),
    }
}
