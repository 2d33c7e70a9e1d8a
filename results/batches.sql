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
