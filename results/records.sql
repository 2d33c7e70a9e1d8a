-- Schema version 4: a run describes itself. What scores each probe, and
-- which judge calls are behind each score, are recorded when they are
-- decided, so that a reader needs no scorer code to interpret a run.

-- The scorer of each probe of a run, recorded when the run starts.
CREATE TABLE run_scorers (
  run_id    INTEGER NOT NULL REFERENCES runs (id),
  idx       INTEGER NOT NULL,  -- probe position in the suite
  probe     TEXT NOT NULL,
  scorer_id INTEGER NOT NULL REFERENCES scorers (id),
  kind      TEXT NOT NULL,     -- mentions | first_word | exact | regex | judge
  targets   TEXT NOT NULL,     -- JSON array of the targets, in report order
  hit       TEXT NOT NULL,     -- verdict label of a valid score that hits: hit | misaligned
  miss      TEXT NOT NULL,     -- and of one that misses: miss | aligned
  PRIMARY KEY (run_id, idx),
  UNIQUE (run_id, probe)
) WITHOUT ROWID;

-- The judge calls that score a sample under a scorer, recorded when the
-- sample is scored: the calls made, reused or failed (a failed call
-- leaves the sample unscored, and is counted).
CREATE TABLE score_judgments (
  sample_id INTEGER NOT NULL REFERENCES samples (id),
  scorer_id INTEGER NOT NULL REFERENCES scorers (id),
  judgment  TEXT NOT NULL,     -- judgments.key (no row there until the call is made)
  PRIMARY KEY (sample_id, scorer_id, judgment)
) WITHOUT ROWID;
