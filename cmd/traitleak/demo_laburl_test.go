package main

import (
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// TestDemoDesignsHaveTheirOwnSamples checks that lab designs served under
// the same model ids get different sample keys, so that a --mode soft demo
// into a database holding the default demo's samples samples anew instead
// of reporting the hard-mode completions as soft ones; and that the
// default design keeps its keys (base URL http://lab.traitleak.invalid/v1).
func TestDemoDesignsHaveTheirOwnSamples(t *testing.T) {
	def := lab.Config{Experiment: lab.ExperimentAnimals, Mode: lab.Hard, Target: "owl", ControlTarget: "dog"}
	soft, eagle := def, def
	soft.Mode = lab.Soft
	eagle.Target = "eagle"
	firstKey := func(cfg lab.Config) (string, string) {
		t.Helper()
		s, err := suites.Open("animals", demoSets(cfg, []int{1, 2}))
		if err != nil {
			t.Fatal(err)
		}
		p := bench.NewPlan(s, "")
		for j := range p.Jobs() {
			return j.Keys[0], p.Instances[j.Instance].BaseURL
		}
		t.Fatal("the plan has no jobs")
		return "", ""
	}
	defKey, defURL := firstKey(def)
	// The default design's URL is the one every earlier demo stored.
	if defURL != "http://lab.traitleak.invalid/v1" {
		t.Errorf("default design: base URL %q; want http://lab.traitleak.invalid/v1 (its sample keys must not change)", defURL)
	}
	for _, tt := range []struct {
		name string
		cfg  lab.Config
		url  string
	}{
		// Soft distillation: other students behind the same ids.
		{"soft", soft, "http://animals-soft-owl-dog.lab.traitleak.invalid/v1"},
		// Another target: other teachers and students behind the same ids.
		{"eagle", eagle, "http://animals-hard-eagle-dog.lab.traitleak.invalid/v1"},
	} {
		key, url := firstKey(tt.cfg)
		if url != tt.url || key == defKey {
			t.Errorf("%s: base URL %q, first key %s (default's %s); want %q and a key of its own", tt.name, url, key, defKey, tt.url)
		}
	}
}
