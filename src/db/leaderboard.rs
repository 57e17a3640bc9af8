//! Leaderboards. One query gathers every scored submission of a phase against a reference
//! version; the phase's rule picks each team's entry; the ranking order is mAP descending,
//! then mAUROC descending, then the earlier submission (then the earlier upload sequence, so
//! the order is total and deterministic). Entries without a finite mAP are never ranked;
//! baselines are shown between the ranked rows at their score, without a rank.
//!
//! Computed boards are kept in a [`BoardCache`] until the database changes: during a
//! deadline rush hundreds of readers refresh the same board, and building it (every score of
//! the phase, through SQLite) cost ~1 ms of CPU per request, enough to saturate two cores.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::submissions::{ScoreSummary, SCORE_COLUMNS};
use super::DbResult;
use crate::domain::{LeaderboardRule, Phase, PhaseId, Viewer, Visibility};

/// One line of a leaderboard.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderboardRow {
    /// 1-based rank; `None` for baselines (and for a team's own row in an `own` phase,
    /// where the rank would reveal other teams' scores).
    pub rank: Option<u32>,
    /// Team name.
    pub team: String,
    /// Public id of the submission on the board.
    pub submission: String,
    /// Upload time of that submission (UTC).
    pub created_at: String,
    /// SHA-256 of its file.
    pub file_sha256: String,
    /// Its description.
    pub description: String,
    /// Organizer baseline (shown, not ranked).
    pub baseline: bool,
    /// Scored submissions of the team in the phase.
    pub entries: u32,
    /// The team's most recent upload time in the phase.
    pub last_submission: String,
    /// Metrics and intervals.
    #[serde(flatten)]
    pub scores: ScoreSummary,
    /// Internal sequence number (never serialized).
    #[serde(skip)]
    pub seq: i64,
    /// Team id (never serialized).
    #[serde(skip)]
    pub team_id: i64,
}

/// A leaderboard as a viewer may see it.
#[derive(Debug, Clone, Serialize)]
pub struct Leaderboard {
    /// Phase id.
    pub phase: String,
    /// Visibility in force (after a reveal, `public`).
    pub visibility: Visibility,
    /// Rule used to pick each team's entry.
    pub rule: LeaderboardRule,
    /// Reference version the scores are against (`None` before any is scored).
    pub reference_version: Option<i64>,
    /// True when the reference labels are synthetic demo labels.
    pub demo_reference: bool,
    /// Rows in display order.
    pub rows: Vec<LeaderboardRow>,
}

/// Why a leaderboard is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Hidden phase and the viewer is not an organizer.
    Hidden,
    /// `own` phase and the viewer is anonymous.
    SignInRequired,
}

/// Ranking order of two scored entries (smaller = better).
fn better(a: &LeaderboardRow, b: &LeaderboardRow) -> Ordering {
    let desc = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    desc(a.scores.map, b.scores.map)
        .then_with(|| desc(a.scores.mauroc, b.scores.mauroc))
        .then_with(|| a.created_at.cmp(&b.created_at))
        .then_with(|| a.seq.cmp(&b.seq))
}

/// Every row of a phase's leaderboard against `reference_id`, as an organizer sees it.
pub async fn rows(
    conn: &mut SqliteConnection,
    phase_id: &PhaseId,
    rule: LeaderboardRule,
    reference_id: i64,
) -> DbResult<Vec<LeaderboardRow>> {
    let sql = format!(
        "SELECT b.seq, b.id, b.team_id, t.name, b.created_at, b.file_sha256, b.description,
             b.is_baseline, b.selected, {SCORE_COLUMNS}
         FROM submissions b JOIN teams t ON t.id = b.team_id
         JOIN scores s ON s.submission_seq = b.seq AND s.reference_id = ?
         WHERE b.phase_id = ?"
    );
    let scored = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reference_id)
        .bind(phase_id.as_str())
        .fetch_all(&mut *conn)
        .await?;
    let last: HashMap<i64, String> = sqlx::query_as::<_, (i64, String)>(
        "SELECT team_id, MAX(created_at) FROM submissions WHERE phase_id = ? GROUP BY team_id",
    )
    .bind(phase_id.as_str())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    let mut entries: HashMap<i64, u32> = HashMap::new();
    let mut candidates: Vec<(LeaderboardRow, bool)> = Vec::new();
    for r in &scored {
        let team_id: i64 = r.get("team_id");
        let row = LeaderboardRow {
            rank: None,
            team: r.get("name"),
            submission: r.get("id"),
            created_at: r.get("created_at"),
            file_sha256: r.get("file_sha256"),
            description: r.get("description"),
            baseline: r.get("is_baseline"),
            entries: 0,
            last_submission: last.get(&team_id).cloned().unwrap_or_default(),
            scores: ScoreSummary::from_row(r),
            seq: r.get("seq"),
            team_id,
        };
        // NaN is stored as NULL, so a missing mAP is exactly "not rankable".
        if row.scores.map.is_none() {
            continue;
        }
        if !row.baseline {
            *entries.entry(team_id).or_default() += 1;
        }
        candidates.push((row, r.get("selected")));
    }

    let mut chosen: HashMap<i64, (LeaderboardRow, bool)> = HashMap::new();
    let mut out: Vec<LeaderboardRow> = Vec::new();
    for (row, selected) in candidates {
        if row.baseline {
            out.push(row);
            continue;
        }
        let replace = match chosen.get(&row.team_id) {
            None => true,
            Some((cur, cur_selected)) => match rule {
                LeaderboardRule::Best => better(&row, cur) == Ordering::Less,
                LeaderboardRule::Latest => (&row.created_at, row.seq) > (&cur.created_at, cur.seq),
                LeaderboardRule::Selected => match (selected, *cur_selected) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => better(&row, cur) == Ordering::Less,
                },
            },
        };
        if replace {
            chosen.insert(row.team_id, (row, selected));
        }
    }
    out.extend(chosen.into_values().map(|(mut row, _)| {
        row.entries = entries.get(&row.team_id).copied().unwrap_or(0);
        row
    }));
    out.sort_by(better);
    let mut rank = 0;
    for row in &mut out {
        if !row.baseline {
            rank += 1;
            row.rank = Some(rank);
        }
    }
    Ok(out)
}

