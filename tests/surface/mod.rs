//! The server's attack surface as tests see it: every route it registers (read from the
//! route attributes in `src/routes` at test time, so a new route without a table row fails
//! the access test), a fingerprint of everything stored (database rows and stored files, to
//! prove a refused request changed nothing), and the checks every response must pass
//! (security headers, cookie attributes, no secret in the body).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::header::HeaderMap;
use sqlx::{Row, SqlitePool};

/// One registered route: method and path pattern as written in the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, ...
    pub method: String,
    /// e.g. `/api/v1/submissions/{id}`.
    pub pattern: String,
}

/// The text between the first pair of double quotes after `from` in `line`.
fn quoted(line: &str) -> Option<&str> {
    let start = line.find('"')? + 1;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

/// Every route registered by `src/routes/*.rs`: the method attributes (`#[get("...")]`,
/// `#[post("...")]`, ...), prefixed with the file's `web::scope("...")` when it has one.
/// Other ways of registering a route (`.route(`, `web::resource(`, static file services)
/// are refused here, because routes registered that way would escape the access table.
pub fn registered_routes() -> Vec<Route> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut routes = BTreeSet::new();
    let mut sources = Vec::new();
    for dir in ["src", "src/routes"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                sources.push(path);
            }
        }
    }
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        for forbidden in [".route(", "web::resource(", "Files::new", "#[route("] {
            assert!(
                !text.contains(forbidden),
                "{}: routes registered with `{forbidden}` are invisible to tests/access.rs; \
                 register them with a method attribute (#[get(\"...\")]) and add table rows",
                path.display()
            );
        }
        if !path.starts_with(root.join("src/routes")) {
            continue;
        }
        let scopes: Vec<&str> = text
            .match_indices("web::scope(\"")
            .map(|(i, _)| quoted(&text[i..]).unwrap())
            .collect();
        assert!(
            scopes.len() <= 1,
            "{}: more than one scope; teach tests/surface which routes each holds",
            path.display()
        );
        let prefix = scopes.first().copied().unwrap_or("");
        for line in text.lines().map(str::trim) {
            for method in ["get", "post", "put", "delete", "patch", "head"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let pattern = &rest[..rest.find('"').unwrap()];
                    // Paths of an attribute already under /api/ are absolute (the export
                    // handler serves both trees from the root).
                    let full = if pattern.starts_with(prefix) && !prefix.is_empty() {
                        pattern.to_string()
                    } else {
                        format!("{prefix}{pattern}")
                    };
                    routes.insert(Route {
                        method: method.to_uppercase(),
                        pattern: full,
                    });
                }
            }
        }
    }
    routes.into_iter().collect()
}

/// Everything the server has stored: every row of every table (in rowid order) and the
/// names of the stored and temporary files. Equal fingerprints = nothing changed.
pub async fn fingerprint(pool: &SqlitePool, data_dir: &Path) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_sqlx%'
         ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = String::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {row} AS line FROM \"{table}\" ORDER BY rowid"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        out.push_str(&format!("## {table}\n"));
        for r in rows {
            out.push_str(&r.get::<String, _>("line"));
            out.push('\n');
        }
    }
    for dir in ["files", "tmp"] {
        out.push_str(&format!("## {dir}/\n"));
        let mut names = Vec::new();
        collect_files(&data_dir.join(dir), &mut names);
        names.sort();
        for n in names {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

fn collect_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path.display().to_string());
        }
    }
}

/// The first line that differs between two fingerprints (for a readable failure).
pub fn first_difference(before: &str, after: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            return format!("line {i}: before {x:?}, after {y:?}");
        }
    }
    "no difference".into()
}

/// The Content-Security-Policy every response must carry.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Asserts the security headers of one response and the attributes of every cookie it
/// sets (HttpOnly and SameSite always; Secure exactly when `secure`).
pub fn check_headers(what: &str, headers: &HeaderMap, secure: bool) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name} on {what}"
        );
    }
    // Nothing personal is kept by a shared cache or a browser's back button: every answer
    // but the static files says no-store.
    let cache = headers
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    if what.contains("/static/") {
        assert_eq!(cache, "public, max-age=300", "cache-control on {what}");
    } else {
        assert_eq!(cache, "no-store", "cache-control on {what}");
    }
    // Other sites can neither read answers (no CORS grant) nor embed them.
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "CORS grant on {what}"
    );
    assert_eq!(
        headers
            .get("cross-origin-resource-policy")
            .map(|v| v.to_str().unwrap()),
        Some("same-origin"),
        "cross-origin-resource-policy on {what}"
    );
    for cookie in headers.get_all("set-cookie") {
        let cookie = cookie.to_str().unwrap();
        let attrs: Vec<String> = cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        assert!(
            attrs.iter().any(|a| a == "httponly"),
            "cookie without HttpOnly on {what}: {cookie}"
        );
        assert!(
            attrs
                .iter()
                .any(|a| a == "samesite=lax" || a == "samesite=strict"),
            "cookie without SameSite=Lax/Strict on {what}: {cookie}"
        );
        assert_eq!(
            attrs.iter().any(|a| a == "secure"),
            secure,
            "Secure attribute on {what} (secure cookies {secure}): {cookie}"
        );
    }
}

/// Secrets that must never appear in a response to the viewers they are kept from.
#[derive(Debug, Default, Clone)]
pub struct Forbidden {
    items: Vec<(String, String)>,
}

impl Forbidden {
    /// Adds `value` (described by `what`); empty values are ignored.
    pub fn add(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.items.push((what.into(), value));
        }
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: &Forbidden) {
        self.items.extend(other.items.iter().cloned());
    }

    /// Panics naming the secret when `body` contains one.
    pub fn assert_absent(&self, what: &str, body: &str) {
        self.assert_absent_except(what, body, "");
    }

    /// Like [`Forbidden::assert_absent`], except for values the request itself carried
    /// (`sent`, e.g. an id in its path): echoing those back reveals nothing.
    pub fn assert_absent_except(&self, what: &str, body: &str, sent: &str) {
        for (name, value) in self
            .items
            .iter()
            .filter(|(_, v)| !sent.contains(v.as_str()))
        {
            assert!(
                !body.contains(value.as_str()),
                "{what} shows {name} ({value:?}):\n{}",
                excerpt(body, value)
            );
        }
    }
}

fn excerpt(body: &str, value: &str) -> String {
    let i = body.find(value).unwrap_or(0);
    let mut start = i.saturating_sub(200);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (i + value.len() + 200).min(body.len());
    while !body.is_char_boundary(end) {
        end += 1;
    }
    body[start..end].to_string()
}
