//! Web security shared by every route: response headers, CSRF tokens and login rate limits.
//!
//! - **Headers**: every response (pages, API, exports, errors, 404s) carries a strict
//!   Content-Security-Policy (only this origin's files; no inline script or style; no
//!   framing), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, a
//!   `Referrer-Policy`, `Cross-Origin-Resource-Policy: same-origin` and `Cache-Control:
//!   no-store` (static files excepted), plus `Strict-Transport-Security` when the operator
//!   says the site is served over TLS (`--secure-cookies`); see [`headers`].
//! - **CSRF**: a signed-in browser posts forms with the synchronizer token stored in its
//!   session row; an anonymous browser (login and registration forms) with a double-submit
//!   token: a random value in a signed cookie that the form repeats. A POST without the
//!   matching token is answered 403 before anything changes. The REST API needs no token:
//!   on `/api/` a session cookie counts for reads only (see [`crate::auth`]), so writes
//!   need a bearer token, which a browser never adds by itself.
//! - **Login rate limit**: [`LoginLimiter`] counts failed logins per client address and login
//!   name (and per address alone, against password spraying) in a sliding minute; over the
//!   limit the login form answers 429 without checking the password. The client address is
//!   the TCP peer: behind a reverse proxy every client shares the proxy's address, so the
//!   per-address cap then acts for the whole site (forwarded headers can be forged, so they
//!   are not trusted).
//! - **Registration rate limit**: [`RegistrationLimiter`] allows a number of registrations
//!   per client address in a sliding hour (`Settings::registrations_per_hour`, 20 by
//!   default), counting every attempt: each one costs an argon2 hash and may leave a team for
//!   the organizers to review. Over the limit the form and `POST /api/v1/register` answer 429.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::middleware::DefaultHeaders;
use actix_web::HttpRequest;

use crate::auth::{new_secret, session_id};
use crate::db;
use crate::AppState;

/// The Content-Security-Policy of every response: this origin's files only, no inline code,
/// no plugins, no framing, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The security headers added to every response. `tls` (the operator's `--secure-cookies`:
/// the site is served over HTTPS) adds `Strict-Transport-Security`, so browsers never fall
/// back to plain HTTP, where a session cookie could be read on the way.
pub fn headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        // Answers are for this site's pages and for scripts, never embedded by another
        // site (a leaderboard JSON or CSV pulled in by a foreign page).
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
        // Answers are personal (scores the viewer may see, forms with their token): no
        // shared cache keeps them. Only the static files set their own caching, and a
        // header a handler sets is left alone.
        .add(("Cache-Control", "no-store"));
    if tls {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

/// Name of the form field (and API header) that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// Name of the signed cookie holding an anonymous browser's CSRF token.
pub const ANON_CSRF_COOKIE: &str = "tailboard_csrf";

/// The CSRF token a page embeds in its forms, and a cookie to set when an anonymous browser
/// gets its first token.
pub struct CsrfToken {
    /// The token to put in every form of the page.
    pub token: String,
    /// Set this cookie on the response (first visit of an anonymous browser).
    pub set_cookie: Option<Cookie<'static>>,
}

/// True when the request arrived over TLS (directly or as said by a proxy header).
pub fn is_tls(req: &HttpRequest, state: &AppState) -> bool {
    state.secure_cookies || req.connection_info().scheme() == "https"
}

fn signed_cookie(req: &HttpRequest, key: &Key, name: &str) -> Option<String> {
    let cookie = req.cookie(name)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.signed(key).get(name).map(|c| c.value().to_string())
}

/// The anonymous CSRF cookie for `token`, signed (HttpOnly, SameSite=Lax).
fn anon_cookie(token: &str, key: &Key, secure: bool) -> Cookie<'static> {
    let mut jar = CookieJar::new();
    let cookie = Cookie::build(ANON_CSRF_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .finish();
    jar.signed_mut(key).add(cookie);
    jar.get(ANON_CSRF_COOKIE)
        .expect("just added")
        .clone()
        .into_owned()
}

/// The token the request's forms must carry: the session's token when signed in, else the
/// anonymous cookie's (created when missing).
pub async fn csrf_token(req: &HttpRequest, state: &AppState) -> Result<CsrfToken, sqlx::Error> {
    if let Some(id) = session_id(req, &state.cookie_key) {
        if let Some(token) = db::people::session_csrf(&state.pool, &id).await? {
            return Ok(CsrfToken {
                token,
                set_cookie: None,
            });
        }
    }
    if let Some(token) = signed_cookie(req, &state.cookie_key, ANON_CSRF_COOKIE) {
        return Ok(CsrfToken {
            token,
            set_cookie: None,
        });
    }
    let token = new_secret();
    let cookie = anon_cookie(&token, &state.cookie_key, is_tls(req, state));
    Ok(CsrfToken {
        token,
        set_cookie: Some(cookie),
    })
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// True when `submitted` is the token the request's session (or anonymous cookie) expects.
pub async fn csrf_ok(
    req: &HttpRequest,
    state: &AppState,
    submitted: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let Some(submitted) = submitted.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    if let Some(id) = session_id(req, &state.cookie_key) {
        if let Some(token) = db::people::session_csrf(&state.pool, &id).await? {
            return Ok(same_secret(&token, submitted));
        }
    }
    Ok(signed_cookie(req, &state.cookie_key, ANON_CSRF_COOKIE)
        .is_some_and(|token| same_secret(&token, submitted)))
}

/// Failed logins allowed per client address and login name in [`WINDOW`].
pub const FAILURES_PER_LOGIN: usize = 5;
/// Failed logins allowed per client address (all names together) in [`WINDOW`].
pub const FAILURES_PER_ADDRESS: usize = 30;
/// The sliding window of the login rate limit.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The sliding window of the registration rate limit.
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);

/// Events per key in a sliding window, in memory (a restart forgets them, which only helps
/// real users). Shared by the login and registration limits.
#[derive(Debug)]
struct SlidingCounts<K> {
    window: Duration,
    events: Mutex<HashMap<K, Vec<Instant>>>,
}

impl<K: std::hash::Hash + Eq> SlidingCounts<K> {
    fn new(window: Duration) -> Self {
        SlidingCounts {
            window,
            events: Mutex::new(HashMap::new()),
        }
    }

    /// How long until `key` has fewer than `limit` events in the window, if it has not now.
    fn wait(&self, key: &K, limit: usize) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.events.lock().expect("not poisoned");
        let list = map.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < self.window);
        (list.len() >= limit).then(|| self.window - now.duration_since(list[list.len() - limit]))
    }

    /// Records an event of `key`, unless `limit` is given and already reached (then the wait,
    /// and nothing is recorded). One lock for both, so parallel requests cannot pass together.
    fn record(&self, key: K, limit: Option<usize>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.events.lock().expect("not poisoned");
        // Bound memory under a flood of distinct keys: forget windows that have passed.
        if map.len() > 100_000 {
            map.retain(|_, list| {
                list.last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let list = map.entry(key).or_default();
        list.retain(|t| now.duration_since(*t) < self.window);
        if let Some(limit) = limit.filter(|&l| list.len() >= l) {
            return Err(self.window - now.duration_since(list[list.len() - limit]));
        }
        list.push(now);
        Ok(())
    }

    fn forget(&self, key: &K) {
        self.events.lock().expect("not poisoned").remove(key);
    }
}

/// Counts registration attempts per client address.
#[derive(Debug)]
pub struct RegistrationLimiter {
    limit: usize,
    attempts: SlidingCounts<IpAddr>,
}

impl RegistrationLimiter {
    /// At most `limit` attempts per address in [`REGISTRATION_WINDOW`].
    pub fn new(limit: usize) -> RegistrationLimiter {
        RegistrationLimiter {
            limit,
            attempts: SlidingCounts::new(REGISTRATION_WINDOW),
        }
    }

    /// Counts an attempt from `ip`, or returns how long it must wait when over the limit
    /// (a refused attempt is not counted).
    pub fn attempt(&self, ip: IpAddr) -> Result<(), Duration> {
        self.attempts.record(ip, Some(self.limit))
    }
}

/// The one-line answer to a registration over the limit.
pub fn registration_wait_message(wait: Duration) -> String {
    format!(
        "too many registrations from your address; try again in {} min",
        wait.as_secs() / 60 + 1
    )
}

/// What a rate-limited password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password is right: this user.
    Valid(i64),
    /// Wrong login or password (counted).
    Wrong,
    /// Over the limit: the password was not checked; retry after this long.
    Blocked(Duration),
}

/// The client address used for rate limits (the TCP peer; see the module doc).
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into())
}

