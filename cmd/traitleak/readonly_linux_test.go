//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// roMountEnv names the database whose directory TestReadOnlyMount's child
// process mounts read-only over itself; the child runs
// TestReadOnlyMountChild.
const roMountEnv = "TRAITLEAK_TEST_RO_MOUNT"

// TestReadOnlyMount: report, runs, export, gate and compare read a
// database on a read-only mount (before: "unable to open database file",
// exit 3). A child process in its own user and mount namespaces (no root
// needed where unprivileged user namespaces are allowed) bind-mounts the
// database's directory read-only over itself and runs the commands; the
// mount vanishes with the child.
func TestReadOnlyMount(t *testing.T) {
	db := gatedRunDB(t, t.TempDir())
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyMountChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), roMountEnv+"="+db)
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
	if strings.Contains(string(out), "--- SKIP: TestReadOnlyMountChild") {
		t.Skipf("the child could not mount: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadOnlyMountChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestReadOnlyMountChild is TestReadOnlyMount's child; it does nothing
// unless started by it.
func TestReadOnlyMountChild(t *testing.T) {
	db := os.Getenv(roMountEnv)
	if db == "" {
		t.Skip("run by TestReadOnlyMount")
	}
	dir := filepath.Dir(db)
	// Keep the mounts in this namespace, then mount dir read-only.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Skipf("make mounts private: %v", err)
	}
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("the mount is not read-only: write gave %v", err)
	}
	readCommands(t, db)
}
