//! Credentials: argon2 password hashes, random API tokens and session ids (only their
//! SHA-256 is stored: they carry 256 random bits, so a fast hash is enough), and the
//! [`Viewer`] extractor that every route uses.
//!
//! A request is identified by `Authorization: Bearer TOKEN` first, then by the signed
//! session cookie (on `/api/` only for GET and HEAD: API writes need a token, page forms
//! carry a CSRF token instead). A request that presents a token that is not valid is refused with 401
//! rather than served as anonymous, so a typo in a script never looks like "no results".

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::Key;
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use crate::db;
use crate::domain::{Password, Viewer};
use crate::routes::ApiError;
use crate::store::sha256_hex;
use crate::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tailboard_session";

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &Password) -> String {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .expect("argon2 with default parameters does not fail")
        .to_string()
}

/// True when `password` matches the stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fresh random secret (API token, session id, CSRF token): 256 bits, URL-safe hex.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The stored form of a secret.
pub fn secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Loads the cookie signing key from the data folder, creating it on first start, so that
/// sessions survive a restart.
pub fn load_or_create_key(path: &std::path::Path) -> std::io::Result<Key> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 64 => Ok(Key::from(&bytes)),
        _ => {
            let mut bytes = [0u8; 64];
            let (a, b): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
            bytes[..32].copy_from_slice(&a);
            bytes[32..].copy_from_slice(&b);
            write_private(path, &bytes)?;
            Ok(Key::from(&bytes))
        }
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The id inside the session cookie, when the cookie is present and its signature holds.
pub fn session_id(req: &HttpRequest, key: &Key) -> Option<String> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let mut jar = actix_web::cookie::CookieJar::new();
    jar.add_original(cookie);
    jar.signed(key)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// The signed session cookie for `session_id` (HttpOnly, SameSite=Lax, Secure when asked).
pub fn session_cookie(
    session_id: &str,
    key: &Key,
    secure: bool,
) -> actix_web::cookie::Cookie<'static> {
    let mut jar = actix_web::cookie::CookieJar::new();
    let cookie = actix_web::cookie::Cookie::build(SESSION_COOKIE, session_id.to_string())
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(secure)
        .finish();
    jar.signed_mut(key).add(cookie);
    jar.get(SESSION_COOKIE)
        .expect("just added")
        .clone()
        .into_owned()
}

impl FromRequest for Viewer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Viewer, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered")
            .clone();
        let bearer = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("").to_string());
        // A browser session authenticates API writes only through the pages' own
        // CSRF-checked forms: on `/api/` a cookie counts for reads (GET/HEAD) alone, so a
        // foreign site cannot make a signed-in browser upload or change anything.
        let cookie_allowed = !req.path().starts_with("/api/") || req.method().is_safe();
        let session = session_id(req, &state.cookie_key).filter(|_| cookie_allowed);
        Box::pin(async move {
            if let Some(header) = bearer {
                let token = header
                    .strip_prefix("Bearer ")
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or(ApiError::Unauthorized)?;
                return db::people::viewer_for_token(&state.pool, token)
                    .await?
                    .ok_or(ApiError::Unauthorized);
            }
            if let Some(id) = session {
                if let Some(viewer) = db::people::viewer_for_session(&state.pool, &id).await? {
                    return Ok(viewer);
                }
            }
            Ok(Viewer::Anonymous)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let phc = hash_password(&Password::parse("correct horse battery").unwrap());
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse battery!", &phc));
        assert!(!verify_password("x", "not a hash"));
    }
}
