-- The double-blind pseudonyms were derived from competitions.created_at, which equals the
-- published start of every phase seeded without an explicit start: anyone could recompute
-- them. They now come from 256 random bits that never leave the server.
ALTER TABLE competitions ADD COLUMN pseudonym_secret TEXT NOT NULL DEFAULT '';
UPDATE competitions SET pseudonym_secret = lower(hex(randomblob(32)));
