package bench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/results"
)

// Shard is one share of a suite's plan: run --shard Index/Count samples
// the jobs whose first key hashes to Index, so that Count processes (the
// pods of a Kubernetes Indexed Job, say), each writing its own database,
// sample the whole plan between them, and `traitleak merge` unions their
// databases. The zero Shard is the whole plan.
//
// Why whole jobs, not single keys: a job's draws go to the server in one
// request (OpenAI's n) whose seed is derived from the job's first key, so
// a share of keys that split jobs would send other requests than one
// process sends, and with a seeded server get other samples. The share of
// a job depends only on its first key, which depends only on the suite
// (and n, part of the suite), never on what is stored: a resumed shard
// takes the same jobs.
type Shard struct {
	Index int // in [0, Count)
	Count int // 0: the whole plan; otherwise at least 2
}

// Whole reports whether s is the whole plan.
func (s Shard) Whole() bool { return s.Count == 0 }

// String is "i/N", or "" for the whole plan.
func (s Shard) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// MaxShards bounds the number of shards of a plan.
const MaxShards = 100000

// ParseShard reads a shard spec "i/N": 0 ≤ i < N, 2 ≤ N ≤ MaxShards. "0/1"
// is accepted as the whole plan.
func ParseShard(spec string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(spec), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, e.g. 0/4 (indices count from 0)", spec)
	}
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT with two integers, e.g. 0/4", spec)
	}
	return newShard(index, count, "shard "+strconv.Quote(spec))
}

func newShard(index, count int, what string) (Shard, error) {
	switch {
	case count < 1 || count > MaxShards:
		return Shard{}, fmt.Errorf("%s: count %d is out of range [1, %d]", what, count, MaxShards)
	case index < 0 || index >= count:
		return Shard{}, fmt.Errorf("%s: index %d is out of range [0, %d] (indices count from 0)", what, index, count-1)
	case count == 1:
		return Shard{}, nil
	}
	return Shard{Index: index, Count: count}, nil
}

// Environment variables of a Kubernetes Indexed Job: the controller sets
// JobCompletionIndex in every pod; JobCompletionCount is set by the
// manifest to the Job's completions (Kubernetes does not set it).
const (
	JobCompletionIndex = "JOB_COMPLETION_INDEX"
	JobCompletionCount = "JOB_COMPLETION_COUNT"
)

// ShardFromEnv reads the shard of a pod of a Kubernetes Indexed Job from
// JOB_COMPLETION_INDEX and JOB_COMPLETION_COUNT. ok is false when neither
// is set; one without the other, or values out of range, are an error.
func ShardFromEnv(getenv func(string) string) (s Shard, ok bool, err error) {
	i, n := strings.TrimSpace(getenv(JobCompletionIndex)), strings.TrimSpace(getenv(JobCompletionCount))
	switch {
	case i == "" && n == "":
		return Shard{}, false, nil
	case n == "":
		return Shard{}, false, fmt.Errorf("%s=%s is set but %s is not: set it to the Job's completions (see deploy/kubernetes/indexed-job.yaml), or give --shard", JobCompletionIndex, i, JobCompletionCount)
	case i == "":
		return Shard{}, false, fmt.Errorf("%s=%s is set but %s is not", JobCompletionCount, n, JobCompletionIndex)
	}
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil {
		return Shard{}, false, fmt.Errorf("%s=%q, %s=%q: want integers", JobCompletionIndex, i, JobCompletionCount, n)
	}
	s, err = newShard(index, count, fmt.Sprintf("%s=%d, %s=%d", JobCompletionIndex, index, JobCompletionCount, count))
	return s, err == nil, err
}

// Owns reports whether the job whose first key is key belongs to s.
func (s Shard) Owns(key string) bool {
	if s.Whole() {
		return true
	}
	return shardHash(key)%uint64(s.Count) == uint64(s.Index)
}

// shardHash maps a key to 64 uniform bits: bytes 8 to 16 of a hex sample
// key (already a SHA-256 prefix; RequestSeed uses the first 8), else the
// first 8 of the key's SHA-256.
func shardHash(key string) uint64 {
	if b, err := hex.DecodeString(key); err == nil && len(b) >= 16 {
		return binary.BigEndian.Uint64(b[8:16])
	}
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])
}

// ShardStore records the share of the plan a run samples.
// *results.Store implements it.
type ShardStore interface {
	// SetShard records that a claimed run samples shard index of count
	// (count 0: the whole plan), failing when the run samples another
	// share.
	SetShard(ctx context.Context, runID int64, index, count int, resumed bool) error
	// CheckShard reports, without writing, whether the run ClaimRun would
	// resume for suiteHash and salt samples another share.
	CheckShard(ctx context.Context, suiteHash, salt string, index, count int) error
}

var _ ShardStore = (*results.Store)(nil)

// checkShard refuses, before the run is claimed, a shard other than the
// one the run to resume samples.
func checkShard(ctx context.Context, store Store, nr results.NewRun, sh Shard) error {
	ss, ok := store.(ShardStore)
	if !ok {
		return nil // recordShard refuses a shard
	}
	if err := ss.CheckShard(ctx, nr.SuiteHash, nr.Salt, sh.Index, sh.Count); err != nil {
		if errors.Is(err, results.ErrShardMismatch) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return err
	}
	return nil
}

// recordShard records a claimed run's shard when the store keeps shards;
// a store that does not can only run the whole plan.
func recordShard(ctx context.Context, store Store, runID int64, sh Shard, resumed bool) error {
	ss, ok := store.(ShardStore)
	if !ok {
		if sh.Whole() {
			return nil
		}
		return fmt.Errorf("%w: shard %s: this store does not record shards", ErrConfig, sh)
	}
	if err := ss.SetShard(ctx, runID, sh.Index, sh.Count, resumed); err != nil {
		if errors.Is(err, results.ErrShardMismatch) {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return err
	}
	return nil
}
