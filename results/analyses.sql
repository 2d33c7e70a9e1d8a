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
