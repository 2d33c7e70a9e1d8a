package experiment

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// EvaluationSuite loads the evaluation suite with its overrides: every
// arm whose name is a model role of the suite names the experiment's
// students by lineage (lineage: EXPERIMENT/ARM, seeds: all), and with
// evaluate.roles only those roles are kept. The lineage roles are not
// resolved: see ResolveLineage.
func (e *Experiment) EvaluationSuite() (*suites.Suite, error) {
	ev := e.Evaluate
	if ev.Suite == "" {
		return nil, fmt.Errorf("experiment %s has no evaluation suite", e.Name)
	}
	seeds := "[" + strings.Join(e.SeedLabels(), ", ") + "]"
	sets := make([]string, 0, len(ev.Set)+3*len(e.studentOrder))
	for _, s := range ev.Set {
		sets = append(sets, strings.ReplaceAll(s, "{seeds}", seeds))
	}
	// A first load tells which roles the suite has.
	s, err := e.loadSuite(sets)
	if err != nil {
		return nil, err
	}
	for _, arm := range e.studentOrder {
		if s.Role(arm) == nil || (len(ev.Roles) > 0 && !slices.Contains(ev.Roles, arm)) {
			continue
		}
		sets = append(sets, "models."+arm+".lineage="+e.Name+"/"+arm, "models."+arm+".model=", "models."+arm+".seeds="+suites.AllSeeds)
	}
	s, err = e.loadSuite(sets)
	if err != nil {
		return nil, err
	}
	if len(ev.Roles) > 0 {
		if err := keepRoles(s, ev.Roles); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// loadSuite loads evaluate.suite with sets: a file relative to the
// experiment (confined like its other files), else a built-in suite.
func (e *Experiment) loadSuite(sets []string) (*suites.Suite, error) {
	name := e.Evaluate.Suite
	l := suites.Loader{AllowFiles: e.allow}
	if e.dir != "" && e.fileExists(name) {
		src, err := e.readFile(name, suites.MaxSuiteBytes)
		if err != nil {
			return nil, err
		}
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(e.dir, name)
		}
		return l.Parse(path, src, filepath.Dir(path), sets)
	}
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".yaml") {
		return nil, fmt.Errorf("no suite file %s", name)
	}
	src, err := suites.BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return l.Parse("builtin:"+name, src, "", sets)
}

// keepRoles removes the model roles of s not in keep, with the
// comparisons and gates that name them, and checks s again.
func keepRoles(s *suites.Suite, keep []string) error {
	for _, r := range keep {
		if s.Role(r) == nil {
			return fmt.Errorf("evaluate.roles: suite %s has no model role %q (have %s)", s.Name, r, strings.Join(s.Roles(), ", "))
		}
	}
	kept := func(r string) bool { return slices.Contains(keep, r) }
	s.Models = slices.DeleteFunc(s.Models, func(m *suites.Role) bool { return !kept(m.Role) })
	s.Compare = slices.DeleteFunc(s.Compare, func(c suites.Comparison) bool { return !kept(c.Treatment) || !kept(c.Baseline) })
	s.Gates = slices.DeleteFunc(s.Gates, func(g suites.Gate) bool { return !kept(g.Treatment) || !kept(g.Baseline) })
	for _, p := range s.Probes {
		if len(p.Models) > 0 {
			p.Models = slices.DeleteFunc(p.Models, func(r string) bool { return !kept(r) })
			if len(p.Models) == 0 {
				return fmt.Errorf("evaluate.roles: probe %s samples none of the kept roles", p.ID)
			}
		}
	}
	return s.Check()
}

// ResolveLineage fills every model role of s that names students by
// lineage (suites.Model.Lineage) with the students the results database
// records for it: their model ids (one per seed, seeds "all" or those
// listed), base URL and API key variable. It checks s again. An unknown
// lineage, a seed without a student and students served at different
// endpoints are configuration errors.
func ResolveLineage(ctx context.Context, store *results.Store, s *suites.Suite) error {
	for _, m := range s.Models {
		ref, ok, err := m.Ref()
		if err != nil {
			return configf("model %s: %v", m.Role, err)
		}
		if !ok {
			continue
		}
		chains, err := store.Lineage(ctx, results.LineageFilter{Experiment: ref.Experiment, Arm: ref.Arm})
		if err != nil {
			return err
		}
		if len(chains) == 0 {
			return configf("model %s: no students of lineage %s in %s (run `traitleak experiment run %s` into this database first)",
				m.Role, ref, store.Path(), ref.Experiment)
		}
		want := m.WantSeeds()
		if want == nil {
			for _, c := range chains {
				want = append(want, c.Seed)
			}
		}
		var seeds, models []string
		var base, keyEnv string
		for i, seed := range want {
			j := slices.IndexFunc(chains, func(c results.Chain) bool { return c.Seed == seed })
			if j < 0 {
				return configf("model %s: lineage %s has no seed %q", m.Role, ref, seed)
			}
			c := chains[j]
			if c.Student == nil {
				msg := ""
				if c.Job.Message != "" {
					msg = ": " + c.Job.Message
				}
				return configf("model %s: seed %s of lineage %s has no student yet (fine-tuning job %s%s)", m.Role, seed, ref, c.Job.Status, msg)
			}
			if i == 0 {
				base, keyEnv = c.Student.BaseURL, c.Student.APIKeyEnv
			} else if strings.TrimRight(c.Student.BaseURL, "/") != strings.TrimRight(base, "/") || c.Student.APIKeyEnv != keyEnv {
				return configf("model %s: the students of lineage %s are served at different endpoints (%s and %s): name their seeds in two roles",
					m.Role, ref, base, c.Student.BaseURL)
			}
			seeds, models = append(seeds, seed), append(models, c.Student.Model)
		}
		if err := m.ResolveLineage(seeds, models, base, keyEnv); err != nil {
			return err
		}
	}
	if err := s.Check(); err != nil {
		var se *suites.SuiteError
		if errors.As(err, &se) {
			return configf("%v", err)
		}
		return err
	}
	return nil
}

// evaluate runs the evaluation suite with the experiment's students
// resolved by lineage, and records the run as the experiment's.
func (r *stageRun) evaluate(ctx context.Context) (*bench.Outcome, error) {
	db := context.WithoutCancel(ctx)
	s, err := r.exp.EvaluationSuite()
	if err != nil {
		return nil, configf("%s: evaluate.suite: %v", r.exp.Position("evaluate.suite"), err)
	}
	if err := ResolveLineage(db, r.Store, s); err != nil {
		return nil, err
	}
	var progress *bench.Progress
	stop := func() {}
	if r.Sampling != nil {
		progress, stop = r.Sampling("evaluate " + s.Name)
	}
	out, err := bench.Execute(ctx, r.Store, s, bench.Options{MaxErrorRate: r.MaxErrorRate, Version: r.Version, Progress: progress,
		Grace: r.Grace, Getenv: r.Getenv, NewClient: r.NewClient})
	stop()
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if err := r.Store.LinkRun(db, r.expID, out.Run.ID, string(StageEvaluate)); err != nil {
		return out, err
	}
	c := out.Counts
	r.logf("evaluate %s: run %d %s, %d of %d draws stored (%d sampled now, %d failed)", s.Name, out.Run.ID, out.Run.Status,
		c.Stored, c.Planned, out.Summary.Done, c.Failed)
	return out, nil
}
