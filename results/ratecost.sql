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
