-- Schema version 10: which samples and judge calls came through a Batch
-- API, so that what they cost is counted at the batch discount, and what
-- each batch file was estimated to cost, so that max_cost can hold back a
-- batch before it is submitted.
--
-- samples.batched and judgments.batched are 1 for a row stored from a
-- batch's output or error file (a failed line too), 0 for one answered
-- online. Put and PutJudgments set them with the row, so a failure
-- replaced by an online retry becomes 0; merge copies them.
ALTER TABLE samples ADD COLUMN batched INTEGER NOT NULL DEFAULT 0;
ALTER TABLE judgments ADD COLUMN batched INTEGER NOT NULL DEFAULT 0;

-- The estimate of a batch's input file at the dry-run's rules (prompt:
-- bytes of text / 4 + 1 per request; completion: max_tokens per choice),
-- recorded with the batch; 0 for batches recorded before version 10.
ALTER TABLE batches ADD COLUMN est_prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN est_completion_tokens INTEGER NOT NULL DEFAULT 0;

-- Rows stored before version 10 by a collected batch are found from its
-- lines: a model line asks for draws first .. first + draws - 1 of one
-- model instance (batches.instance = models.idx) and one prompt, and its
-- custom_id is the key of the first draw, whose sample names the probe,
-- prompt and first draw; the plan rows of that range (run_samples_cell)
-- name the other keys. This holds with or without batch_lines.plan_idx,
-- so lines merged from shards count too. A judge line's custom_id is the
-- judgment key. A row stored after its batch was collected (a failure
-- retried online) was not the batch's: created_at must not be later than
-- the batch's last update, which marked it collected. Batches abandoned
-- before upload keep status 'prepared' and stored nothing.
UPDATE samples SET batched = 1 WHERE id IN (
  SELECT s.id FROM batches b
  JOIN batch_lines l ON l.batch_id = b.id
  JOIN samples s0 ON s0.key = l.custom_id
  JOIN models m ON m.run_id = b.run_id AND m.idx = b.instance
  JOIN prompts p ON p.run_id = b.run_id AND p.probe = s0.probe AND p.idx = s0.prompt_idx
  JOIN run_samples rs ON rs.run_id = b.run_id AND rs.model_id = m.id AND rs.prompt_id = p.id
    AND rs.draw BETWEEN s0.draw AND s0.draw + l.draws - 1
  JOIN samples s ON s.key = rs.key AND s.run_id = b.run_id
  WHERE b.instance >= 0 AND b.collected AND b.status <> 'prepared'
    AND julianday(s.created_at) <= julianday(b.updated_at));
UPDATE judgments SET batched = 1 WHERE key IN (
  SELECT j.key FROM batches b
  JOIN batch_lines l ON l.batch_id = b.id
  JOIN judgments j ON j.key = l.custom_id
  WHERE b.instance < 0 AND b.collected AND b.status <> 'prepared'
    AND julianday(j.created_at) <= julianday(b.updated_at));
