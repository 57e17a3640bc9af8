//! Hostile and malformed submissions sent through the real upload endpoint
//! (`POST /api/v1/phases/{phase}/submissions`): every one is answered with its status and
//! exact one-line `{"error": ...}`, leaves no submission row, no stored file and no temp
//! file, and the server keeps serving a valid upload and the leaderboard afterwards.
//!
//! The engine's shared table (`scoring::testcases`, CXR-LT Task 2 against a synthetic
//! 1,100-image reference) is replayed over HTTP; the cases that only exist over HTTP (large
//! zips, oversized bodies, broken multipart, stalled and trickling clients) are added here.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use scoring::testcases::{self, Expect};
use serde_json::Value;

/// Task 2 phases for the synthetic reference of `scoring::testcases`: one with a refused cap
/// high enough for a whole barrage, one with a small cap to show the cap itself.
const HOSTILE: &str = r#"
[competition]
id = "hostile"
title = "Hostile uploads"

[[tasks]]
id = "task2"
name = "Task 2"
builtin = 2

[[tasks.phases]]
id = "barrage"
name = "Development"
quota_per_day = 100
quota_total = 1000
refused_per_day = 10000
bootstrap = 0

[[tasks.phases]]
id = "capped"
name = "Test"
refused_per_day = 2
bootstrap = 0
"#;

/// Tests that measure this process's peak memory take it for writing; the others for
/// reading, so no other test's server allocates during a measurement.
static MEMORY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A server for the hostile config with `change` applied, the reference of the shared table
/// loaded in both phases, and one approved team.
async fn hostile_app(change: impl FnOnce(&mut tailboard::Settings)) -> (TestApp, String) {
    let app = spawn_app_config_changed(HOSTILE, 1, change).await;
    let reference = String::from_utf8(testcases::reference_csv()).unwrap();
    app.load_reference("barrage", &reference).await;
    app.load_reference("capped", &reference).await;
    let team = app.team("Mallory").await;
    (app, team)
}

fn upload_url(app: &TestApp, phase: &str) -> String {
    format!("{}/api/v1/phases/{phase}/submissions", app.address)
}

/// Uploads `bytes` under `file_name` to the barrage phase.
async fn upload_named(app: &TestApp, team: &str, file_name: &str, bytes: Vec<u8>) -> Response {
    let form = Form::new()
        .part("file", Part::bytes(bytes).file_name(file_name.to_string()))
        .text("description", "hostile");
    app.client
        .post(upload_url(app, "barrage"))
        .bearer_auth(team)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Asserts the status and the exact one-line JSON error of an answer.
async fn assert_error(r: Response, status: StatusCode, message: &str, case: &str) {
    assert_eq!(r.status(), status, "{case}");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{case}: {content_type}"
    );
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(!error.contains('\n'), "{case}: not one line: {error}");
    assert_eq!(error, message, "{case}");
}

async fn submission_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM submissions")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

/// The refused uploads the server recorded against the team's cap.
async fn refused_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM refused_uploads")
        .fetch_one(&app.state.pool)
        .await
        .unwrap()
}

/// Nothing of a refused upload is kept: no row, only the reference files, no temp file.
async fn assert_nothing_kept(app: &TestApp, files: usize, case: &str) {
    assert_eq!(
        submission_rows(app).await,
        0,
        "{case}: a submission row was kept"
    );
    assert_eq!(stored_files(app), files, "{case}: a file was stored");
    assert_eq!(temp_files(app), 0, "{case}: a temp file was left");
}

/// After a barrage: a valid upload is accepted and scored, and the leaderboard answers.
async fn assert_still_serving(app: &TestApp, team: &str) {
    let r = upload_named(app, team, "good.csv", testcases::good_csv()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.wait_scored(&id).await["status"], "finished");
    let board = app.get("/api/v1/phases/barrage/leaderboard", None).await;
    assert_eq!(board.status(), StatusCode::OK);
    let board: Value = board.json().await.unwrap();
    assert_eq!(ranked_teams(&board), ["Mallory"]);
}

