-- Demo baselines are scored only against demo labels: once an organizer loads real labels
-- they are not re-scored (they would fail: the ids differ) and leave the leaderboard.
ALTER TABLE submissions ADD COLUMN is_demo INTEGER NOT NULL DEFAULT 0;
