-- traitleak results database, schema version 9, as schema.sql,
-- judgments.sql, records.sql, analyses.sql, ratecost.sql, lineage.sql, batches.sql and links.sql created it.

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
-- Schema version 2: LLM-judge calls.

-- LLM-judge calls, content-addressed by key: a hash of the judge's
-- endpoint and model, the mode, the template and the (prompt, completion)
-- judged. The same answer to the same question is judged once.
CREATE TABLE judgments (
  key               TEXT PRIMARY KEY,
  judge             TEXT NOT NULL,     -- judge name in the suite
  base_url          TEXT NOT NULL,
  model             TEXT NOT NULL,
  mode              TEXT NOT NULL,     -- sample | logprobs
  template          TEXT NOT NULL,     -- alignment | coherence | a template hash
  output            TEXT,              -- the judge's text, or its top logprobs as JSON
  score             REAL,              -- 0-100, NULL when none
  category          TEXT NOT NULL,     -- score | code | refusal | unparseable | low_mass | failed
  error             TEXT,
  http_status       INTEGER,
  prompt_tokens     INTEGER,
  completion_tokens INTEGER,
  latency_ms        REAL,
  attempts          INTEGER NOT NULL,
  created_at        TEXT NOT NULL
);
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

-- Schema version 5: analyses are data. Every analysis a command computes
-- of a finished run is stored: its figures in the tables below, one row
-- per figure, and the whole analysis tree, from which reports render
-- without recomputing. Analysing again with other settings, or after the
-- run's data changed, adds an analysis; none is ever updated or deleted.
-- Undefined figures (a rate of no samples, a test that cannot be run)
-- are NULL.

CREATE TABLE analyses (
  id             INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL REFERENCES runs (id),
  settings       TEXT NOT NULL,  -- the analysis options as canonical JSON: what a lookup matches
  confidence     REAL NOT NULL,  -- of every interval, in (0, 1)
  p_adjust       TEXT NOT NULL,  -- correction over the run's comparisons: holm | BH | BY | bonferroni | none
  fingerprint    TEXT NOT NULL,  -- SHA-256 of the run's inputs when analysed (see Store.Fingerprint)
  format         TEXT NOT NULL,  -- layout of tree: changes whenever the analysis's Go types do
  version        TEXT NOT NULL,  -- traitleak version that analysed
  run_status     TEXT NOT NULL,  -- the run's status when analysed
  run_updated_at TEXT NOT NULL,  -- the run's updated_at when analysed: a later resume or finish makes it stale
  created_at     TEXT NOT NULL,  -- RFC 3339 UTC
  tree           BLOB NOT NULL   -- the whole analysis (Go gob of reports.Analysis), for reports
);
CREATE INDEX analyses_run ON analyses (run_id, settings, id);

