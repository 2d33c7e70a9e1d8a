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
