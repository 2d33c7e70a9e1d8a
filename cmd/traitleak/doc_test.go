package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/lab"
)

// TestDocExample runs the worked example of doc.go: it serves the lab
// where the example says, runs the example's suite, and checks that the
// rate table the documentation shows is what the command prints.
func TestDocExample(t *testing.T) {
	if labRaceBuild() {
		t.Skip("trains a lab seed; too slow under the race detector")
	}
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	suite := indentedBlock(t, doc, "\tname: owl-leak")
	table := indentedBlock(t, doc, "\t| model   |")

	zoo, err := lab.Build(context.Background(), lab.Config{Seeds: []int{1}, CacheDir: labTestCache})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8089")
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			t.Skipf("the example's port 8089 is taken: %v", err)
		}
		t.Fatal(err)
	}
	srv := &http.Server{Handler: zoo.Handler()}
	go srv.Serve(ln)
	defer srv.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "owl.yaml")
	if err := os.WriteFile(path, []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, context.Background(), "run", path, "--db", filepath.Join(dir, "t.db"), "--progress", "none")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, table) {
		t.Errorf("doc.go shows\n%s\nbut the command printed\n%s", table, out)
	}
}

// indentedBlock returns the tab-indented block of doc that starts with
// first, without its indentation.
func indentedBlock(t *testing.T, doc, first string) string {
	t.Helper()
	i := strings.Index(doc, first)
	if i < 0 {
		t.Fatalf("doc.go has no block starting %q", first)
	}
	var lines []string
	for _, line := range strings.Split(doc[i:], "\n") {
		if !strings.HasPrefix(line, "\t") {
			break
		}
		lines = append(lines, strings.TrimPrefix(line, "\t"))
	}
	return strings.Join(lines, "\n") + "\n"
}
