package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/suites"
)

// scaleOptions are run's flags for sampling past one process: the Batch
// API and shards.
type scaleOptions struct {
	batch          bool
	resubmitFailed bool
	batchDir       string
	batchOffline   bool
	batchPoll      time.Duration
	batchWait      time.Duration
	shardSpec      string

	shard    bench.Shard
	batchOpt *bench.BatchOptions
}

func addScaleFlags(f *pflag.FlagSet, o *scaleOptions) {
	f.BoolVar(&o.batch, "batch", false, "send every model's and judge's requests through its provider's Batch API (OpenAI's /v1/batches: half the price, answers within 24 h); batch: true on a model or judge does so for it alone")
	addBatchFlags(f, o)
	f.StringVar(&o.shardSpec, "shard", "", "sample only shard `i/N` of the plan (0 ≤ i < N) into this database; merge the shards' databases with traitleak merge. Default: JOB_COMPLETION_INDEX/JOB_COMPLETION_COUNT when set (a Kubernetes Indexed Job)")
}

// addBatchFlags adds the flags that tune batches, run's and rescore's.
func addBatchFlags(f *pflag.FlagSet, o *scaleOptions) {
	f.BoolVar(&o.resubmitFailed, "resubmit-failed", false, "with --batch: send draws and judge calls whose batch request failed or expired in new batches (otherwise failed draws stay failed, and failed judge calls are asked again online)")
	f.StringVar(&o.batchDir, "batch-dir", "", "with --batch: also write every batch input file to `dir` (the files vllm run-batch reads)")
	f.BoolVar(&o.batchOffline, "batch-offline", false, "with --batch and --batch-dir: send nothing; write the input files and collect each batch from the output file beside it (vllm run-batch -i NAME.jsonl -o NAME.output.jsonl) once there")
	f.DurationVar(&o.batchPoll, "batch-poll", 5*time.Second, "with --batch: first interval between polls of a batch (growing to 1 min)")
	f.DurationVar(&o.batchWait, "batch-wait", 24*time.Hour, "with --batch: how long to wait for batches before stopping (they go on at the provider; run again to poll on)")
}

// prepare checks the scale flags and the suite's batched models and
// judges before anything is written: a shard out of range, a batch
// request too large for a batch file or a provider without a Batch API
// is an error here.
func (o *scaleOptions) prepare(ctx context.Context, s *suites.Suite, getenv func(string) string, stdout io.Writer) error {
	switch {
	case o.shardSpec != "":
		sh, err := bench.ParseShard(o.shardSpec)
		if err != nil {
			return usagef("--shard: %v", err)
		}
		o.shard = sh
	default:
		sh, ok, err := bench.ShardFromEnv(getenv)
		if err != nil {
			return usagef("%v", err)
		}
		if ok {
			o.shard = sh
			fmt.Fprintf(stdout, "shard %s from %s and %s\n", sh, bench.JobCompletionIndex, bench.JobCompletionCount)
		}
	}
	batched := false
	for _, in := range s.Instances() {
		batched = batched || in.Settings.Batch != nil && *in.Settings.Batch
	}
	if err := o.batchOptions(s, batched); err != nil || o.batchOpt == nil {
		return err
	}
	opt := bench.Options{Getenv: getenv, Shard: o.shard, Batch: o.batchOpt}
	if err := bench.PreflightBatch(ctx, s, opt); err != nil {
		return err
	}
	return bench.PreflightJudgeBatch(ctx, s, opt)
}

// batchOptions checks the batch flags and sets batchOpt when anything
// batches: --batch, batch: true on a judge a probe calls, or (models, for
// run) on a model.
func (o *scaleOptions) batchOptions(s *suites.Suite, models bool) error {
	if o.batchPoll <= 0 {
		return usagef("--batch-poll %s: want a positive duration, e.g. 5s", o.batchPoll)
	}
	if o.batchWait <= 0 {
		return usagef("--batch-wait %s: want a positive duration, e.g. 24h", o.batchWait)
	}
	if o.batchDir != "" {
		if fi, err := os.Stat(o.batchDir); err != nil || !fi.IsDir() {
			return usagef("--batch-dir %s: not a directory", o.batchDir)
		}
	}
	batched := o.batch || models
	for _, name := range s.UsedJudges() {
		in, ok := s.JudgeInstance(name)
		batched = batched || ok && in.Settings.Batch != nil && *in.Settings.Batch
	}
	if !batched {
		if o.resubmitFailed || o.batchDir != "" || o.batchOffline {
			return usagef("--resubmit-failed, --batch-dir and --batch-offline need --batch (or a model or judge with batch: true)")
		}
		return nil
	}
	if o.batchOffline && o.batchDir == "" {
		return usagef("--batch-offline needs --batch-dir: the directory of the input and output files")
	}
	o.batchOpt = &bench.BatchOptions{All: o.batch, ResubmitFailed: o.resubmitFailed, Dir: o.batchDir, Offline: o.batchOffline,
		Poll: bench.PollPolicy{Interval: o.batchPoll, MaxInterval: max(o.batchPoll, time.Minute), MaxWait: o.batchWait}}
	return nil
}
