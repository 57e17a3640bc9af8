//! Load generator for `scripts/load.sh`: leaderboard readers plus a burst of Task-1-size
//! uploads against a running `tailboard serve`, then a ready-to-paste summary.
//!
//! What it does, in order:
//! 1. builds one distinct submission per team from a base Task-1 file (team k gets a share
//!    k / (2 * teams) of its rows with the predictions of the next row, so every file has its
//!    own SHA-256 and its own scores, and the ids stay those of the reference);
//! 2. starts `--readers` readers that request, in turn, the leaderboard page, the API JSON
//!    and the API CSV, each pausing a random 0..2 x `--think-ms` between requests;
//! 3. after `--warmup` seconds, every team uploads its file at the same moment;
//! 4. polls every accepted submission until it has point scores and intervals (or fails);
//! 5. keeps reading `--cooldown` seconds more, stops, and prints the figures.
//!
//! Bounded: at most `--max-requests` leaderboard requests and `--time-cap` seconds in all;
//! it refuses any server that is not on the loopback interface. A request counts as an
//! error when it gets a non-2xx status or a transport error (counted apart).
//! Exit status 0 when there was no error and every upload was scored, 1 otherwise.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::multipart::{Form, Part};

#[derive(Parser, Debug, Clone)]
#[command(about = "Leaderboard readers + a burst of uploads against a loopback tailboard")]
struct Args {
    /// Server base URL; must be on 127.0.0.1, [::1] or localhost.
    #[arg(long)]
    base: String,
    /// Phase to read and upload to.
    #[arg(long, default_value = "task1-dev")]
    phase: String,
    /// File with one team API token per line (one upload per team).
    #[arg(long)]
    tokens: PathBuf,
    /// Base submission CSV (ids of the phase's reference).
    #[arg(long)]
    submission: PathBuf,
    /// Concurrent leaderboard readers.
    #[arg(long, default_value_t = 200)]
    readers: usize,
    /// Mean pause of a reader between two requests, in ms (0 = back to back).
    #[arg(long, default_value_t = 100)]
    think_ms: u64,
    /// Seconds of reading before the uploads start.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds of reading after everything is scored.
    #[arg(long, default_value_t = 5)]
    cooldown: u64,
    /// Stop after this many leaderboard requests in all.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Stop after this many seconds in all, scored or not.
    #[arg(long, default_value_t = 900)]
    time_cap: u64,
    /// Bootstrap replicates of the phase (0: do not wait for intervals).
    #[arg(long, default_value_t = 1000)]
    bootstrap: u32,
    /// Also write every leaderboard request (start and latency in ms, kind, status) to
    /// this CSV, to look at the slow ones.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Server process id, for its peak memory (VmHWM in /proc/PID/status).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// What a leaderboard request got.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    /// A non-2xx status.
    Status(u16),
    /// Connection refused/reset, timeout...
    Transport,
}

/// One leaderboard request.
#[derive(Clone, Copy)]
struct Sample {
    /// Start, since the run began.
    start: Duration,
    latency: Duration,
    kind: usize,
    outcome: Outcome,
}

/// One upload and its scoring.
#[derive(Default, Clone)]
struct Upload {
    status: Option<u16>,
    error: Option<String>,
    id: Option<String>,
    start: Duration,
    answered: Duration,
    /// Point scores in (status `finished`), since the run began.
    scored: Option<Duration>,
    /// Bootstrap intervals in.
    intervals: Option<Duration>,
    failed: Option<String>,
}

const KINDS: [&str; 3] = ["page", "json", "csv"];

fn reader_paths(phase: &str) -> [String; 3] {
    [
        format!("/phases/{phase}"),
        format!("/api/v1/phases/{phase}/leaderboard"),
        format!("/api/v1/phases/{phase}/leaderboard.csv"),
    ]
}