/// Counts failed logins per client address and login, and per address alone.
#[derive(Debug)]
pub struct LoginLimiter {
    failures: SlidingCounts<(IpAddr, String)>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            failures: SlidingCounts::new(WINDOW),
        }
    }
}

impl LoginLimiter {
    /// When the client may try this login again, if it is over a limit now.
    pub fn blocked(&self, ip: IpAddr, login: &str) -> Option<Duration> {
        let per_login = self
            .failures
            .wait(&(ip, login.to_lowercase()), FAILURES_PER_LOGIN);
        let per_address = self
            .failures
            .wait(&(ip, String::new()), FAILURES_PER_ADDRESS);
        per_login.max(per_address)
    }

    /// Records a failed login.
    pub fn failed(&self, ip: IpAddr, login: &str) {
        for key in [(ip, login.to_lowercase()), (ip, String::new())] {
            let _ = self.failures.record(key, None);
        }
    }

    /// Checks a password (argon2, via `db::people::check_login`) unless the client is over
    /// the limit; counts a failure, forgets the login's failures on success. Used by the
    /// sign-in form and by `POST /api/v1/tokens`, so neither is a way around the other.
    pub async fn check(
        &self,
        pool: &sqlx::SqlitePool,
        ip: IpAddr,
        login: &str,
        password: &str,
    ) -> Result<LoginOutcome, sqlx::Error> {
        if let Some(wait) = self.blocked(ip, login) {
            return Ok(LoginOutcome::Blocked(wait));
        }
        Ok(
            match db::people::check_login(pool, login, password).await? {
                Some(user_id) => {
                    self.succeeded(ip, login);
                    LoginOutcome::Valid(user_id)
                }
                None => {
                    self.failed(ip, login);
                    LoginOutcome::Wrong
                }
            },
        )
    }

    /// Forgets the failures of a login after a success.
    pub fn succeeded(&self, ip: IpAddr, login: &str) {
        self.failures.forget(&(ip, login.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_the_allowed_failures_only_for_that_login() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FAILURES_PER_LOGIN {
            assert!(limiter.blocked(ip, "alice").is_none());
            limiter.failed(ip, "alice");
        }
        let wait = limiter.blocked(ip, "ALICE").expect("blocked");
        assert!(wait <= WINDOW);
        assert!(limiter.blocked(ip, "bob").is_none());
        assert!(limiter
            .blocked("192.0.2.2".parse().unwrap(), "alice")
            .is_none());
        limiter.succeeded(ip, "alice");
        assert!(limiter.blocked(ip, "alice").is_none());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
