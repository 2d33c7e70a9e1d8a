package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// setBaseURLs applies rescore's --base-url NAME=URL flags to s, the suite
// recorded with run runID: each sets the base_url of the model role or
// judge NAME. It gives back what a run never records, the credentials
// of a base_url (user:password@host), which sample keys depend on.
func setBaseURLs(s *suites.Suite, runID int64, flags []string) error {
	for _, f := range flags {
		name, u, ok := strings.Cut(f, "=")
		if !ok || name == "" || u == "" {
			return usagef("--base-url %q: want NAME=URL, e.g. --base-url student=http://USER:PASSWORD@host/v1", bench.RedactURL(f))
		}
		found := false
		for _, m := range slices.Concat(s.Models, s.Judges) {
			if m.Role == name {
				m.BaseURL, found = u, true
			}
		}
		if !found {
			return usagef("--base-url %s=…: run %d's suite has no model or judge %q", name, runID, name)
		}
	}
	return nil
}

// checkRecordedKeys checks, before a rescore makes a run, that s (the
// suite recorded with run, as rescore changed it) plans the keys of run's
// stored samples. A base_url with credentials is recorded without them
// (they are secrets) while sample keys hash the whole URL, so the
// recorded suite alone plans other keys for that model, and a rescore
// would find none of its samples: the error names the models and the
// --base-url flag that gives their URLs back.
func checkRecordedKeys(ctx context.Context, store *results.Store, run *results.Run, s *suites.Suite) error {
	counts, err := store.Counts(ctx, run.ID)
	if err != nil {
		return err
	}
	plan := bench.NewPlan(s, run.Salt)
	var keys []string
	for j := range plan.Jobs() {
		keys = append(keys, j.Keys...)
	}
	found, err := store.Stored(ctx, keys)
	if err != nil {
		return err
	}
	if len(found) >= counts.Stored-counts.Failed {
		return nil
	}
	// Which models plan other keys than the run's.
	planned := make([]map[string]bool, len(plan.Instances))
	for i := range planned {
		planned[i] = map[string]bool{}
	}
	for j := range plan.Jobs() {
		for _, k := range j.Keys {
			planned[j.Instance][k] = true
		}
	}
	differ := map[int]int{} // instance → draws whose key differs
	for row, err := range store.Rows(ctx, run.ID, func(string) string { return "" }) {
		if err != nil {
			return err
		}
		if row.Instance >= len(planned) || !planned[row.Instance][row.Sample.Key] {
			differ[row.Instance]++
		}
	}
	var roles, flags []string
	for i, in := range plan.Instances {
		if differ[i] > 0 && !slices.Contains(roles, in.Role) {
			roles = append(roles, in.Role)
			flags = append(flags, fmt.Sprintf("--base-url %s=URL", in.Role))
		}
	}
	if len(roles) == 0 {
		return fmt.Errorf("run %d: the suite it recorded plans other sample keys than the run's (%d of its %d stored samples found); was it recorded by another version of traitleak?",
			run.ID, len(found), counts.Stored-counts.Failed)
	}
	what := "model " + roles[0]
	if len(roles) > 1 {
		what = "models " + strings.Join(roles, ", ")
	}
	return usagef("run %d: the suite it recorded plans other sample keys for %s than the run's, so no stored sample would be found: "+
		"a base_url with credentials (http://USER:PASSWORD@host/…) is recorded without them, and sample keys hash the whole URL; "+
		"give it back with %s (the URL the run used, credentials included)", run.ID, what, strings.Join(flags, " "))
}