/// Refuses anything but the loopback interface: this tool must never load a real host.
fn check_loopback(base: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(base).map_err(|e| format!("--base {base}: {e}"))?;
    match url.host_str() {
        Some("127.0.0.1") | Some("[::1]") | Some("localhost") => Ok(()),
        other => Err(format!(
            "--base must be a loopback address, not {}",
            other.unwrap_or("(none)")
        )),
    }
}

/// Tiny deterministic generator (xorshift64*), enough for pauses and row picks.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Team `k`'s file: the base CSV where a share k / (2 * teams) of the rows carry the
/// predictions of the next row. Ids and their order stay those of the base file.
fn team_file(base: &[u8], k: usize, teams: usize) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = base.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let (header, rows) = lines.split_first().expect("a header");
    // (id, predictions) of each row; the predictions keep their leading comma.
    let split: Vec<(&[u8], &[u8])> = rows
        .iter()
        .map(|r| {
            let comma = r.iter().position(|&b| b == b',').expect("a comma");
            r.split_at(comma)
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (k as u64 + 1));
    let threshold = (u64::MAX / (2 * teams as u64)) * k as u64;
    let mut out = Vec::with_capacity(base.len());
    out.extend_from_slice(header);
    out.push(b'\n');
    for (i, (id, preds)) in split.iter().enumerate() {
        out.extend_from_slice(id);
        if rng.next() < threshold {
            out.extend_from_slice(split[(i + 1) % split.len()].1);
        } else {
            out.extend_from_slice(preds);
        }
        out.push(b'\n');
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// Peak resident memory of a process in MB (VmHWM), when readable.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) a process has used so far, when readable.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

struct Shared {
    t0: Instant,
    stop: AtomicBool,
    sent: AtomicU64,
    max_requests: u64,
}

async fn reader(
    n: usize,
    client: reqwest::Client,
    urls: Arc<[String; 3]>,
    think_ms: u64,
    shared: Arc<Shared>,
) -> Vec<Sample> {
    let mut rng = Rng(0x1234_5678 + n as u64 * 7919);
    let mut samples = Vec::new();
    // Spread the first requests over one think time so the readers do not start in step.
    if think_ms > 0 {
        tokio::time::sleep(Duration::from_millis(rng.next() % think_ms)).await;
    }
    let mut kind = n % 3;
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.sent.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
            break;
        }
        let begun = Instant::now();
        let outcome = match client.get(&urls[kind]).send().await {
            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Transport,
            },
            Ok(resp) => Outcome::Status(resp.status().as_u16()),
            Err(_) => Outcome::Transport,
        };
        samples.push(Sample {
            start: begun - shared.t0,
            latency: begun.elapsed(),
            kind,
            outcome,
        });
        kind = (kind + 1) % 3;
        if think_ms > 0 {
            let pause = rng.next() % (2 * think_ms + 1);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
    samples
}

async fn upload(
    client: reqwest::Client,
    base: String,
    phase: String,
    token: String,
    k: usize,
    file: Vec<u8>,
    t0: Instant,
) -> Upload {
    let mut up = Upload {
        start: t0.elapsed(),
        ..Default::default()
    };
    let part = Part::bytes(file)
        .file_name(format!("team-{k:02}.csv"))
        .mime_str("text/csv")
        .expect("valid mime");
    let form = Form::new()
        .part("file", part)
        .text("description", format!("load test team {k}"));
    let resp = client
        .post(format!("{base}/api/v1/phases/{phase}/submissions"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await;
    up.answered = t0.elapsed();
    match resp {
        Ok(resp) => {
            up.status = Some(resp.status().as_u16());
            let body = resp.text().await.unwrap_or_default();
            up.answered = t0.elapsed();
            match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) if up.status == Some(202) => {
                    up.id = v["id"].as_str().map(str::to_string);
                }
                _ => up.error = Some(body.chars().take(200).collect()),
            }
        }
        Err(e) => up.error = Some(format!("transport: {e}")),
    }
    up
}

/// Polls one accepted submission until it has intervals, fails, or the deadline passes.
async fn follow(
    client: reqwest::Client,
    base: String,
    token: String,
    mut up: Upload,
    t0: Instant,
    deadline: Instant,
    intervals: bool,
) -> Upload {
    let Some(id) = up.id.clone() else {
        return up;
    };
    while Instant::now() < deadline {
        let got = client
            .get(format!("{base}/api/v1/submissions/{id}"))
            .bearer_auth(&token)
            .send()
            .await;
        if let Ok(resp) = got {
            if let Ok(v) = resp.json::<serde_json::Value>().await {
                match v["status"].as_str() {
                    Some("finished") => {
                        up.scored.get_or_insert(t0.elapsed());
                        if !intervals || !v["scores"]["mAP_ci_low"].is_null() {
                            up.intervals = Some(t0.elapsed());
                            return up;
                        }
                    }
                    Some("failed") => {
                        up.failed = Some(v["error"].as_str().unwrap_or("failed").to_string());
                        return up;
                    }
                    _ => {}
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    up
}

/// Latency line of one window: count, p50, p95, p99, max (ms).
fn window_line(name: &str, samples: &[&Sample]) -> String {
    let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    lat.sort();
    format!(
        "| {name} | {} | {} | {} | {} | {} |",
        lat.len(),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 95.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default()),
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = check_loopback(&args.base) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let base_url = args.base.trim_end_matches('/').to_string();
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)
        .expect("tokens file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let teams = tokens.len();
    let base = std::fs::read(&args.submission).expect("submission file");
    let files: Vec<Vec<u8>> = (0..teams).map(|k| team_file(&base, k, teams)).collect();
    let total_bytes: usize = files.iter().map(Vec::len).sum();
    eprintln!(
        "{teams} team files ready ({:.0} MB in all); {} readers, think {} ms",
        total_bytes as f64 / 1e6,
        args.readers,
        args.think_ms
    );

    // Idle connections are dropped before the server's 5 s keep-alive closes them, as a
    // browser does; otherwise a request may go out on a connection the server is closing
    // at that instant and fail as a transport error that no server change could avoid.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_idle_timeout(Duration::from_secs(4))
        .pool_max_idle_per_host(args.readers + teams)
        .build()
        .expect("client");
    // Uploads get their own client, without the readers' short timeout.
    // The uploads run on threads of their own at lower priority, so pushing 3.5 GB out
    // cannot delay the readers inside this process and be mistaken for server latency (in
    // real life they are other machines).
    let upload_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("uploads")
        .on_thread_start(tailboard::worker::priority::lower_current_thread)
        .enable_all()
        .build()
        .expect("upload runtime");
    let upload_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_idle_timeout(Duration::from_secs(4))
        .build()
        .expect("client");

    let t0 = Instant::now();
    let cap = t0 + Duration::from_secs(args.time_cap);
    let shared = Arc::new(Shared {
        t0,
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        max_requests: args.max_requests,
    });
    let urls = Arc::new(reader_paths(&args.phase).map(|p| format!("{base_url}{p}")));
    let readers: Vec<_> = (0..args.readers)
        .map(|n| {
            tokio::spawn(reader(
                n,
                client.clone(),
                urls.clone(),
                args.think_ms,
                shared.clone(),
            ))
        })
        .collect();
    let cpu_start = args.server_pid.and_then(cpu_secs);

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    eprintln!("uploading {teams} files at once");
    let burst_start = t0.elapsed();
    let uploads: Vec<_> = tokens
        .iter()
        .cloned()
        .zip(files)
        .enumerate()
        .map(|(k, (token, file))| {
            upload_runtime.spawn(upload(
                upload_client.clone(),
                base_url.clone(),
                args.phase.clone(),
                token,
                k,
                file,
                t0,
            ))
        })
        .collect();
    let mut done = Vec::new();
    for u in uploads {
        done.push(u.await.expect("upload task"));
    }
    let burst_end = t0.elapsed();
    eprintln!(
        "uploads answered after {} s; following the scoring",
        secs(burst_end - burst_start)
    );
    let follows: Vec<_> = tokens
        .iter()
        .cloned()
        .zip(done)
        .map(|(token, up)| {
            tokio::spawn(follow(
                client.clone(),
                base_url.clone(),
                token,
                up,
                t0,
                cap,
                args.bootstrap > 0,
            ))
        })
        .collect();
    let mut results = Vec::new();
    for f in follows {
        results.push(f.await.expect("follow task"));
    }
    let all_in = t0.elapsed();
    eprintln!(
        "all followed after {} s; reading {} s more",
        secs(all_in - burst_start),
        args.cooldown
    );
    let cooldown_end = (Instant::now() + Duration::from_secs(args.cooldown)).min(cap);
    tokio::time::sleep_until(cooldown_end.into()).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut samples: Vec<Sample> = Vec::new();
    for r in readers {
        samples.extend(r.await.expect("reader task"));
    }
    let wall = t0.elapsed();
    upload_runtime.shutdown_background();
    let cpu_used = args
        .server_pid
        .and_then(cpu_secs)
        .zip(cpu_start)
        .map(|(b, a)| b - a);

    // The final board must list every team exactly once.
    let board_rows = client
        .get(&urls[1])
        .send()
        .await
        .ok()
        .map(|r| r.json::<serde_json::Value>());
    let board_rows = match board_rows {
        Some(fut) => fut
            .await
            .ok()
            .and_then(|v| v["rows"].as_array().map(Vec::len)),
        None => None,
    };

    if let Some(path) = &args.samples {
        let mut csv = String::from("start_ms,latency_ms,kind,status\n");
        for s in &samples {
            let status = match s.outcome {
                Outcome::Ok => "ok".to_string(),
                Outcome::Status(c) => c.to_string(),
                Outcome::Transport => "transport".to_string(),
            };
            csv.push_str(&format!(
                "{:.3},{:.3},{},{status}\n",
                s.start.as_secs_f64() * 1000.0,
                s.latency.as_secs_f64() * 1000.0,
                KINDS[s.kind]
            ));
        }
        std::fs::write(path, csv).expect("samples file");
    }
    report(
        &args,
        &samples,
        &results,
        burst_start,
        burst_end,
        all_in,
        wall,
        cpu_used,
        board_rows,
        teams,
    );
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    samples: &[Sample],
    uploads: &[Upload],
    burst_start: Duration,
    burst_end: Duration,
    all_in: Duration,
    wall: Duration,
    cpu_used: Option<f64>,
    board_rows: Option<usize>,
    teams: usize,
) {
    let status_errors = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Status(_)))
        .count();
    let transport_errors = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Transport)
        .count();
    let mut statuses: Vec<u16> = samples
        .iter()
        .filter_map(|s| match s.outcome {
            Outcome::Status(c) => Some(c),
            _ => None,
        })
        .collect();
    statuses.sort();
    statuses.dedup();
    let accepted = uploads.iter().filter(|u| u.status == Some(202)).count();
    let scored = uploads.iter().filter(|u| u.scored.is_some()).count();
    let with_ci = uploads.iter().filter(|u| u.intervals.is_some()).count();
    let failed: Vec<&Upload> = uploads.iter().filter(|u| u.failed.is_some()).collect();
    let mut upload_walls: Vec<Duration> = uploads.iter().map(|u| u.answered - u.start).collect();
    upload_walls.sort();
    let last_scored = uploads.iter().filter_map(|u| u.scored).max();
    let last_ci = uploads.iter().filter_map(|u| u.intervals).max();

    let before: Vec<&Sample> = samples.iter().filter(|s| s.start < burst_start).collect();
    let burst: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= burst_start && s.start < burst_end)
        .collect();
    let scoring: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start >= burst_end && s.start < all_in)
        .collect();
    let after: Vec<&Sample> = samples.iter().filter(|s| s.start >= all_in).collect();
    let mut burst_lat: Vec<Duration> = burst.iter().map(|s| s.latency).collect();
    burst_lat.sort();
    let burst_p99 = percentile(&burst_lat, 99.0);

    let errors = status_errors + transport_errors;
    let finished = if args.bootstrap > 0 { with_ci } else { scored };
    let upload_problems = teams - accepted + (teams - finished.min(teams));
    let ok = errors == 0 && upload_problems == 0 && failed.is_empty();

    println!("### Server under load: summary (paste into BENCHMARKS.md)");
    println!();
    println!(
        "Run: {} readers (leaderboard page, API JSON, API CSV in turn; mean pause {} ms), \
         {teams} teams uploading one Task-1-size file each at the same moment, after {} s \
         of reading; wall {} s.",
        args.readers,
        args.think_ms,
        args.warmup,
        secs(wall)
    );
    println!();
    println!(
        "- Leaderboard requests: {} in all, errors: {status_errors} non-2xx{}, \
         {transport_errors} transport",
        samples.len(),
        if statuses.is_empty() {
            String::new()
        } else {
            format!(" (statuses {statuses:?})")
        }
    );
    for (k, name) in KINDS.iter().enumerate() {
        let n = samples.iter().filter(|s| s.kind == k).count();
        print!("{}{name} {n}", if k == 0 { "  - by kind: " } else { ", " });
    }
    println!();
    println!(
        "- Uploads: {accepted}/{teams} accepted (202), {scored}/{teams} point-scored, \
         {with_ci}/{teams} with {}-replicate intervals, {} failed",
        args.bootstrap,
        failed.len()
    );
    for u in uploads
        .iter()
        .filter(|u| u.status != Some(202) || u.failed.is_some())
    {
        println!(
            "  - problem: status {:?} {} {}",
            u.status,
            u.error.as_deref().unwrap_or(""),
            u.failed.as_deref().unwrap_or("")
        );
    }
    println!(
        "- Upload wall time (send to answer): min {} s, p50 {} s, max {} s; burst (first \
         send to last answer) {} s",
        secs(upload_walls.first().copied().unwrap_or_default()),
        secs(percentile(&upload_walls, 50.0)),
        secs(upload_walls.last().copied().unwrap_or_default()),
        secs(burst_end - burst_start)
    );
    println!(
        "- From the first upload to all point-scored: {} s; to all intervals: {} s",
        last_scored.map_or("-".into(), |t| secs(t - burst_start)),
        last_ci.map_or("-".into(), |t| secs(t - burst_start)),
    );
    if let Some(rows) = board_rows {
        println!("- Final leaderboard rows: {rows} (teams: {teams})");
    }
    if let Some(pid) = args.server_pid {
        println!(
            "- Server peak RSS (VmHWM): {} MB; server CPU during the run: {} s",
            peak_rss_mb(pid).map_or("-".into(), |m| format!("{m:.0}")),
            cpu_used.map_or("-".into(), |c| format!("{c:.1}"))
        );
    }
    println!();
    println!("| Leaderboard latency (ms), requests started... | n | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    println!("{}", window_line("before the uploads", &before));
    println!("{}", window_line("**during the upload burst**", &burst));
    println!("{}", window_line("after the 202s, while scoring", &scoring));
    println!("{}", window_line("after all scored", &after));
    println!();
    println!(
        "Targets: zero errors {}, every upload scored {}, p99 during the burst < 50 ms {} \
         ({} ms)",
        if errors == 0 { "MET" } else { "MISSED" },
        if upload_problems == 0 && failed.is_empty() {
            "MET"
        } else {
            "MISSED"
        },
        if burst_p99 < Duration::from_millis(50) {
            "MET"
        } else {
            "MISSED"
        },
        ms(burst_p99)
    );
    if !ok {
        std::process::exit(1);
    }
}
