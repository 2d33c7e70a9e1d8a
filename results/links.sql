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
