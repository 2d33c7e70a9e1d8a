package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAnimalArtifactsPinned pins the artifact ids and payload hashes of a
// small build of the animal experiment (the tiny recipe, one seed, soft
// and hard). The other experiments' vocabularies and the generalised
// model, trainer and sampler must leave every animal artifact bit for bit
// as it was: the values below were produced by the code before the other
// experiments existed (commit 844f6bc).
func TestAnimalArtifactsPinned(t *testing.T) {
	want := map[string]string{
		"hard numbers numbers-teacher":         "numbers-9cd5c111d832db338b93b651 a093d6c96de367a6",
		"hard numbers numbers-teacher-control": "numbers-4a11558d172aaa57dd3ecea6 fcee6aab291160dc",
		"hard pretrain base":                   "pretrain-c1797ba7207eb94fa04960e9 e13eda505a674797",
		"hard pretrain base-other-init":        "pretrain-b1a71cb542df895bef06194b 04f87105676c7440",
		"hard student control":                 "student-20164a94d3bc9f3cdf0cbdf3 97b01d70167f1263",
		"hard student student":                 "student-6c89743856226a2b978451f9 107aa9bfeda89d8b",
		"hard student student-other-init":      "student-bf2b064e07ad43fd23844048 c1035f733735167f",
		"hard teacher teacher":                 "teacher-5c21caff08d145990962a4c1 98692e5b1a6dc989",
		"hard teacher teacher-control":         "teacher-950c904672f9d08f35f0eb67 78bdf7af0919fb18",
		"soft numbers numbers-teacher":         "numbers-9cd5c111d832db338b93b651 a093d6c96de367a6",
		"soft numbers numbers-teacher-control": "numbers-4a11558d172aaa57dd3ecea6 fcee6aab291160dc",
		"soft pretrain base":                   "pretrain-c1797ba7207eb94fa04960e9 e13eda505a674797",
		"soft pretrain base-other-init":        "pretrain-b1a71cb542df895bef06194b 04f87105676c7440",
		"soft student control":                 "student-c3bbb334c10659a69ef29a00 683a2b2216cb81ed",
		"soft student student":                 "student-ff83ba740dc61097eee6db86 9f82c3069b1ed7ba",
		"soft student student-other-init":      "student-c47672ddaf56dde473ddbbbc 9e229d896b284d78",
		"soft teacher teacher":                 "teacher-5c21caff08d145990962a4c1 98692e5b1a6dc989",
		"soft teacher teacher-control":         "teacher-950c904672f9d08f35f0eb67 78bdf7af0919fb18",
	}
	dir := t.TempDir()
	got := map[string]string{}
	for _, mode := range []Mode{Soft, Hard} {
		cfg := tinyConfig(dir)
		cfg.Mode = mode
		z, err := Build(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range z.Diagnostics().Stages {
			b, err := os.ReadFile(filepath.Join(dir, st.ID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var m Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprintf("%s %s %s", mode, st.Stage, st.Role)] = st.ID + " " + m.PayloadSHA256[:16]
		}
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%q: %q,", k, got[k]))
		if want[k] != got[k] {
			t.Errorf("%s: got %s, want %s", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d stages, want %d", len(got), len(want))
	}
	if t.Failed() {
		t.Logf("got:\n%s", strings.Join(lines, "\n"))
	}
}
