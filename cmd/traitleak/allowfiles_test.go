package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAllowFiles(t *testing.T) {
	// A suite reads prompt files from its own directory only; --allow-files
	// opens another one, on validate and on run alike.
	root := t.TempDir()
	suiteDir, shared := filepath.Join(root, "suite"), filepath.Join(root, "shared")
	for _, d := range []string{suiteDir, shared} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(shared, "prompts.txt"), []byte("Name an animal.\nName a bird.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(suiteDir, "s.yaml")
	src := "name: s\nmodels: {a: {model: m, base_url: 'http://127.0.0.1:1/v1'}}\nprobes: [{id: p, prompts: {file: ../shared/prompts.txt}, samples: 1, score: {mentions: owl}}]\n"
	if err := os.WriteFile(suite, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := runCLI(t, context.Background(), "validate", suite)
	want := suite + ":3:34: probes[0].prompts.file: read prompts: ../shared/prompts.txt is outside the suite's directory " + suiteDir +
		"; to read it, allow its directory with --allow-files " + shared
	if code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("validate SUITE = exit %d, stderr %q; want exit %d and %q", code, errOut, exitUsage, want)
	}
	// run refuses it the same way, before opening any database.
	db := filepath.Join(root, "t.db")
	code, _, errOut = runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none")
	if code != exitUsage || !strings.Contains(errOut, want) {
		t.Errorf("run SUITE = exit %d, stderr %q; want exit %d and %q", code, errOut, exitUsage, want)
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("run SUITE with a refused prompt file created the database %s", db)
	}

	code, out, errOut := runCLI(t, context.Background(), "validate", "--allow-files", shared, suite)
	if code != exitOK || !strings.Contains(out, "probe p") || !strings.Contains(out, "2 prompts") {
		t.Errorf("validate --allow-files %s SUITE = exit %d, stdout %q, stderr %q; want exit 0 and probe p with 2 prompts", shared, code, out, errOut)
	}
}