-- The statistical methods an analysis used, in report order.
CREATE TABLE analysis_methods (
  analysis_id INTEGER NOT NULL REFERENCES analyses (id),
  idx         INTEGER NOT NULL,
  name        TEXT NOT NULL,
  used_for    TEXT NOT NULL,
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;

-- Trait rates: one row per model instance × probe × target (level
-- 'instance'), and per role with its seeds pooled (level 'role').
CREATE TABLE analysis_rates (
  analysis_id      INTEGER NOT NULL REFERENCES analyses (id),
  idx              INTEGER NOT NULL,  -- report order
  level            TEXT NOT NULL,     -- instance | role
  probe            TEXT NOT NULL,
  target           TEXT NOT NULL,
  role             TEXT NOT NULL,
  seed             TEXT NOT NULL,     -- the instance's seed; '' for a role row or a role with one model
  condition        TEXT NOT NULL,     -- role rows only; '' otherwise
  seeds            INTEGER NOT NULL,  -- instances pooled: 1 for an instance row
  n                INTEGER NOT NULL,  -- scored samples: the rate's denominator
  hits             INTEGER NOT NULL,
  failed           INTEGER NOT NULL,
  missing          INTEGER NOT NULL,
  invalid          TEXT,              -- JSON object: samples left out of the rate by label; NULL when none
  rate             REAL,
  ci_low           REAL,              -- the rate's interval
  ci_high          REAL,
  ci_method        TEXT NOT NULL,     -- Wilson score
  cl_clusters      INTEGER,           -- cluster-robust interval with prompts as clusters (role rows); NULL when none
  cl_se            REAL,
  cl_design_effect REAL,
  cl_low           REAL,
  cl_high          REAL,
  cl_method        TEXT,
  sm_mean          REAL,              -- mean of per-seed rates with a t-interval (role rows with two or more seeds); NULL when none
  sm_low           REAL,
  sm_high          REAL,
  sm_method        TEXT,
  sm_values        TEXT,              -- JSON array of the per-seed rates
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;
CREATE INDEX analysis_rates_series ON analysis_rates (analysis_id, probe, target, role);

-- Comparisons of a treatment role with a baseline role on one probe
-- target, seeds pooled, in the order of the family whose p-values are
-- corrected together.
CREATE TABLE analysis_comparisons (
  analysis_id    INTEGER NOT NULL REFERENCES analyses (id),
  idx            INTEGER NOT NULL,
  probe          TEXT NOT NULL,
  target         TEXT NOT NULL,
  treatment      TEXT NOT NULL,
  baseline       TEXT NOT NULL,
  treatment_rate REAL,
  baseline_rate  REAL,
  treatment_n    INTEGER NOT NULL,
  baseline_n     INTEGER NOT NULL,
  diff           REAL,              -- treatment − baseline
  cohen_h        REAL,              -- effect size: 2·asin(√p₁) − 2·asin(√p₂)
  odds_ratio     REAL,
  or_low         REAL,
  or_high        REAL,
  or_method      TEXT NOT NULL,
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;

-- Every test of a comparison: 'pooled' (samples pooled over seeds: a
-- Newcombe interval and Fisher's exact test), 'paired' (per-prompt rates)
-- and 'seeds' (per-seed rates), each p-value raw and corrected.
CREATE TABLE analysis_tests (
  analysis_id    INTEGER NOT NULL REFERENCES analyses (id),
  comparison_idx INTEGER NOT NULL,  -- analysis_comparisons.idx
  kind           TEXT NOT NULL,     -- pooled | paired | seeds
  method         TEXT NOT NULL,     -- the test
  units          INTEGER,           -- prompts or seeds per side; NULL for pooled
  diff           REAL,
  ci_low         REAL,
  ci_high        REAL,
  ci_method      TEXT NOT NULL,
  p_value        REAL,
  p_adjusted     REAL,
  PRIMARY KEY (analysis_id, comparison_idx, kind)
) WITHOUT ROWID;

-- The verdict of each gate of the suite, with its rule and evidence.
CREATE TABLE analysis_gates (
  analysis_id  INTEGER NOT NULL REFERENCES analyses (id),
  idx          INTEGER NOT NULL,
  name         TEXT NOT NULL,
  probe        TEXT NOT NULL,
  target       TEXT NOT NULL,
  treatment    TEXT NOT NULL,
  baseline     TEXT NOT NULL,
  max_increase REAL,
  min_increase REAL,
  alpha        REAL NOT NULL,
  test         TEXT NOT NULL,     -- fisher | paired | seeds
  diff         REAL,
  ci_low       REAL,
  ci_high      REAL,
  ci_method    TEXT NOT NULL,
  p_value      REAL,
  p_adjusted   REAL,
  verdict      TEXT NOT NULL,     -- pass | fail | undecided
  rule         TEXT NOT NULL,
  reason       TEXT NOT NULL,
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;

-- Published figures matched to the run's probe targets: references, not
-- measurements.
CREATE TABLE analysis_references (
  analysis_id INTEGER NOT NULL REFERENCES analyses (id),
  idx         INTEGER NOT NULL,
  probe       TEXT NOT NULL,
  target      TEXT NOT NULL,
  label       TEXT NOT NULL,
  model       TEXT NOT NULL,
  condition   TEXT NOT NULL,
  rate        REAL,
  low         REAL,
  high        REAL,
  bound       TEXT NOT NULL,
  source      TEXT NOT NULL,
  note        TEXT NOT NULL,
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;

-- The statistical caveats of an analysis, as its report prints them.
CREATE TABLE analysis_notes (
  analysis_id INTEGER NOT NULL REFERENCES analyses (id),
  idx         INTEGER NOT NULL,
  note        TEXT NOT NULL,
  PRIMARY KEY (analysis_id, idx)
) WITHOUT ROWID;

-- Tags name runs of a suite ("blessed": the release others are compared
-- against). Tagging again adds a row; a tag names the run of its newest
-- row, so the tag's history is kept.
CREATE TABLE run_tags (
  id         INTEGER PRIMARY KEY,
  suite_name TEXT NOT NULL,
  tag        TEXT NOT NULL,
  run_id     INTEGER NOT NULL REFERENCES runs (id),
  created_at TEXT NOT NULL
);
CREATE INDEX run_tags_tag ON run_tags (suite_name, tag, id);

-- Schema version 6: what rate control did and what a run's tokens cost.

-- Each change of the adaptive in-flight cap of an endpoint × API key,
-- in the order it happened; a resumed run appends.
CREATE TABLE rate_changes (
  run_id   INTEGER NOT NULL REFERENCES runs (id),
  seq      INTEGER NOT NULL,  -- order within the run, from 0
  endpoint TEXT NOT NULL,     -- base URL without userinfo
  key_env  TEXT NOT NULL,     -- api_key_env naming the key ('' for none); never the key
  at       TEXT NOT NULL,     -- RFC 3339 UTC
  cap      INTEGER NOT NULL,  -- requests allowed in flight after the change
  reason   TEXT NOT NULL,     -- start | grow | rate_limited | end
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- The price of each model instance and judge of a run, as the run used it
-- (a resumed run records the prices of its latest invocation).
CREATE TABLE run_prices (
  run_id         INTEGER NOT NULL REFERENCES runs (id),
  kind           TEXT NOT NULL,  -- model | judge
  name           TEXT NOT NULL,  -- role@seed of a model instance, or the judge's name
  model          TEXT NOT NULL,  -- the model id
  input          REAL NOT NULL,  -- US dollars per million prompt tokens
  output         REAL NOT NULL,  -- US dollars per million completion tokens
  batch_discount REAL NOT NULL,  -- fraction off with a batch API, in [0, 1)
  source         TEXT NOT NULL,  -- suite, or the built-in table and its date
  PRIMARY KEY (run_id, kind, name)
) WITHOUT ROWID;

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
-- Schema version 8: submissions to a provider's Batch API, and the shard
-- of the plan a run samples.

-- One input file of a run submitted to a Batch API (OpenAI's
-- /v1/batches): recorded before it is uploaded, so that a restarted run
-- finds the file and the batch again (by content and attempt) and polls
-- instead of submitting twice.
CREATE TABLE IF NOT EXISTS batches (
  id             INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL REFERENCES runs (id),
  instance       INTEGER NOT NULL,           -- models.idx of the run
  content_key    TEXT NOT NULL,              -- SHA-256 (hex) of the input file's bytes
  attempt        INTEGER NOT NULL,           -- 0, or n for the n-th resubmission of the same content
  base_url       TEXT NOT NULL,              -- redacted
  lines          INTEGER NOT NULL,
  bytes          INTEGER NOT NULL,
  file_id        TEXT NOT NULL DEFAULT '',   -- the provider's input file id, once uploaded
  batch_id       TEXT NOT NULL DEFAULT '',   -- the provider's batch id, once created
  status         TEXT NOT NULL,              -- prepared, or the provider's status (validating ... completed, expired, failed, cancelled)
  output_file_id TEXT NOT NULL DEFAULT '',
  error_file_id  TEXT NOT NULL DEFAULT '',
  message        TEXT NOT NULL DEFAULT '',   -- the provider's errors of a failed batch
  collected      INTEGER NOT NULL DEFAULT 0, -- 1 once every line's samples are stored
  created_at     TEXT NOT NULL,
  updated_at     TEXT NOT NULL,
  UNIQUE (run_id, content_key, attempt)
);

-- The lines of a batch's input file: one request for `draws` consecutive
-- draws (OpenAI's n), identified by custom_id, the key of its first draw.
CREATE TABLE IF NOT EXISTS batch_lines (
  batch_id  INTEGER NOT NULL REFERENCES batches (id),
  idx       INTEGER NOT NULL,  -- line number in the file, from 0
  custom_id TEXT NOT NULL,
  draws     INTEGER NOT NULL,
  PRIMARY KEY (batch_id, idx)
) WITHOUT ROWID;

-- The share of the suite's plan a run samples (run --shard i/N): its plan
-- holds only the jobs whose first key hashes to shard. A run without a
-- row samples the whole plan.
CREATE TABLE IF NOT EXISTS run_shards (
  run_id INTEGER PRIMARY KEY REFERENCES runs (id),
  shard  INTEGER NOT NULL,  -- 0 .. shards-1
  shards INTEGER NOT NULL   -- 2 or more
);

-- Schema version 9: every planned draw can name its stored sample by row
-- id, so that reading a run back (reports, export, counts) follows row ids
-- instead of searching the random-hash index of samples.key once per draw.
--
-- run_samples.sample_id is a cache of the lookup by key: Put sets it for
-- the draws it stores, Store.LinkSamples for draws whose sample was stored
-- otherwise (by another run). NULL means not linked yet; readers check a
-- link against the key and fall back to the key when it is missing or
-- does not match, so a stale link can cost time but never change a count.
ALTER TABLE run_samples ADD COLUMN sample_id INTEGER;
UPDATE run_samples SET sample_id = (SELECT s.id FROM samples s WHERE s.key = run_samples.key);

-- The plan cells of a run (model instance × prompt, see Store.PlanCells)
-- are read from this index alone, in its order: counting a run's draws
-- per cell sorts nothing. A cell's draws themselves are a range of
-- run_samples' primary key (run_id, idx), which holds every column.
CREATE INDEX run_samples_cell ON run_samples (run_id, model_id, prompt_id, draw);

-- Each line of a Batch API input file names the plan position of its
-- first draw, so that a restarted run finds the line's draws from the
-- plan without a table of every key. NULL: not recorded (lines recorded
-- before, or merged from a shard, whose positions are the shard's).
ALTER TABLE batch_lines ADD COLUMN plan_idx INTEGER;
