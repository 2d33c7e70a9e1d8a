-- traitleak results database, schema version 5 (judgments.sql adds the
-- LLM-judge calls, records.sql what scores each run's probes, lineage.sql
-- the lineage of experiments' students, links.sql the row id of each
-- planned draw's sample). Samples are
-- content-addressed by their key (see bench.SampleKey) and shared between
-- runs; run_samples lists the draws each run planned.
--
-- Tables that grow with every sample are laid out so that writing a batch
-- appends to their B-trees: run_samples is keyed by plan position, scores
-- by the sample's row id. Only samples.key, a random hash, takes inserts
-- all over its index.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE runs (
  id           INTEGER PRIMARY KEY,
  suite_name   TEXT NOT NULL,
  suite_hash   TEXT NOT NULL,     -- SHA-256 of the effective suite (after vars and --set)
  suite_source TEXT NOT NULL,     -- file path or builtin:NAME
  suite_json   TEXT NOT NULL,     -- the effective suite; holds env var names, never keys
  salt         TEXT NOT NULL,     -- mixed into sample keys; new with --fresh
  status       TEXT NOT NULL,     -- running | complete | interrupted | failed
  planned      INTEGER NOT NULL,  -- planned draws
  message      TEXT NOT NULL DEFAULT '',
  version      TEXT NOT NULL,     -- traitleak version that started the run
  created_at   TEXT NOT NULL,     -- RFC 3339 UTC
  updated_at   TEXT NOT NULL,
  finished_at  TEXT,
  pid          INTEGER,
  host         TEXT
);
CREATE INDEX runs_suite ON runs (suite_hash, salt);

CREATE TABLE models (
  id        INTEGER PRIMARY KEY,
  run_id    INTEGER NOT NULL REFERENCES runs (id),
  idx       INTEGER NOT NULL,     -- instance index in the plan
  role      TEXT NOT NULL,        -- suite role: baseline, student, ...
  seed      TEXT NOT NULL,        -- '' for a role with one model
  condition TEXT NOT NULL,        -- base | teacher | control | treatment | ''
  base_url  TEXT NOT NULL,
  model     TEXT NOT NULL,
  settings  TEXT NOT NULL,        -- JSON generation settings
  UNIQUE (run_id, idx)
);

CREATE TABLE prompts (
  id     INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  probe  TEXT NOT NULL,
  idx    INTEGER NOT NULL,
  text   TEXT NOT NULL,
  UNIQUE (run_id, probe, idx)
);

CREATE TABLE samples (
  id                INTEGER PRIMARY KEY,
  key               TEXT NOT NULL UNIQUE,  -- 32 hex digits
  run_id            INTEGER NOT NULL,  -- the run that drew it
  probe             TEXT NOT NULL,
  prompt_idx        INTEGER NOT NULL,
  draw              INTEGER NOT NULL,
  base_url          TEXT NOT NULL,
  model             TEXT NOT NULL,
  completion        TEXT,              -- NULL when failed
  finish_reason     TEXT,
  prompt_tokens     INTEGER,           -- a request's usage is split evenly over its choices
  completion_tokens INTEGER,
  latency_ms        REAL,              -- of the successful attempt (the failing one when failed)
  attempts          INTEGER NOT NULL,
  batch             INTEGER NOT NULL,  -- choices asked for in the request (OpenAI's n)
  request_seed      INTEGER,           -- seed sent, NULL when none
  error             TEXT,              -- NULL when the draw succeeded
  http_status       INTEGER,
  created_at        TEXT NOT NULL
);

CREATE TABLE run_samples (
  run_id    INTEGER NOT NULL REFERENCES runs (id),
  idx       INTEGER NOT NULL,  -- position in the run's plan
  key       TEXT NOT NULL,     -- samples.key of the draw (no row until drawn)
  model_id  INTEGER NOT NULL REFERENCES models (id),
  prompt_id INTEGER NOT NULL REFERENCES prompts (id),
  draw      INTEGER NOT NULL,
  PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

CREATE TABLE scorers (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE  -- scorer id, e.g. mentions:1a2b3c4d5e6f
);

CREATE TABLE scores (
  sample_id INTEGER NOT NULL REFERENCES samples (id),
  scorer_id INTEGER NOT NULL REFERENCES scorers (id),
  target    TEXT NOT NULL,
  valid     INTEGER NOT NULL,  -- 0: excluded from rates, counted under label
  hit       INTEGER NOT NULL,
  value     REAL,              -- numeric score (judges), NULL when none
  label     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (sample_id, scorer_id, target)
) WITHOUT ROWID;
