-- Schema version 2 to 3: samples get a stable integer id, scores refer to
-- it and to a scorers table instead of repeating the key and scorer text,
-- and run_samples is keyed by plan position. Writes then append to these
-- tables instead of inserting at random hash positions.

ALTER TABLE samples RENAME TO samples_v2;
ALTER TABLE run_samples RENAME TO run_samples_v2;
ALTER TABLE scores RENAME TO scores_v2;

CREATE TABLE samples (
  id                INTEGER PRIMARY KEY,
  key               TEXT NOT NULL UNIQUE,
  run_id            INTEGER NOT NULL,
  probe             TEXT NOT NULL,
  prompt_idx        INTEGER NOT NULL,
  draw              INTEGER NOT NULL,
  base_url          TEXT NOT NULL,
  model             TEXT NOT NULL,
  completion        TEXT,
  finish_reason     TEXT,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  latency_ms        REAL,
  attempts          INTEGER NOT NULL,
  batch             INTEGER NOT NULL,
  request_seed      INTEGER,
  error             TEXT,
  http_status       INTEGER,
  created_at        TEXT NOT NULL
);
INSERT INTO samples (key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens,
  completion_tokens, latency_ms, attempts, batch, request_seed, error, http_status, created_at)
SELECT key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens,
  completion_tokens, latency_ms, attempts, batch, request_seed, error, http_status, created_at
FROM samples_v2 ORDER BY rowid;

CREATE TABLE run_samples (
  run_id    INTEGER NOT NULL REFERENCES runs (id),
  idx       INTEGER NOT NULL,
  key       TEXT NOT NULL,
  model_id  INTEGER NOT NULL REFERENCES models (id),
  prompt_id INTEGER NOT NULL REFERENCES prompts (id),
  draw      INTEGER NOT NULL,
  PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
-- Version 2 kept no plan order; model, prompt and draw order is the order
-- reports read anyway.
INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw)
SELECT run_id, row_number() OVER (PARTITION BY run_id ORDER BY model_id, prompt_id, draw, key) - 1, key, model_id, prompt_id, draw
FROM run_samples_v2;

CREATE TABLE scorers (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
INSERT INTO scorers (name) SELECT DISTINCT scorer FROM scores_v2 ORDER BY scorer;

CREATE TABLE scores (
  sample_id INTEGER NOT NULL REFERENCES samples (id),
  scorer_id INTEGER NOT NULL REFERENCES scorers (id),
  target    TEXT NOT NULL,
  valid     INTEGER NOT NULL,
  hit       INTEGER NOT NULL,
  value     REAL,
  label     TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (sample_id, scorer_id, target)
) WITHOUT ROWID;
-- Scores of keys without a sample (none are written, but version 2 did not
-- enforce it) cannot be kept.
INSERT INTO scores (sample_id, scorer_id, target, valid, hit, value, label)
SELECT s.id, sr.id, sc.target, sc.valid, sc.hit, sc.value, sc.label
FROM scores_v2 sc JOIN samples s ON s.key = sc.key JOIN scorers sr ON sr.name = sc.scorer;

DROP TABLE scores_v2;
DROP TABLE run_samples_v2;
DROP TABLE samples_v2;
