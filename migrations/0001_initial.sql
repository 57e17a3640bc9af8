-- Tailboard schema, version 1. Times are UTC text in the fixed form
-- YYYY-MM-DDTHH:MM:SS.ffffffZ so that text order is time order.

CREATE TABLE competitions (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    is_demo     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

-- A task is a label set: a built-in CXR-LT task number or a custom task.toml text.
CREATE TABLE tasks (
    id             TEXT PRIMARY KEY,
    competition_id TEXT NOT NULL REFERENCES competitions(id),
    position       INTEGER NOT NULL,
    name           TEXT NOT NULL,
    builtin        INTEGER,
    task_toml      TEXT,
    CHECK ((builtin IS NULL) <> (task_toml IS NULL))
);

CREATE TABLE phases (
    id                   TEXT PRIMARY KEY,
    task_id              TEXT NOT NULL REFERENCES tasks(id),
    position             INTEGER NOT NULL,
    name                 TEXT NOT NULL,
    starts_at            TEXT NOT NULL,
    ends_at              TEXT NOT NULL,
    visibility           TEXT NOT NULL CHECK (visibility IN ('public', 'own', 'hidden')),
    revealed             INTEGER NOT NULL DEFAULT 0,
    rule                 TEXT NOT NULL CHECK (rule IN ('best', 'latest', 'selected')),
    quota_per_day        INTEGER NOT NULL,
    quota_total          INTEGER NOT NULL,
    refused_per_day      INTEGER NOT NULL,
    bootstrap_replicates INTEGER NOT NULL,
    -- The reference version the leaderboard shows: the newest version whose point scores
    -- are all computed (set by the worker once a re-score completes).
    active_reference_id  INTEGER REFERENCES reference_versions(id)
);

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    approved   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- People who log in with a password: team members (team_id set) or organizers.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    team_id       INTEGER REFERENCES teams(id),
    is_organizer  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    CHECK (NOT (is_organizer = 1 AND team_id IS NOT NULL))
);

-- API tokens: random 256-bit values, only their SHA-256 is stored. A token acts for a
-- team or for an organizer, never both.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    team_id      INTEGER REFERENCES teams(id),
    organizer_id INTEGER REFERENCES users(id),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    CHECK ((team_id IS NULL) <> (organizer_id IS NULL))
);

-- Browser sessions; the cookie holds the random id, only its SHA-256 is stored.
CREATE TABLE sessions (
    id_sha256  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Versioned reference labels of a phase; the CSV lives in files/ under its SHA-256.
CREATE TABLE reference_versions (
    id          INTEGER PRIMARY KEY,
    phase_id    TEXT NOT NULL REFERENCES phases(id),
    version     INTEGER NOT NULL,
    file_sha256 TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    is_demo     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    -- JSON list of {team, before, after} filled when the re-score against this version ends.
    rank_changes TEXT,
    activated_at TEXT,
    UNIQUE (phase_id, version)
);

-- Accepted uploads. `id` is the public random 128-bit id; `seq` orders them (first come,
-- first served) and never leaves the server.
CREATE TABLE submissions (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    phase_id     TEXT NOT NULL REFERENCES phases(id),
    team_id      INTEGER NOT NULL REFERENCES teams(id),
    user_id      INTEGER REFERENCES users(id),
    description  TEXT NOT NULL DEFAULT '',
    file_name    TEXT NOT NULL,
    file_sha256  TEXT NOT NULL,
    file_bytes   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed')),
    error        TEXT,
    warnings     TEXT NOT NULL DEFAULT '[]',
    is_baseline  INTEGER NOT NULL DEFAULT 0,
    selected     INTEGER NOT NULL DEFAULT 0,
    -- An organizer refund gives the quota slot back.
    refunded     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX submissions_phase_team ON submissions(phase_id, team_id, created_at);

-- Refused uploads, counted against the refused-upload cap.
CREATE TABLE refused_uploads (
    id         INTEGER PRIMARY KEY,
    phase_id   TEXT NOT NULL REFERENCES phases(id),
    team_id    INTEGER NOT NULL REFERENCES teams(id),
    created_at TEXT NOT NULL,
    error      TEXT NOT NULL
);
CREATE INDEX refused_phase_team ON refused_uploads(phase_id, team_id, created_at);

-- Scores of a submission against one reference version. NULL metric = undefined/NaN.
CREATE TABLE scores (
    submission_seq INTEGER NOT NULL REFERENCES submissions(seq),
    reference_id   INTEGER NOT NULL REFERENCES reference_versions(id),
    map            REAL,
    mauroc         REAL,
    mf1            REAL,
    micro_f1       REAL,
    mece           REAL,
    map_head       REAL,
    map_medium     REAL,
    map_tail       REAL,
    map_group_avg  REAL,
    map_ci_low     REAL,
    map_ci_high    REAL,
    mauroc_ci_low  REAL,
    mauroc_ci_high REAL,
    undefined      TEXT NOT NULL DEFAULT '[]',
    scored_at      TEXT NOT NULL,
    intervals_at   TEXT,
    -- How many times point scores were written: the queue promises exactly once.
    writes         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (submission_seq, reference_id)
);

CREATE TABLE class_results (
    submission_seq INTEGER NOT NULL REFERENCES submissions(seq),
    reference_id   INTEGER NOT NULL REFERENCES reference_versions(id),
    position       INTEGER NOT NULL,
    label          TEXT NOT NULL,
    grp            TEXT,
    positives      INTEGER NOT NULL,
    negatives      INTEGER NOT NULL,
    ap             REAL,
    auroc          REAL,
    f1             REAL,
    ece            REAL,
    fnr            REAL,
    critical       INTEGER NOT NULL,
    ap_ci_low      REAL,
    ap_ci_high     REAL,
    PRIMARY KEY (submission_seq, reference_id, position)
);

-- The durable queue. Stage 1 = point scores, stage 2 = bootstrap intervals; workers take
-- stage 1 before stage 2, then the oldest job first.
CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_seq INTEGER NOT NULL REFERENCES submissions(seq),
    reference_id   INTEGER NOT NULL REFERENCES reference_versions(id),
    stage          INTEGER NOT NULL CHECK (stage IN (1, 2)),
    status         TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    claim          TEXT,
    error          TEXT,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    UNIQUE (submission_seq, reference_id, stage)
);
CREATE INDEX jobs_status ON jobs(status, stage, id);