/// A phase's board as an organizer sees it, with its reference version.
#[derive(Debug)]
struct CachedBoard {
    /// `PRAGMA data_version` read before the board was built.
    data_version: i64,
    /// Version number of the reference labels.
    version: Option<i64>,
    /// The labels are synthetic demo labels.
    is_demo: bool,
    /// Every row (visibility is applied per viewer afterwards).
    rows: Arc<Vec<LeaderboardRow>>,
}

/// Built leaderboards, reused until anything in the database changes.
///
/// Staleness is detected with `PRAGMA data_version` on a connection of its own that never
/// writes: SQLite changes that number whenever another connection, of this process or of
/// another one (the admin commands), commits. So no write path has to remember to
/// invalidate, and a reader never sees a board older than the last commit before its
/// request. The version is read before the board is built, so a commit that lands while it
/// is built makes the next request build it again rather than serve it as current.
pub struct BoardCache {
    watcher: tokio::sync::Mutex<Watcher>,
    /// Checks of `data_version` started so far (see [`BoardCache::data_version`]).
    checks_started: AtomicU64,
    /// One rebuild at a time: a burst of readers after a commit waits for one build instead
    /// of running the same query side by side.
    building: tokio::sync::Mutex<()>,
    boards: Mutex<HashMap<(String, i64, LeaderboardRule), Arc<CachedBoard>>>,
    /// Phases as stored, by id, with the `data_version` read before each was loaded
    /// (only existing ones: unknown ids sent by anyone must not grow the map).
    phases: Mutex<HashMap<String, (i64, Phase)>>,
}

/// The watching connection and the last version it read.
struct Watcher {
    conn: SqliteConnection,
    /// Number of the check that read `version` (0: none yet).
    check: u64,
    version: i64,
}

impl BoardCache {
    /// A cache watching the database through `watcher` (use [`super::single_connection`]).
    pub fn new(watcher: SqliteConnection) -> BoardCache {
        BoardCache {
            watcher: tokio::sync::Mutex::new(Watcher {
                conn: watcher,
                check: 0,
                version: 0,
            }),
            checks_started: AtomicU64::new(0),
            building: tokio::sync::Mutex::new(()),
            boards: Mutex::new(HashMap::new()),
            phases: Mutex::new(HashMap::new()),
        }
    }

    /// The phase named `raw` in a URL, as stored; `None` when no phase has that id (or it is
    /// not a valid one). Reused like the boards until anything is committed (every request
    /// needs its phase; reading it from SQLite each time waited on the busy connections
    /// during a burst of uploads).
    pub async fn phase(&self, pool: &SqlitePool, raw: &str) -> DbResult<Option<Phase>> {
        let Some(id) = PhaseId::parse(raw) else {
            return Ok(None);
        };
        let data_version = self.data_version().await?;
        if let Some((v, phase)) = self.phases.lock().expect("not poisoned").get(id.as_str()) {
            if *v == data_version {
                return Ok(Some(phase.clone()));
            }
        }
        let phase = super::phases::get(pool, &id).await?;
        if let Some(phase) = &phase {
            self.phases
                .lock()
                .expect("not poisoned")
                .insert(id.to_string(), (data_version, phase.clone()));
        }
        Ok(phase)
    }

