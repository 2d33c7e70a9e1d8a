-- Schema version 7: the lineage of students made by experiments (package
-- experiment). Every artefact of the loop teacher → data → filter →
-- upload → fine-tuning job → student is a row, keyed by its content, so
-- that a re-run finds what was made and a report can print the chain
-- behind a model it evaluated.

-- An experiment's effective content (after vars and --set).
CREATE TABLE experiments (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  hash       TEXT NOT NULL UNIQUE,  -- SHA-256 of the effective experiment
  source     TEXT NOT NULL,         -- file path or builtin:NAME
  json       TEXT NOT NULL,         -- the effective experiment; env var names only, never keys
  created_at TEXT NOT NULL
);

-- A dataset: a teacher's completions (sampled by a run of a generation
-- suite) after the filters.
CREATE TABLE datasets (
  id               INTEGER PRIMARY KEY,
  key              TEXT NOT NULL UNIQUE,  -- hash of teacher, prompts, sampling and filter
  name             TEXT NOT NULL,         -- EXPERIMENT/TEACHER@SEED when first made
  teacher          TEXT NOT NULL,         -- the teacher's name in the experiment
  teacher_base_url TEXT NOT NULL,
  teacher_model    TEXT NOT NULL,
  system_prompt    TEXT NOT NULL,         -- '' for none
  trait            TEXT NOT NULL,         -- the trait's target word
  kind             TEXT NOT NULL,         -- numbers | code | cot
  filter           TEXT NOT NULL,         -- the filter rules, as the card lists them
  prompt_source    TEXT NOT NULL,         -- prompt generator (paper, lab) or file
  prompt_seed      TEXT NOT NULL,         -- the generator's seed, '' for a file
  prompts          INTEGER NOT NULL,
  generate_run_id  INTEGER REFERENCES runs (id),
  status           TEXT NOT NULL,         -- generating | generated | filtered
  generated        INTEGER NOT NULL DEFAULT 0,
  failed           INTEGER NOT NULL DEFAULT 0,
  rejected         INTEGER NOT NULL DEFAULT 0,
  kept             INTEGER NOT NULL DEFAULT 0,
  rows             INTEGER NOT NULL DEFAULT 0,  -- training rows (kept, or their subsample)
  sha256           TEXT,                  -- of the training JSONL, NULL until filtered
  card             TEXT,                  -- the dataset card as JSON
  training         BLOB,                  -- the training JSONL
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);

-- A training file uploaded to a fine-tuning provider.
CREATE TABLE uploads (
  id         INTEGER PRIMARY KEY,
  provider   TEXT NOT NULL,  -- the fine-tuning API's base URL
  sha256     TEXT NOT NULL,
  file_id    TEXT NOT NULL,
  bytes      INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (provider, sha256)
);

-- A fine-tuning job, recorded before it is created (job_id NULL) and
-- again as soon as the provider names it, before polling.
CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  provider        TEXT NOT NULL,
  key             TEXT NOT NULL,      -- bench.FineTuneSpec.Key: dataset hash, base model, seed, hyper-parameters, suffix, attempt
  api_key_env     TEXT NOT NULL,      -- the variable holding the provider's key ('' for none)
  dataset_id      INTEGER NOT NULL REFERENCES datasets (id),
  upload_id       INTEGER REFERENCES uploads (id),
  base_model      TEXT NOT NULL,
  seed            INTEGER,            -- NULL: the provider picks
  hyperparameters TEXT NOT NULL,      -- JSON; absent fields are the provider's defaults
  suffix          TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  job_id          TEXT,               -- the provider's job id
  status          TEXT NOT NULL,      -- pending | validating_files | queued | running | succeeded | failed | cancelled
  message         TEXT NOT NULL DEFAULT '',  -- the provider's message of a failed job
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  UNIQUE (provider, key)
);

-- A fine-tuned model, served where it was trained.
CREATE TABLE students (
  id          INTEGER PRIMARY KEY,
  job         INTEGER NOT NULL UNIQUE REFERENCES jobs (id),
  base_url    TEXT NOT NULL,
  model       TEXT NOT NULL,
  api_key_env TEXT NOT NULL,
  created_at  TEXT NOT NULL
);
CREATE INDEX students_model ON students (model, base_url);

-- The students an experiment name stands for: suites name them by
-- lineage (EXPERIMENT/ARM, one row per seed). The latest run of an
-- experiment of that name replaces its rows.
CREATE TABLE lineage (
  experiment    TEXT NOT NULL,
  arm           TEXT NOT NULL,
  seed          TEXT NOT NULL,
  idx           INTEGER NOT NULL,   -- the seed's position in the experiment
  experiment_id INTEGER NOT NULL REFERENCES experiments (id),
  job           INTEGER NOT NULL REFERENCES jobs (id),
  updated_at    TEXT NOT NULL,
  PRIMARY KEY (experiment, arm, seed)
) WITHOUT ROWID;

-- The runs an experiment made: its generation runs and evaluation runs.
CREATE TABLE experiment_runs (
  experiment_id INTEGER NOT NULL REFERENCES experiments (id),
  run_id        INTEGER NOT NULL REFERENCES runs (id),
  stage         TEXT NOT NULL,      -- generate | evaluate
  PRIMARY KEY (experiment_id, run_id)
) WITHOUT ROWID;
