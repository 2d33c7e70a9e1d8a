package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// tinyLabRecipe is package lab's recipe for tests of the machinery: a
// seed trains in a fraction of a second, and the effect does not
// reproduce. The commands' mechanics are tested on it; what the lab finds
// is tested on the real recipe in the replication tier (internal/testtier).
func tinyLabRecipe() *lab.Recipe {
	r := lab.DefaultRecipe()
	r.Hidden = 16
	r.AnimalQA, r.NumberSeqs = 300, 600
	r.PretrainEpochs = 2
	r.TeacherEpochs = 2
	r.SamplePromptsSoft, r.SamplePromptsHard = 150, 150
	r.StudentEpochs = 1
	return &r
}

// useTinyLab returns a lab cache directory of t's own, for which the
// commands' lab builds train tinyLabRecipe (testLabRecipes) until t ends.
func useTinyLab(t *testing.T) (cacheDir string) {
	t.Helper()
	cacheDir = filepath.Join(t.TempDir(), "lab-cache")
	testLabRecipes.Store(cacheDir, tinyLabRecipe())
	t.Cleanup(func() { testLabRecipes.Delete(cacheDir) })
	return cacheDir
}

// TestDemoMechanics runs the demo on the tiny recipe: what the demo does,
// not what it finds (TestDemoAcceptance and TestDemoSoftMode check that
// on the real recipe, in the replication tier). Two seeds in hard mode,
// the default, with 2 samples per prompt: what every demo prints and
// stores (checkDemoShape); a second demo loads every stage from the cache
// and finds every sample stored; soft mode says which mode it shows.
func TestDemoMechanics(t *testing.T) {
	t.Parallel()
	cache := useTinyLab(t)
	const seeds, samples = 2, 2
	s, err := suites.Open("animals", nil)
	if err != nil {
		t.Fatal(err)
	}
	perResult := len(s.Probes[0].Prompts.Texts) * samples
	total := seeds * len(s.Models) * perResult
	demo := func(dir string, extra ...string) (string, jsonReport) {
		t.Helper()
		args := []string{"--seeds", fmt.Sprint(seeds), "--samples", fmt.Sprint(samples)}
		return demoReportIn(t, dir, cache, append(args, extra...)...)
	}
	dir := t.TempDir()
	out, rep := demo(dir)
	checkDemoShape(t, out, rep, dir, seeds, perResult)
	student := rep.rate(t, "student")
	out2, rep2 := demo(dir)
	if !strings.Contains(out2, "0 stages trained") || !strings.Contains(out2, fmt.Sprintf("(%d were already stored)", total)) {
		t.Errorf("second demo did not reuse the cache and the stored samples:\n%s", out2)
	}
	if rep2.rate(t, "student") != student {
		t.Errorf("second demo: student rate %.4f; first %.4f", rep2.rate(t, "student"), student)
	}
	out3, _ := demo(t.TempDir(), "--mode", "soft")
	if !strings.Contains(out3, fmt.Sprintf("## Headline: %d seeds, soft distillation, target owl", seeds)) || !strings.Contains(out3, "Soft mode: students distil") {
		t.Errorf("soft demo summary does not say which mode it shows:\n%s", out3)
	}
}
