-- Double-blind phases: teams appear under stable pseudonyms to everyone but organizers.
ALTER TABLE phases ADD COLUMN anonymous INTEGER NOT NULL DEFAULT 0;
