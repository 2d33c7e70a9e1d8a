package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// TestDocExample runs the worked example of doc.go: it serves the lab
// where the example says, runs the example's suite, and checks that the
// rate table the documentation shows is what the command prints.
func TestDocExample(t *testing.T) {
	testtier.Replication(t)
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

	// Not parallel: it sets testRunClients. Seed 1 in soft mode, the
	// shared build of the binary (sharedLab).
	zoo := sharedLab(t, lab.Config{Seeds: []int{1}})
	// The example serves the lab at 127.0.0.1:8089. The test serves it on
	// a free port, so that it runs beside anything else on the machine,
	// and has run's clients dial that port for 127.0.0.1:8089: the base
	// URL is part of every sample key, so the suite must stay as written
	// for the documented numbers to come out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: zoo.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	const documented = "127.0.0.1:8089"
	if !strings.Contains(suite, "http://"+documented+"/v1") {
		t.Fatalf("doc.go's suite does not use the lab's default address %s:\n%s", documented, suite)
	}
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	testRunClients = func(in suites.Instance, key string, _ *http.Client) bench.Client {
		tr := bench.NewTransport(16)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != documented {
				return nil, fmt.Errorf("the doc example dialled %s, not %s", addr, documented)
			}
			return dial(ctx, network, ln.Addr().String())
		}
		return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: &http.Client{Transport: tr}, Timeout: *in.Settings.Timeout})
	}
	t.Cleanup(func() { testRunClients = nil })

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
