package reports

import (
	"os"
	"testing"
)

// TestMain kills the headless Chromium the browser tests share (see
// cdp_test.go) once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedBrowser()
	os.Exit(code)
}