    /// The database's `data_version` as of a moment after this call began. Requests that
    /// arrive together share one check: a caller takes the result of any check that
    /// started after it arrived, and runs one itself only when there is none. (One query
    /// per request, in a queue behind one connection, made 200 readers wait up to 0.4 s on
    /// two busy cores.)
    async fn data_version(&self) -> DbResult<i64> {
        let arrived = self.checks_started.load(AtomicOrdering::SeqCst);
        let mut watcher = self.watcher.lock().await;
        if watcher.check > arrived {
            return Ok(watcher.version);
        }
        let check = self.checks_started.fetch_add(1, AtomicOrdering::SeqCst) + 1;
        let version = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut watcher.conn)
            .await?;
        watcher.check = check;
        watcher.version = version;
        Ok(version)
    }

    fn fresh(
        &self,
        key: &(String, i64, LeaderboardRule),
        data_version: i64,
    ) -> Option<Arc<CachedBoard>> {
        let boards = self.boards.lock().expect("not poisoned");
        boards
            .get(key)
            .filter(|b| b.data_version == data_version)
            .cloned()
    }

    /// The board of `phase` against `reference_id`, built or reused.
    async fn get(
        &self,
        pool: &SqlitePool,
        phase: &Phase,
        reference_id: i64,
    ) -> DbResult<Arc<CachedBoard>> {
        let key = (phase.id.to_string(), reference_id, phase.rule);
        if let Some(b) = self.fresh(&key, self.data_version().await?) {
            return Ok(b);
        }
        let _building = self.building.lock().await;
        // Read again: another request may have built it while this one waited.
        let data_version = self.data_version().await?;
        if let Some(b) = self.fresh(&key, data_version) {
            return Ok(b);
        }
        let reference = super::references::get(pool, reference_id).await?;
        let mut conn = pool.acquire().await?;
        let board = Arc::new(CachedBoard {
            data_version,
            version: reference.as_ref().map(|r| r.version),
            is_demo: reference.is_some_and(|r| r.is_demo),
            rows: Arc::new(rows(&mut conn, &phase.id, phase.rule, reference_id).await?),
        });
        self.boards
            .lock()
            .expect("not poisoned")
            .insert(key, board.clone());
        Ok(board)
    }
}

/// A team's stable pseudonym in a double-blind phase: derived from a value that never
/// leaves the server, so it cannot be traced back to the team.
fn pseudonym(secret: &str, phase: &str, team_id: i64) -> String {
    let digest = crate::store::sha256_hex(format!("{secret}/{phase}/{team_id}").as_bytes());
    format!("Anonymous team {}", &digest[..6])
}

/// The leaderboard of `phase` as `viewer` may see it: organizers see everything; in a
/// `public` phase everyone sees every row; in an `own` phase a team sees only its own row,
/// without rank; a `hidden` phase is refused to everyone but organizers.
pub async fn for_viewer(
    pool: &SqlitePool,
    cache: &BoardCache,
    phase: &Phase,
    viewer: &Viewer,
) -> DbResult<Result<Leaderboard, Denied>> {
    let visibility = phase.effective_visibility();
    let own_team = match (visibility, viewer) {
        (_, Viewer::Organizer { .. }) | (Visibility::Public, _) => None,
        (Visibility::Hidden, _) => return Ok(Err(Denied::Hidden)),
        (Visibility::Own, Viewer::Anonymous) => return Ok(Err(Denied::SignInRequired)),
        (Visibility::Own, Viewer::Team { team_id, .. }) => Some(*team_id),
    };
    let mut board = Leaderboard {
        phase: phase.id.to_string(),
        visibility,
        rule: phase.rule,
        reference_version: None,
        demo_reference: false,
        rows: Vec::new(),
    };
    let Some(reference_id) = phase.active_reference_id else {
        return Ok(Ok(board));
    };
    let cached = cache.get(pool, phase, reference_id).await?;
    board.reference_version = cached.version;
    board.demo_reference = cached.is_demo;
    let mut rows = Vec::clone(&cached.rows);
    if phase.anonymous && !viewer.is_organizer() {
        let secret: String =
            sqlx::query_scalar("SELECT pseudonym_secret FROM competitions LIMIT 1")
                .fetch_one(pool)
                .await?;
        for r in rows.iter_mut().filter(|r| !r.baseline) {
            if viewer.team_id() != Some(r.team_id) {
                r.team = pseudonym(&secret, phase.id.as_str(), r.team_id);
            }
        }
    }
    if let Some(team) = own_team {
        rows.retain(|r| r.team_id == team && !r.baseline);
        for r in &mut rows {
            r.rank = None;
        }
    }
    board.rows = rows;
    Ok(Ok(board))
}
