//go:build linux

package results

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// roDirEnv names the directory TestOpenReadOnlyMount's child mounts
// read-only over itself before running TestOpenReadOnlyMountChild.
const roDirEnv = "TRAITLEAK_TEST_RO_DIR"

// TestOpenReadOnlyMount: on a read-only mount, OpenReadOnly reads a
// cleanly closed database (through immutable=1: SQLite cannot create the
// -shm there) and one whose -wal and -shm survived a crash (mode=ro reads
// the WAL through the existing -shm), and refuses one whose -wal holds
// transactions but whose -shm is gone, since an immutable reader would
// not see them. A child process in new user and mount namespaces does the
// mounting, so no root is needed where user namespaces are allowed.
func TestOpenReadOnlyMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	closedStore(t, filepath.Join(dir, "clean.db"))

	// A writer that has committed a run but not checkpointed (as if
	// killed): its files are copied while it still has them open.
	live := filepath.Join(t.TempDir(), "live.db")
	s, err := Open(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	startRun(t, s, fixture("in-wal", "salt", 1, []string{"p"}, 1, 2))
	if fi, err := os.Stat(live + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the writer's WAL is empty: %v", err)
	}
	for _, c := range []struct{ from, to string }{
		{live, "crashed.db"}, {live + "-wal", "crashed.db-wal"}, {live + "-shm", "crashed.db-shm"},
		{live, "noshm.db"}, {live + "-wal", "noshm.db-wal"},
	} {
		copyFile(t, c.from, filepath.Join(dir, c.to))
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenReadOnlyMountChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), roDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Skipf("cannot start a process in new user and mount namespaces: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP: TestOpenReadOnlyMountChild") {
		t.Skipf("the child could not mount: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOpenReadOnlyMountChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestOpenReadOnlyMountChild is TestOpenReadOnlyMount's child; it does
// nothing unless started by it.
func TestOpenReadOnlyMountChild(t *testing.T) {
	t.Parallel()
	dir := os.Getenv(roDirEnv)
	if dir == "" {
		t.Skip("run by TestOpenReadOnlyMount")
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Skipf("make mounts private: %v", err)
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}
	ctx := context.Background()
	// Open, the writer's way, fails here: this is what read-only opening
	// is for.
	if s, err := Open(ctx, filepath.Join(dir, "clean.db")); err == nil {
		s.Close()
		t.Error("Open (read-write) succeeded on a read-only mount")
	}
	for _, tc := range []struct {
		file, suite, wantErr string
	}{
		{"clean.db", "ro", ""},                                 // immutable: nothing outside the main file
		{"crashed.db", "in-wal", ""},                           // mode=ro through the surviving -shm sees the WAL's run
		{"noshm.db", "", "bytes not yet in the database file"}, // refused, not read stale
	} {
		s, err := OpenReadOnly(ctx, filepath.Join(dir, tc.file))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v; want an error containing %q", tc.file, err, tc.wantErr)
			}
			if s != nil {
				s.Close()
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		runs, err := s.Runs(ctx)
		if err != nil || len(runs) != 1 || runs[0].SuiteName != tc.suite {
			t.Errorf("%s: runs %v, %v; want one of suite %s", tc.file, runs, err, tc.suite)
		}
		s.Close()
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