#[tokio::test]
async fn every_refusal_of_the_engine_table_is_answered_422_over_http() {
    let _shared = MEMORY.read().await;
    // Inputs are made before the server starts: a pause longer than the server's keep-alive
    // (5 s) would race the client's reuse of an idle connection.
    let cases = testcases::cases();
    let (app, team) = hostile_app(|_| {}).await;
    let files = stored_files(&app);
    let mut refused = 0;
    for case in cases.clone() {
        let Expect::Refused(message) = &case.expect else {
            continue;
        };
        let r = upload_named(&app, &team, case.file_name, case.upload).await;
        assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, message, case.name).await;
        assert_nothing_kept(&app, files, case.name).await;
        refused += 1;
    }
    assert!(refused >= 48, "only {refused} refused cases");
    assert_eq!(
        refused_rows(&app).await,
        refused,
        "each counts against the cap"
    );

    // The accepted forms of the table are accepted over HTTP too, and the server still
    // scores and shows them.
    for case in cases {
        if let Expect::Accepted(_) = case.expect {
            let r = upload_named(&app, &team, case.file_name, case.upload).await;
            assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", case.name);
        }
    }
    app.wait_idle().await;
    assert_still_serving(&app, &team).await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Zips that only make sense at scale or over HTTP.

/// A zip of `n` tiny stored entries plus the good CSV.
fn many_entries_zip(n: usize) -> Vec<u8> {
    let names: Vec<String> = (0..n).map(|i| format!("code/f{i}.py")).collect();
    let good = testcases::good_csv();
    let mut entries: Vec<(&str, &[u8])> = vec![("preds.csv", &good)];
    entries.extend(names.iter().map(|n| (n.as_str(), &b"pass\n"[..])));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(name, opts).unwrap();
        std::io::Write::write_all(&mut w, data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Offset of the end-of-central-directory record (the zips made here have no comment).
fn eocd(zip: &[u8]) -> usize {
    let at = zip.len() - 22;
    assert_eq!(&zip[at..at + 4], b"PK\x05\x06");
    at
}

/// The zip with the entry counts of its end record replaced by `n` (the central directory
/// itself is left alone: the record lies).
fn lying_count(mut zip: Vec<u8>, n: u16) -> Vec<u8> {
    let at = eocd(&zip);
    zip[at + 8..at + 10].copy_from_slice(&n.to_le_bytes());
    zip[at + 10..at + 12].copy_from_slice(&n.to_le_bytes());
    zip
}

/// The zip turned into a Zip64 archive whose records claim `n` entries.
fn zip64_claiming(zip: Vec<u8>, n: u64) -> Vec<u8> {
    let at = eocd(&zip);
    let cd_size = u32::from_le_bytes(zip[at + 12..at + 16].try_into().unwrap()) as u64;
    let cd_offset = u32::from_le_bytes(zip[at + 16..at + 20].try_into().unwrap()) as u64;
    let mut out = zip[..at].to_vec();
    let record_at = out.len() as u64;
    out.extend_from_slice(b"PK\x06\x06");
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(b"PK\x06\x07");
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&record_at.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut end = zip[at..].to_vec();
    end[8..12].copy_from_slice(&[0xFF; 4]);
    end[12..20].copy_from_slice(&[0xFF; 8]);
    out.extend_from_slice(&end);
    out
}

/// A zip whose entries are `(name, data)` with a symbolic link `link -> target` added.
fn zip_with_link(entries: &[(&str, &[u8])], link: &str, target: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        std::io::Write::write_all(&mut w, data).unwrap();
    }
    w.add_symlink(link, target, opts).unwrap();
    w.finish().unwrap().into_inner()
}

/// Flips one byte of the stored CSV so its CRC no longer matches.
fn bad_checksum() -> Vec<u8> {
    let good = testcases::good_csv();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("preds.csv", opts).unwrap();
    std::io::Write::write_all(&mut w, &good).unwrap();
    let mut zip = w.finish().unwrap().into_inner();
    let at = memchr_find(&zip, b"dicom_id").unwrap();
    zip[at] = b'D';
    zip
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn hostile_zips_are_answered_422_with_the_engines_message() {
    let _shared = MEMORY.read().await;
    let good = testcases::good_csv();
    let zip = testcases::zip_of;
    let inner = zip(&[("preds.csv", &good)]);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "ten_thousand_entries",
            many_entries_zip(10_000),
            "the zip holds 10001 entries, more than the limit of 1000".into(),
        ),
        (
            "ten_thousand_entries_end_record_says_one",
            lying_count(many_entries_zip(10_000), 1),
            "the zip holds 10001 entries, more than the limit of 1000".into(),
        ),
        (
            "zip64_claims_a_trillion_entries",
            zip64_claiming(zip(&[("preds.csv", &good)]), 1 << 40),
            "the zip holds 1099511627776 entries, more than the limit of 1000".into(),
        ),
        (
            "zip_slip_forward_slashes",
            zip(&[("team/../../x.csv", &good)]),
            "zip entry \"team/../../x.csv\" has \"..\" in its path; such entries are refused"
                .into(),
        ),
        (
            "zip_slip_dot_prefix",
            zip(&[("./../x.csv", &good)]),
            "zip entry \"./../x.csv\" has \"..\" in its path; such entries are refused".into(),
        ),
        (
            "absolute_path_etc",
            zip(&[("/etc/cron.d/x.csv", &good)]),
            "zip entry \"/etc/cron.d/x.csv\" has an absolute path; such entries are refused"
                .into(),
        ),
        (
            "absolute_unc_path",
            zip(&[("\\\\server\\share\\x.csv", &good)]),
            "zip entry \"\\\\\\\\server\\\\share\\\\x.csv\" has an absolute path; such entries are refused"
                .into(),
        ),
        (
            "symlink_next_to_a_good_csv",
            zip_with_link(&[("team/preds.csv", &good)], "team/labels", "/srv/labels.csv"),
            "zip entry \"team/labels\" is a symbolic link; links are refused".into(),
        ),
        (
            "symlinked_folder",
            zip_with_link(&[("preds.csv", &good)], "code", "/"),
            "zip entry \"code\" is a symbolic link; links are refused".into(),
        ),
        (
            "nul_in_entry_name",
            zip(&[("preds.csv\0.txt", &good)]),
            "zip entry \"preds.csv\\0.txt\" has a NUL byte in its name; such entries are refused"
                .into(),
        ),
        (
            "three_nested_zips",
            zip(&[("a.zip", &zip(&[("b.zip", &inner)]))]),
            "the zip holds another zip (\"a.zip\") but no CSV; zip the CSV itself (zips inside zips are not opened)".into(),
        ),
        (
            "zip_named_csv_inside_a_zip",
            zip(&[("preds.csv", &inner)]),
            "row 1 (the header) is not valid UTF-8 text; save the file as UTF-8".into(),
        ),
        ("empty_zip", zip(&[]), "the zip file is empty".into()),
        (
            "truncated_zip",
            zip(&[("preds.csv", &good)])[..4000].to_vec(),
            "the zip file cannot be read (invalid Zip archive: Could not find EOCD); make it again with a standard zip tool".into(),
        ),
        (
            "bad_checksum",
            bad_checksum(),
            "the CSV in the zip cannot be decompressed (Invalid checksum); make the zip again"
                .into(),
        ),
        (
            "end_record_hides_an_entry",
            lying_count(zip(&[("preds.csv", &good), ("labels.csv", &good)]), 1),
            "the zip's directory holds 2 entries but its end record says 1; make it again with a standard zip tool".into(),
        ),
    ];
    let count = cases.len();
    let (app, team) = hostile_app(|_| {}).await;
    let files = stored_files(&app);
    let mut wrong = Vec::new();
    for (name, bytes, message) in cases {
        let r = upload_named(&app, &team, "submission.zip", bytes).await;
        let status = r.status();
        let error = r.json::<Value>().await.unwrap()["error"].clone();
        if status != StatusCode::UNPROCESSABLE_ENTITY || error != message.as_str() {
            wrong.push(format!("{name}: {status} {error}"));
        }
        assert_nothing_kept(&app, files, name).await;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(refused_rows(&app).await, count as i64);
    assert_still_serving(&app, &team).await;
    app.stop().await;
}
